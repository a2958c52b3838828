// The strategy builder, generated from StrategySpec's JSON schema (GET /openapi.json): every
// field with its description, defaults filled in, the API's 4xx error shown next to the
// field it names; load and save the spec as JSON.
import * as api from "../api.js";

const { h, clear, on, download } = window.QbtDom;
const EXAMPLE = {
  start: "2022-01-03", end: "2023-12-28",
  universe: { markets: "both", min_market_cap: 50000000000, min_avg_trading_value: 500000000 },
  filters: [{ factor: "PER", min: 0, max: 30 }],
  ranking: [{ factor: "PBR", weight: 1, ascending: true }, { factor: "MOM_12_1", weight: 1 }],
  top_n: 20, weighting: "equal", rebalance: "monthly",
  costs: { commission_bps: 1.5, slippage_bps: 10 },
};
let schemas = {};
let factorNames = [];

function resolve(schema) {
  while (schema && schema.$ref) schema = schemas[schema.$ref.split("/").pop()];
  return schema || {};
}

function nullable(schema) {
  const options = schema.anyOf || [];
  const rest = options.filter((o) => o.type !== "null");
  return options.length && rest.length < options.length ? { ...schema, ...resolve(rest[0]), anyOf: undefined, nullable: true } : null;
}

function title(name, schema) { return schema.title || name; }

function errorSlot(path) { return h("p", { class: "field-error", dataset: { errorFor: path } }); }

function wrap(name, schema, path, control, { required } = {}) {
  return h("div", { class: "field", dataset: { field: path } },
    h("label", { for: `f-${path}`, text: `${title(name, schema)}${required ? "" : ""}` }),
    control,
    schema.description ? h("p", { class: "help", text: schema.description }) : null,
    errorSlot(path));
}

// Each editor returns { el, read } where read() gives the JSON value, or undefined to leave
// the field out (the server's default applies).
function editor(name, schemaIn, path, value, required) {
  const schema = resolve(schemaIn);
  const optional = nullable(schemaIn);
  if (optional) return primitive(name, optional, path, value, false);
  if (schemaIn.oneOf) return union(name, schemaIn, path, value);
  if (schemaIn.anyOf) return choice(name, schemaIn, path, value, required);
  if (schema.type === "object") return object(name, schema, path, value);
  if (schema.type === "array") return array(name, schema, path, value, required);
  return primitive(name, schema, path, value, required);
}

function primitive(name, schema, path, value, required) {
  const id = `f-${path}`;
  const initial = value !== undefined ? value : schema.default;
  let input, read;
  if (schema.enum) {
    input = h("select", { id },
      required || initial !== undefined ? null : h("option", { value: "", text: "(default)" }),
      schema.enum.map((v) => h("option", { value: v, text: v })));
    if (initial !== undefined && initial !== null) input.value = initial;
    read = () => (input.value === "" ? undefined : input.value);
  } else if (schema.type === "boolean") {
    input = h("input", { id, type: "checkbox", checked: Boolean(initial) });
    read = () => input.checked;
  } else if (schema.type === "number" || schema.type === "integer") {
    input = h("input", { id, type: "number", step: schema.type === "integer" ? "1" : "any",
                         value: initial ?? "", placeholder: schema.nullable ? "no limit" : "" });
    read = () => {
      if (input.value === "") return schema.nullable ? null : undefined;
      return schema.type === "integer" ? parseInt(input.value, 10) : Number(input.value);
    };
  } else {
    const isDate = schema.format === "date";
    const list = name === "factor" ? "factor-names" : undefined;
    input = h("input", { id, type: isDate ? "date" : "text", value: initial ?? "", list,
                         autocomplete: "off", spellcheck: "false" });
    read = () => (input.value.trim() === "" ? (schema.nullable ? null : undefined) : input.value.trim());
  }
  return { el: wrap(name, schema, path, input, { required }), read };
}

function choice(name, schema, path, value, required) {
  // e.g. rebalance: one of the named rules, or every N trading days
  const names = schema.anyOf.flatMap((o) => resolve(o).enum || []);
  const id = `f-${path}`;
  const input = h("input", { id, type: "text", list: `${id}-list`, value: value ?? schema.default ?? "" });
  const options = h("datalist", { id: `${id}-list` }, names.map((n) => h("option", { value: n })));
  const read = () => {
    const text = input.value.trim();
    if (text === "") return undefined;
    return /^\d+$/.test(text) ? parseInt(text, 10) : text;
  };
  return { el: wrap(name, schema, path, h("span", {}, input, options), { required }), read };
}

function object(name, schema, path, value) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const parts = Object.entries(props).map(([key, sub]) =>
    [key, editor(key, sub, path ? `${path}.${key}` : key, (value || {})[key], required.has(key))]);
  const titled = path && !path.endsWith("]");  // a row of a list shows its fields only
  const el = h("fieldset", { class: "object", dataset: { field: path } },
    titled ? h("legend", { text: title(name, schema) }) : null,
    titled && schema.description ? h("p", { class: "help", text: schema.description }) : null,
    parts.map(([, e]) => e.el), path ? errorSlot(path) : null);
  const read = () => {
    const out = {};
    for (const [key, e] of parts) {
      const v = e.read();
      if (v !== undefined) out[key] = v;
    }
    return out;
  };
  return { el, read };
}

