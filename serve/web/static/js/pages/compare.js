// 2-5 runs side by side: their growth of 1 overlaid, their statistics in columns.
import * as api from "../api.js";

const { h, on } = window.QbtDom;
const F = window.QbtFormat;
const C = window.QbtCharts;

async function picker(main, already) {
  const page = await api.get("/v1/backtests?limit=50&status=done");
  const chosen = new Set(already);
  const go = h("button", { type: "button", class: "primary", id: "compare-go", text: "Compare", disabled: chosen.size < 2 });
  main.appendChild(h("div", { class: "page-head" }, h("h1", { text: "Compare runs" }), h("div", { class: "actions" }, go)));
  main.appendChild(h("p", { class: "muted", text: "Pick 2 to 5 finished runs." }));
  main.appendChild(h("div", { class: "card" }, h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, ["", "Finished", "Total return", "Sharpe", "Run"].map((t) => h("th", { text: t })))),
    h("tbody", {}, page.items.map((run) => {
      const box = h("input", { type: "checkbox", checked: chosen.has(run.id), "aria-label": `pick ${run.id}` });
      on(box, "change", () => {
        box.checked ? chosen.add(run.id) : chosen.delete(run.id);
        go.disabled = chosen.size < 2 || chosen.size > 5;
      });
      return h("tr", {}, h("td", {}, box), h("td", { text: F.dateTime(run.finished_at) }),
        h("td", { class: "num", text: F.stat("total_return", (run.statistics || {}).total_return) }),
        h("td", { class: "num", text: F.stat("sharpe", (run.statistics || {}).sharpe) }),
        h("td", { class: "code", text: run.id.slice(0, 8) }));
    })))));
  on(go, "click", () => { location.hash = `#/compare?ids=${[...chosen].join(",")}`; });
}

export async function render(main, params) {
  const ids = (params.ids || "").split(",").filter(Boolean).slice(0, 5);
  if (ids.length < 2) return picker(main, ids);
  const runs = await Promise.all(ids.map((id) => api.get(`/v1/backtests/${encodeURIComponent(id)}`)));
  const ready = runs.filter((r) => r.status === "done" && r.result);
  ready.forEach((r, i) => { r.label = `${i + 1}. ${window.QbtRunView.describe(r.spec).slice(0, 48)}`; });
  main.appendChild(h("div", { class: "page-head" }, h("h1", { text: `Comparing ${ready.length} runs` }),
    h("div", { class: "actions" }, h("a", { class: "button", href: "#/compare", text: "Change runs" }))));
  const box = h("div", { class: "chart tall", id: "chart-compare" });
  const log = h("input", { type: "checkbox", id: "compare-log" });
  main.appendChild(h("section", { class: "card" },
    h("div", { class: "card-tools" }, h("label", { class: "inline" }, log, " log scale")), box));
  const chart = window.echarts.init(box);
  chart.setOption(C.comparison(ready));
  on(log, "change", () => chart.setOption(C.comparison(ready, { log: log.checked }), true));
  const names = Object.keys(F.STATS).filter((n) => ready.every((r) => n in r.result.statistics));
  main.appendChild(h("section", { class: "card" }, h("h3", { text: "Statistics" }),
    h("table", { class: "grid compare", id: "compare-table" },
      h("thead", {}, h("tr", {}, h("th", { text: "" }), ready.map((r) => h("th", {},
        h("a", { href: `#/runs/${r.id}`, text: r.label }))))),
      h("tbody", {}, names.map((name) => h("tr", {}, h("th", { text: F.statLabel(name) }),
        ready.map((r) => h("td", { class: "num", text: F.stat(name, r.result.statistics[name]) }))))))));
  const resize = () => chart.resize();
  window.addEventListener("resize", resize);
  return () => { window.removeEventListener("resize", resize); chart.dispose(); };
}
