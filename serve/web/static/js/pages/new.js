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
  if (optional && optional.type === "object") return optionalObject(name, optional, path, value);
  if (optional && optional.type === "array") return array(name, optional, path, value, false);
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
  const values = schema.enum || (schema.const !== undefined ? [schema.const] : null);
  if (values) {
    input = h("select", { id },
      required || (initial !== undefined && initial !== null) ? null : h("option", { value: "", text: "(none)" }),
      values.map((v) => h("option", { value: v, text: v })));
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

// rebalance: one of the named rules, every N trading days, or the k-th trading day of
// chosen months ({"months": [...], "day": k}).
function choice(name, schema, path, value, required) {
  const options = schema.anyOf.map(resolve);
  const names = options.flatMap((o) => o.enum || []);
  const monthsSchema = options.find((o) => o.type === "object");
  const initial = value ?? schema.default;
  const kind = h("select", { id: `f-${path}`, "aria-label": `${path} kind` },
    h("option", { value: "rule", text: "rule" }), h("option", { value: "every", text: "every N trading days" }),
    monthsSchema ? h("option", { value: "months", text: "k-th trading day of chosen months" }) : null);
  const rule = h("select", { "aria-label": `${path} rule` }, names.map((n) => h("option", { value: n, text: n })));
  const every = h("input", { type: "number", min: "1", step: "1", "aria-label": `${path} every N days`, value: 20 });
  const months = monthsSchema ? monthPicker(`${path}.months`, initial && initial.months) : null;
  const day = h("input", { type: "number", min: "1", max: "23", step: "1", "aria-label": `${path} day of month`,
                           value: (initial && initial.day) || 1 });
  const parts = { rule: h("span", {}, rule), every: h("span", {}, every, " days"),
                  months: months ? h("span", { class: "months-rule" }, months.el, h("label", { class: "inline" }, "trading day ", day)) : null };
  if (typeof initial === "number") { kind.value = "every"; every.value = initial; }
  else if (initial && typeof initial === "object") kind.value = "months";
  else if (initial) rule.value = initial;
  const body = h("span", {});
  const draw = () => clear(body).appendChild(parts[kind.value]);
  on(kind, "change", draw);
  draw();
  const read = () => {
    if (kind.value === "rule") return rule.value;
    if (kind.value === "every") return every.value === "" ? undefined : parseInt(every.value, 10);
    return { months: months.read() || [], day: parseInt(day.value || "1", 10) };
  };
  return { el: wrap(name, schema, path, h("span", { class: "choice" }, kind, body), { required }), read };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// Twelve checkboxes; read() gives the chosen month numbers, or undefined when none is.
function monthPicker(path, value) {
  const chosen = new Set(value || []);
  const boxes = MONTHS.map((label, i) => h("input", { type: "checkbox", value: i + 1, checked: chosen.has(i + 1),
                                                      "aria-label": `${path} ${label}` }));
  const el = h("span", { class: "checks months", dataset: { field: path } },
    boxes.map((box, i) => h("label", { class: "check" }, box, MONTHS[i])));
  const read = () => {
    const out = boxes.filter((b) => b.checked).map((b) => Number(b.value));
    return out.length ? out : undefined;
  };
  return { el, read };
}

// A list of fixed choices (universe.exclude): one checkbox each.
function checkList(name, schema, path, value, values) {
  const chosen = new Set(value || []);
  const boxes = values.map((v) => h("input", { type: "checkbox", value: v, checked: chosen.has(v), "aria-label": `${path} ${v}` }));
  const el = h("span", { class: "checks", id: `f-${path}` }, boxes.map((box, i) => h("label", { class: "check" }, box, values[i])));
  const read = () => {
    const out = boxes.filter((b) => b.checked).map((b) => b.value);
    return out.length ? out : undefined;
  };
  return { el: wrap(name, schema, path, el), read };
}

// An optional object (timing): off unless ticked; read() leaves it out when off.
function optionalObject(name, schema, path, value) {
  const enabled = h("input", { type: "checkbox", id: `f-${path}-on`, checked: Boolean(value) });
  const inner = object("", schema, path, value || {}, { bare: true });
  const body = h("div", { class: "optional-body" }, inner.el);
  body.hidden = !value;
  on(enabled, "change", () => { body.hidden = !enabled.checked; });
  const el = h("fieldset", { class: "object optional", dataset: { field: path } },
    h("legend", {}, h("label", { class: "inline" }, enabled, ` ${title(name, schema)}`)),
    schema.description ? h("p", { class: "help", text: schema.description }) : null, body, errorSlot(path));
  return { el, read: () => (enabled.checked ? inner.read() : undefined) };
}

function object(name, schema, path, value, { bare = false } = {}) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const parts = Object.entries(props).map(([key, sub]) =>
    [key, editor(key, sub, path ? `${path}.${key}` : key, (value || {})[key], required.has(key))]);
  const titled = !bare && path && !path.endsWith("]");  // a list row shows its fields only
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
  if (itemSchema.enum) return checkList(name, schema, path, value, itemSchema.enum);
  if (itemSchema.type === "integer" && itemSchema.maximum === 12) {
    const picker = monthPicker(path, value);
    return { el: wrap(name, schema, path, picker.el), read: picker.read };
  }
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
  const toPicks = h("button", { type: "button", id: "spec-picks", text: "Today's picks" });
  const form = h("form", { class: "card builder", id: "builder" }, host,
    h("p", { class: "field-error", dataset: { errorFor: "__form" }, role: "alert" }),
    h("div", { class: "actions" }, toPicks, submit));
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
  on(toPicks, "click", () => {
    sessionStorage.setItem("qbt.picks-spec", JSON.stringify(root.read()));
    location.hash = "#/picks";
  });
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
