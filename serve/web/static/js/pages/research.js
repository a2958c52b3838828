// Factor research (POST /v1/factor-reports): which factors predict returns, at which
// horizon, and how they overlap. A form queues a report; #/research?id=ID shows it: the
// factors by mean IC and IR per horizon (click a header to sort), IC decay across horizons,
// a chosen factor's quantile returns and cumulative top-minus-bottom spread, and the
// correlation heatmap.
import * as api from "../api.js";

const { h, clear, on } = window.QbtDom;
const F = window.QbtFormat;
const C = window.QbtCharts;

function form(main) {
  const factors = h("input", { id: "report-factors", placeholder: "all factors", "aria-label": "factors" });
  const start = h("input", { id: "report-start", type: "date", "aria-label": "start" });
  const end = h("input", { id: "report-end", type: "date", "aria-label": "end" });
  const horizons = h("input", { id: "report-horizons", value: "1,5,21,63", "aria-label": "horizons" });
  const neutral = h("input", { id: "report-neutral", type: "checkbox" });
  const go = h("button", { type: "submit", class: "primary", id: "run-report", text: "Run the report" });
  const error = h("p", { class: "field-error", role: "alert", id: "report-error" });
  const card = h("form", { class: "card", id: "report-form" },
    h("div", { class: "card-tools" },
      h("label", { class: "inline" }, "Factors ", factors),
      h("label", { class: "inline" }, "From ", start), h("label", { class: "inline" }, "to ", end),
      h("label", { class: "inline" }, "Horizons ", horizons),
      h("label", { class: "inline" }, neutral, " sector-neutral")),
    error, h("div", { class: "actions" }, go));
  on(card, "submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = {
      horizons: horizons.value.split(",").map((x) => Number(x.trim())).filter((x) => x),
      sector_neutral: neutral.checked,
    };
    const names = factors.value.split(",").map((x) => x.trim()).filter(Boolean);
    if (names.length) body.factors = names;
    if (start.value) body.start = start.value;
    if (end.value) body.end = end.value;
    go.disabled = true;
    try {
      const accepted = await api.post("/v1/factor-reports", body);
      location.hash = `#/research?id=${accepted.id}`;
    } catch (err) {
      error.textContent = err.message || String(err);
      go.disabled = false;
    }
  });
  main.append(card);
}

function sortable(report) {
  const rows = {};
  for (const r of report.ic_summary) rows[`${r.factor}|${r.horizon}`] = r;
  const coverage = Object.fromEntries(report.coverage.map((c) => [c.factor, c.share]));
  const columns = [{ label: "Factor", key: (f) => f, text: (f) => f },
                   { label: "Coverage", key: (f) => coverage[f], text: (f) => F.pct(coverage[f], 1) }];
  for (const hz of report.horizons) {
    columns.push({ label: `IC ${hz}d`, key: (f) => rows[`${f}|${hz}`].mean_ic, text: (f) => F.num(rows[`${f}|${hz}`].mean_ic, 4) });
    columns.push({ label: `IR ${hz}d`, key: (f) => rows[`${f}|${hz}`].ic_ir, text: (f) => F.num(rows[`${f}|${hz}`].ic_ir, 3) });
  }
  let by = 3, descending = true;  // IR at the first horizon
  const body = h("tbody", {});
  const draw = () => {
    const value = (f) => columns[by].key(f);
    const names = [...report.factors].sort((a, b) => {
      const x = value(a), y = value(b);
      if (typeof x === "string") return descending ? y.localeCompare(x) : x.localeCompare(y);
      const xs = F.isNum(x) ? (by >= 2 ? Math.abs(x) : x) : -Infinity;
      const ys = F.isNum(y) ? (by >= 2 ? Math.abs(y) : y) : -Infinity;
      return descending ? ys - xs : xs - ys;
    });
    clear(body).append(...names.map((f) => h("tr", { dataset: { factor: f } },
      columns.map((c, i) => h("td", { class: i ? "num" : "code", text: c.text(f) })))));
  };
  const head = h("tr", {}, columns.map((c, i) => {
    const th = h("th", { class: i ? "num sortable" : "sortable", text: c.label, title: "sort" });
    on(th, "click", () => { descending = by === i ? !descending : true; by = i; draw(); });
    return th;
  }));
  draw();
  return h("table", { class: "grid", id: "ic-table" }, h("thead", {}, head), body);
}

