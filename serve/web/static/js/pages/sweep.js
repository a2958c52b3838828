// One sweep: a progress bar while it runs, its best variants, and a heatmap of rank_by over
// any two grid dimensions with the others fixed at chosen values.
import * as api from "../api.js";
import { progress, sizeBars } from "./sweeps.js";

const { h, clear, on } = window.QbtDom;
const F = window.QbtFormat;
const C = window.QbtCharts;

function key(value) { return JSON.stringify(value); }

// Variant i's index into each grid field's values: its mixed-radix digits, last field fastest.
function digits(variant, fields, grid) {
  const at = {};
  for (let i = fields.length - 1; i >= 0; i--) {
    const size = grid[fields[i]].length;
    at[fields[i]] = variant % size;
    variant = Math.floor(variant / size);
  }
  return at;
}

export async function render(main, params) {
  const id = encodeURIComponent(params.id);
  const head = h("div", {});
  const ranked = h("div", { class: "card" });
  const mapCard = h("section", { class: "card" });
  main.append(head, ranked, mapCard);
  let timer = null, chart = null;

  async function load() {
    const sweep = await api.get(`/v1/sweeps/${id}`);
    clear(head).append(h("div", { class: "page-head" },
      h("h1", {}, "Sweep ", h("span", { class: `badge ${sweep.status}`, text: sweep.status })),
      h("p", { class: "muted", text: `${sweep.id} · data ${sweep.data_version} · ranked by ${F.statLabel(sweep.rank_by)}` })),
      progress(sweep.n_done, sweep.n_total));
    sizeBars(head);
    clear(ranked).append(h("h3", { text: `Best ${sweep.variants.length} so far by ${F.statLabel(sweep.rank_by)}` }),
      h("table", { class: "grid", id: "ranked-table" },
        h("thead", {}, h("tr", {}, ["#", "Variant", "Grid values", F.statLabel(sweep.rank_by), "Total return", "Max DD", "Run"].map((t) => h("th", { text: t })))),
        h("tbody", {}, sweep.variants.map((v, i) => {
          const s = v.statistics || {};
          return h("tr", {}, h("td", { class: "num", text: i + 1 }), h("td", { class: "num", text: v.variant }),
            h("td", { text: Object.entries(v.overrides).map(([k, x]) => `${k}=${key(x)}`).join(", ") }),
            h("td", { class: "num", text: F.stat(sweep.rank_by, s[sweep.rank_by]) }),
            h("td", { class: "num", text: F.stat("total_return", s.total_return) }),
            h("td", { class: "num", text: F.stat("max_drawdown", s.max_drawdown) }),
            h("td", {}, v.status === "done" ? h("a", { href: `#/runs/${v.run_id}`, text: "open" }) : h("span", { text: v.error || v.status })));
        }))));
    if (sweep.status === "queued" || sweep.status === "running") {
      timer = setTimeout(load, 1500);
    } else {
      await heatmap(sweep);
    }
  }

  async function heatmap(sweep) {
    const all = await api.get(`/v1/sweeps/${id}/variants`);
    const fields = Object.keys(all.grid);
    clear(mapCard);
    if (fields.length < 2) {
      mapCard.append(h("p", { class: "muted", text: "A heatmap needs a grid of at least two fields." }));
      return;
    }
    const pick = (label, idv, value) => {
      const select = h("select", { id: idv, "aria-label": label }, fields.map((f) => h("option", { value: f, text: f })));
      select.value = value;
      return select;
    };
    const xSel = pick("x axis", "heat-x", fields[fields.length - 1]);
    const ySel = pick("y axis", "heat-y", fields[0]);
    const fixedBox = h("div", { class: "fixed" });
    const box = h("div", { class: "chart tall", id: "chart-sweep" });
    mapCard.append(h("h3", { text: "Heatmap" }),
      h("div", { class: "card-tools" }, h("label", { class: "inline" }, "x ", xSel), h("label", { class: "inline" }, "y ", ySel), fixedBox), box);
    chart = window.echarts.init(box);
    const fixed = {};
    const draw = () => {
      const x = xSel.value, y = ySel.value;
      clear(fixedBox);
      for (const f of fields.filter((f) => f !== x && f !== y)) {
        const values = all.grid[f];
        if (!(f in fixed)) fixed[f] = key(values[0]);
        const select = h("select", { "aria-label": `fix ${f}`, dataset: { field: f } },
          values.map((v) => h("option", { value: key(v), text: `${f} = ${key(v)}` })));
        select.value = fixed[f];
        on(select, "change", () => { fixed[f] = select.value; draw(); });
        fixedBox.append(select);
      }
      const xs = all.grid[x], ys = all.grid[y];
      const others = fields.filter((f) => f !== x && f !== y);
      const want = Object.fromEntries(others.map((f) => [f, all.grid[f].findIndex((v) => key(v) === fixed[f])]));
      const cells = [];
      all.values.forEach((value, variant) => {
        const at = digits(variant, fields, all.grid);
        if (!others.every((f) => at[f] === want[f])) return;
        cells.push([at[x], at[y], F.isNum(value) ? value : null]);
      });
      chart.setOption(C.sweepHeatmap({ xField: x, yField: y, xValues: xs.map(key), yValues: ys.map(key),
                                       cells, rankBy: all.rank_by }), true);
    };
    on(xSel, "change", draw);
    on(ySel, "change", draw);
    if (xSel.value === ySel.value) ySel.value = fields.find((f) => f !== xSel.value);
    draw();
  }

  await load();
  return () => { clearTimeout(timer); if (chart) chart.dispose(); };
}
