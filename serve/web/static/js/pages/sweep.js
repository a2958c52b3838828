// One sweep: a progress bar while it runs, its best variants, a heatmap of rank_by over any
// two grid dimensions with the others fixed at chosen values, and once it is analysed the
// overfitting panel (deflated Sharpe ratio, PBO, the robust choice) and the walk-forward
// panel (stitched out-of-sample equity, the folds).
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
  const luckCard = h("section", { class: "card", id: "overfitting" });
  const walkCard = h("section", { class: "card", id: "walk-forward" });
  main.append(head, ranked, luckCard, walkCard, mapCard);
  let timer = null, chart = null, walkChart = null;

  async function load() {
    const sweep = await api.get(`/v1/sweeps/${id}`);
    clear(head).append(h("div", { class: "page-head" },
      h("h1", {}, "Sweep ", h("span", { class: `badge ${sweep.status}`, text: sweep.status })),
      h("p", { class: "muted", text: `${sweep.id} · data ${sweep.data_version} · ranked by ${F.statLabel(sweep.rank_by)}` })),
      progress(sweep.n_done, sweep.n_total));
    sizeBars(head);
    clear(ranked).append(h("h3", { text: `Best ${sweep.variants.length}${sweep.status === "queued" || sweep.status === "running" ? " so far" : ""} by ${F.statLabel(sweep.rank_by)}` }),
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
      const analysing = sweep.n_done === sweep.n_total && sweep.status === "running";
      clear(luckCard).append(h("p", { class: "muted live", text: analysing
        ? "Every variant ended: computing the overfitting statistics and walk-forward…"
        : "The overfitting statistics and walk-forward come once every variant has ended." }));
      timer = setTimeout(load, 1500);
    } else {
      overfitting(sweep);
      walkForward(sweep);
      await heatmap(sweep);
    }
  }

  function variantLink(variant, overrides) {
    const text = `variant ${variant} (${Object.entries(overrides || {}).map(([k, x]) => `${k}=${key(x)}`).join(", ")})`;
    return h("span", { text });
  }

  function overfitting(sweep) {
    const o = sweep.overfitting;
    clear(luckCard).append(h("h3", { text: "How much of the best is luck" }));
    if (!o) {
      luckCard.append(h("p", { class: "muted", text: "No overfitting statistics for this sweep." }));
    } else {
      const dsr = o.deflated_sharpe, pbo = o.pbo;
      const verdict = !F.isNum(dsr) ? "" : dsr >= 0.95
        ? "The best variant's Sharpe ratio is unlikely to be luck alone (DSR ≥ 0.95)."
        : dsr >= 0.5 ? "The best variant's edge is uncertain once the number of trials is accounted for."
        : "The best variant's Sharpe ratio is what the best of this many unskilled trials would reach: mostly luck.";
      const tile = (label, value, note, idv) => h("div", { class: "tile", id: idv },
        h("div", { class: "tile-label", text: label }), h("div", { class: "tile-value", text: value }),
        h("div", { class: "muted small", text: note }));
      luckCard.append(
        h("div", { class: "tiles" },
          tile("Deflated Sharpe ratio", F.isNum(dsr) ? F.pct(dsr, 1) : "n/a",
               `probability the true Sharpe exceeds SR0 = ${F.num(o.expected_max_sharpe, 2)}`, "dsr"),
          tile("Probabilistic Sharpe ratio", F.isNum(o.probabilistic_sharpe) ? F.pct(o.probabilistic_sharpe, 1) : "n/a",
               "probability it exceeds 0 (one trial)", "psr"),
          tile("PBO", F.isNum(pbo) ? F.pct(pbo, 1) : "n/a",
               `in-sample best below the out-of-sample median (CSCV, ${o.pbo_blocks} blocks)`, "pbo"),
          tile("Trials × days", `${o.n_trials.toLocaleString()} × ${o.n_obs}`,
               `variance of daily Sharpe ratios ${F.isNum(o.sharpe_variance) ? o.sharpe_variance.toExponential(2) : "n/a"}`, "trials")),
        h("p", { id: "luck-verdict", text: verdict }),
        h("table", { class: "grid", id: "robust-table" },
          h("thead", {}, h("tr", {}, ["", "Variant", F.statLabel(sweep.rank_by), "Neighbourhood median"].map((t) => h("th", { text: t })))),
          h("tbody", {},
            h("tr", {}, h("td", { text: "Best" }), h("td", {}, variantLink(o.best_variant, o.best_overrides)),
              h("td", { class: "num", text: F.stat(sweep.rank_by, o.best_value) }),
              h("td", { class: "num", text: F.stat(sweep.rank_by, o.best_neighbourhood_median) })),
            o.robust_variant === null ? null : h("tr", {}, h("td", { text: "Robust choice" }),
              h("td", {}, variantLink(o.robust_variant, o.robust_overrides)),
              h("td", { class: "num", text: F.stat(sweep.rank_by, o.robust_value) }),
              h("td", { class: "num", text: F.stat(sweep.rank_by, o.robust_neighbourhood_median) })))),
        h("p", { class: "muted small", text: "Neighbourhood: the variants one step away along one grid dimension. The robust choice is the variant whose neighbours do best: a plateau, not a peak." }));
    }
    for (const error of sweep.analysis_errors || []) {
      luckCard.append(h("p", { class: "muted small", text: `Not computed: ${error}` }));
    }
  }

  function walkForward(sweep) {
    const wf = sweep.walk_forward;
    clear(walkCard);
    if (!wf) {
      walkCard.append(h("h3", { text: "Walk-forward" }), h("p", { class: "muted",
        text: 'Not asked for. Add "validation": {"walk_forward": {"train_days": 252, "test_days": 63}} to the sweep to re-choose the best variant in sample and run it out of sample, fold after fold.' }));
      return;
    }
    const s = wf.statistics;
    const box = h("div", { class: "chart", id: "chart-walk-forward" });
    walkCard.append(h("h3", { text: `Walk-forward: ${wf.folds.length} folds of ${wf.train_days} days in sample, ${wf.test_days} out` }),
      h("p", { id: "walk-summary", text: `Out of sample ${wf.dates[0]} … ${wf.dates[wf.dates.length - 1]}: total return ${F.stat("total_return", s.total_return)}, CAGR ${F.stat("cagr", s.cagr)}, Sharpe ${F.stat("sharpe", s.sharpe)}, max drawdown ${F.stat("max_drawdown", s.max_drawdown)}. Mean ${F.statLabel(wf.rank_by)} in sample ${F.stat(wf.rank_by, wf.in_sample_mean)}, out of sample ${F.stat(wf.rank_by, wf.out_of_sample_mean)}.` }),
      box,
      h("table", { class: "grid", id: "folds-table" },
        h("thead", {}, h("tr", {}, ["Fold", "In sample", "Out of sample", "Chosen variant", `${F.statLabel(wf.rank_by)} in`, `${F.statLabel(wf.rank_by)} out`, "Equity at end"].map((t) => h("th", { text: t })))),
        h("tbody", {}, wf.folds.map((f) => h("tr", {},
          h("td", { class: "num", text: f.fold }),
          h("td", { text: `${f.train_start} … ${f.train_end}` }),
          h("td", { text: `${f.test_start} … ${f.test_end}` }),
          h("td", {}, variantLink(f.variant, f.overrides)),
          h("td", { class: "num", text: F.stat(wf.rank_by, f.in_sample) }),
          h("td", { class: "num", text: F.stat(wf.rank_by, f.out_of_sample) }),
          h("td", { class: "num", text: F.krw(f.end_equity) }))))));
    walkChart = window.echarts.init(box);
    walkChart.setOption(C.equity(wf, { benchmarkName: "Benchmark" }), true);
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
  return () => { clearTimeout(timer); if (chart) chart.dispose(); if (walkChart) walkChart.dispose(); };
}