function union(name, schema, path, value) {
  const kinds = schema.oneOf.map((o) => [o.$ref.split("/").pop(), resolve(o)]);
  const guess = value && ("top_pct" in value || "bottom_pct" in value) ? 1 : 0;
  const select = h("select", { "aria-label": `${path} kind` },
    kinds.map(([n, s], i) => h("option", { value: i, text: (s.title || n).replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase() })));
  select.value = String(guess);
  const body = h("div", {});
  let current = null;
  const draw = (v) => {
    current = object("", kinds[Number(select.value)][1], path, v);
    clear(body).appendChild(current.el);
  };
  on(select, "change", () => draw({ factor: (current.read() || {}).factor }));
  draw(value);
  return { el: h("div", { class: "union" }, select, body), read: () => current.read() };
}

function array(name, schema, path, value, required) {
  const items = schema.items || {};
  const itemSchema = resolve(items);
  if (itemSchema.type === "string" && !items.oneOf) {
    const input = h("input", { id: `f-${path}`, type: "text", value: (value || []).join(", "),
                               placeholder: "comma separated" });
    const read = () => {
      const list = input.value.split(",").map((x) => x.trim()).filter(Boolean);
      return list.length ? list : undefined;
    };
    return { el: wrap(name, schema, path, input), read };
  }
  const rows = [];
  const list = h("div", { class: "rows" });
  const add = h("button", { type: "button", class: "ghost", text: `+ Add ${title(name, schema).replace(/s$/, "").toLowerCase()}` });
  const renumber = () => rows.forEach((row, i) => { row.index = i; });
  const addRow = (v) => {
    const row = { index: rows.length };
    const remove = h("button", { type: "button", class: "ghost small", text: "Remove" });
    row.editor = editor(name, items, `${path}[${row.index}]`, v, true);
    row.el = h("div", { class: "row" }, row.editor.el, remove);
    on(remove, "click", () => { rows.splice(rows.indexOf(row), 1); row.el.remove(); renumber(); });
    rows.push(row);
    list.appendChild(row.el);
  };
  (value || []).forEach(addRow);
  if (!rows.length && required && (schema.minItems || 0) > 0) addRow(undefined);
  on(add, "click", () => addRow(undefined));
  const el = h("fieldset", { class: "array", dataset: { field: path } },
    h("legend", { text: title(name, schema) }),
    schema.description ? h("p", { class: "help", text: schema.description }) : null, list, add, errorSlot(path));
  const read = () => {
    const out = rows.map((r) => r.editor.read()).filter((v) => v !== undefined);
    return out.length || required ? out : undefined;
  };
  return { el, read };
}

function showError(form, error) {
  form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
  form.querySelectorAll(".invalid").forEach((e) => e.classList.remove("invalid"));
  let field = error.field || "";
  let slot = null;
  while (field && !(slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`))) {
    field = field.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
  }
  slot = slot || form.querySelector('[data-error-for="__form"]');
  slot.textContent = error.message;
  const holder = slot.closest(".field, fieldset");
  if (holder) { holder.classList.add("invalid"); holder.scrollIntoView({ block: "center" }); }
}

export async function render(main) {
  const [openapi, factors] = await Promise.all([api.get("/openapi.json"), api.get("/v1/factors")]);
  schemas = openapi.components.schemas;
  factorNames = factors.map((f) => f.name);
  const host = h("div", {});
  const file = h("input", { type: "file", accept: "application/json,.json", id: "load-spec", class: "hidden-file" });
  const load = h("button", { type: "button", text: "Load spec JSON…" });
  const save = h("button", { type: "button", id: "save-spec", text: "Save spec JSON" });
  const example = h("button", { type: "button", id: "load-example", text: "Example" });
  const submit = h("button", { type: "submit", class: "primary", id: "submit-spec", text: "Run backtest" });
  const form = h("form", { class: "card builder", id: "builder" }, host,
    h("p", { class: "field-error", dataset: { errorFor: "__form" }, role: "alert" }),
    h("div", { class: "actions" }, submit));
  main.append(h("div", { class: "page-head" }, h("h1", { text: "New backtest" }),
    h("div", { class: "actions" }, example, load, save, file)),
    h("datalist", { id: "factor-names" }, factorNames.map((n) => h("option", { value: n }))), form);
  let root = null;
  const draw = (value) => { root = object("", resolve({ $ref: "#/components/schemas/StrategySpec" }), "", value); clear(host).appendChild(root.el); };
  draw(EXAMPLE);
  on(example, "click", () => draw(EXAMPLE));
  on(load, "click", () => file.click());
  on(file, "change", async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    try { draw(JSON.parse(await chosen.text())); } catch (e) { showError(form, { message: `${chosen.name}: not valid JSON (${e.message})` }); }
    file.value = "";
  });
  on(save, "click", () => download("strategy.json", new Blob([JSON.stringify(root.read(), null, 2)], { type: "application/json" })));
  on(form, "submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const accepted = await api.post("/v1/backtests", root.read());
      location.hash = `#/runs/${accepted.id}`;
    } catch (error) {
      showError(form, error);
    } finally {
      submit.disabled = false;
    }
  });
}
