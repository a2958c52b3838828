// Your sweeps with their progress, and a sweep to submit (its JSON: a base spec, a grid of
// field -> values, the statistic to rank by).
import * as api from "../api.js";

const { h, clear, on } = window.QbtDom;
const F = window.QbtFormat;
const EXAMPLE = {
  base: { start: "2022-01-03", end: "2023-12-28", top_n: 20, rebalance: "monthly",
          ranking: [{ factor: "PBR", ascending: true }, { factor: "MOM_12_1" }] },
  grid: { top_n: [10, 20, 30], rebalance: ["monthly", "quarterly"], "costs.slippage_bps": [0, 10] },
  rank_by: "sharpe",
  top: 10,
};

export function progress(done, total) {
  const share = total ? done / total : 0;
  return h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total,
                    "aria-valuenow": done },
    h("div", { class: "bar", style: null, dataset: { share: share.toFixed(3) } }),
    h("span", { text: `${F.int(done)} / ${F.int(total)}` }));
}

export function sizeBars(root) {
  // widths set through the CSSOM (allowed by the CSP), not through style attributes
  root.querySelectorAll(".progress .bar").forEach((bar) => {
    bar.style.width = `${Math.round(Number(bar.dataset.share) * 100)}%`;
  });
}

export async function render(main) {
  const list = h("div", { class: "card" });
  const text = h("textarea", { id: "sweep-json", rows: 14, spellcheck: "false",
                               value: JSON.stringify(EXAMPLE, null, 2) });
  const error = h("p", { class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", text: "Submit sweep" });
  const form = h("form", { class: "card", id: "sweep-form" }, h("h3", { text: "New sweep" }),
    h("p", { class: "muted", text: "Every combination of the grid's values runs as a variant of the base spec (dotted names reach nested fields)." }),
    text, error, submit);
  main.appendChild(h("div", { class: "page-head" }, h("h1", { text: "Sweeps" })));
  main.appendChild(list);
  main.appendChild(form);
  on(form, "submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    let body;
    try { body = JSON.parse(text.value); } catch (e) { error.textContent = `Not valid JSON: ${e.message}`; return; }
    try {
      const accepted = await api.post("/v1/sweeps", body);
      location.hash = `#/sweeps/${accepted.id}`;
    } catch (e) {
      error.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
    }
  });

  let timer = null;
  async function load() {
    const page = await api.get("/v1/sweeps?limit=20");
    clear(list);
    if (!page.items.length) {
      list.appendChild(h("p", { class: "muted", text: "No sweeps yet." }));
    } else {
      list.appendChild(h("table", { class: "grid", id: "sweeps-table" },
        h("thead", {}, h("tr", {}, ["Submitted", "Status", "Grid", "Rank by", "Progress", ""].map((t) => h("th", { text: t })))),
        h("tbody", {}, page.items.map((s) => h("tr", {},
          h("td", { text: F.dateTime(s.created_at) }), h("td", {}, h("span", { class: `badge ${s.status}`, text: s.status })),
          h("td", { text: Object.entries(s.grid).map(([k, v]) => `${k} × ${v.length}`).join(", ") }),
          h("td", { text: s.rank_by }), h("td", {}, progress(s.n_done, s.n_total)),
          h("td", {}, h("a", { href: `#/sweeps/${s.id}`, text: "open" })))))));
      sizeBars(list);
    }
    const live = page.items.some((s) => s.status === "queued" || s.status === "running");
    timer = live ? setTimeout(load, 2000) : null;
  }
  await load();
  return () => clearTimeout(timer);
}