function show(main, report, charts) {
  const best = [...report.ic_summary].filter((r) => r.horizon === report.horizons[0] && F.isNum(r.ic_ir))
    .sort((a, b) => Math.abs(b.ic_ir) - Math.abs(a.ic_ir)).map((r) => r.factor);
  const chosen = h("select", { id: "report-factor", "aria-label": "factor" },
    report.factors.map((f) => h("option", { value: f, text: f })));
  chosen.value = best[0] || report.factors[0];
  const horizon = h("select", { id: "report-horizon", "aria-label": "horizon" },
    report.horizons.map((x) => h("option", { value: x, text: x === 1 ? "1 day" : `${x} days` })));
  const boxes = Object.fromEntries(["decay", "quantiles", "spread", "correlation"].map((k) =>
    [k, h("div", { class: k === "correlation" ? "chart tall" : "chart", id: `chart-${k}` })]));
  main.append(
    h("section", { class: "card" }, h("h3", { text: "Factors by IC (|IR| at the first horizon first; click a header to sort)" }),
      h("div", { class: "scroll" }, sortable(report))),
    h("section", { class: "card" }, boxes.decay),
    h("section", { class: "card" }, h("div", { class: "card-tools" },
      h("label", { class: "inline" }, "Factor ", chosen), h("label", { class: "inline" }, "Spread horizon ", horizon)),
      boxes.quantiles, boxes.spread),
    h("section", { class: "card" }, boxes.correlation));
  boxes.correlation.style.height = `${Math.max(360, 170 + 12 * report.factors.length)}px`;
  for (const [k, box] of Object.entries(boxes)) charts[k] = window.echarts.init(box);
  charts.decay.setOption(C.icDecay(report, best.slice(0, 5)), true);
  charts.correlation.setOption(C.correlationHeatmap(report), true);
  const drawFactor = () => {
    charts.quantiles.setOption(C.quantileBars(report, chosen.value), true);
    charts.spread.setOption(C.spreadLine(report, chosen.value, Number(horizon.value)), true);
  };
  on(chosen, "change", drawFactor);
  on(horizon, "change", drawFactor);
  drawFactor();
}

export async function render(main, params) {
  const charts = {};
  let timer = null;
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Factor research" }),
    h("p", { class: "muted", text: "Daily Spearman IC of each factor with the forward return, quantile returns, rank autocorrelation and the factors' correlation, for every factor at once." })));
  form(main);
  if (!params.id) return () => {};
  const status = h("div", { class: "card", id: "report-status" });
  const out = h("div", { id: "report-out" });
  main.append(status, out);
  const load = async () => {
    const report = await api.get(`/v1/factor-reports/${encodeURIComponent(params.id)}`);
    if (report.status === "queued" || report.status === "running") {
      clear(status).append(h("p", { class: "live" }, h("span", { class: `badge ${report.status}`, text: report.status }),
        ` report ${report.id} · computing on the cluster…`));
      timer = setTimeout(load, 1000);
      return;
    }
    if (report.status !== "done") {
      clear(status).append(h("p", { class: "field-error", role: "alert", text: report.error || report.status }));
      return;
    }
    const r = report.result;
    clear(status).append(h("p", { class: "muted" }, h("span", { class: "badge done", text: "done" }),
      ` ${r.factors.length} factors × ${r.horizons.length} horizons · ${r.start} … ${r.end} (${r.n_days} days) · data ${r.data_version}`
      + (r.sector_neutral ? " · sector-neutral" : "")));
    show(out, r, charts);
  };
  await load();
  return () => { clearTimeout(timer); for (const c of Object.values(charts)) c.dispose(); };
}
