// QbtRunView: one finished run drawn into a container: headline numbers, the charts, the
// statistics, holdings per rebalance, warnings, and the spec with its data and engine
// versions. The run page and the offline report both use it.
(function () {
  "use strict";
  const { h, clear, on } = window.QbtDom;
  const F = window.QbtFormat;
  const C = window.QbtCharts;
  const HEADLINE = ["total_return", "cagr", "sharpe", "max_drawdown", "annual_volatility",
                    "information_ratio"];

  function chart(el, option) {
    const instance = window.echarts.init(el, null, { renderer: "canvas" });
    instance.setOption(option);
    return instance;
  }

  const MONTH = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const months = (list) => list.map((m) => MONTH[m - 1]).join(" ");

  function schedule(rule) {
    if (typeof rule === "number") return `every ${rule} days`;
    if (rule && typeof rule === "object") return `trading day ${rule.day} of ${months(rule.months)}`;
    return rule;
  }

  function describe(spec) {
    const terms = spec.ranking.map((t) => `${t.factor}${t.ascending ? " ↑" : ""}${t.weight !== 1 ? " ×" + t.weight : ""}`);
    const parts = [`Top ${spec.top_n} by ${terms.join(" + ")}`, schedule(spec.rebalance), spec.weighting];
    if (spec.hold_buffer) parts.push(`buffer ${spec.hold_buffer}`);
    const universe = spec.universe || {};
    if (universe.preset) parts.push(`${universe.preset} universe`);
    if ((universe.exclude || []).length) parts.push(`no ${universe.exclude.join(", ")}`);
    const timing = spec.timing;
    if (timing) {
      const rules = [];
      if (timing.index) rules.push(`${timing.index} ≥ ${timing.ma_days}-day mean`);
      if (timing.months) rules.push(months(timing.months));
      parts.push(`timing ${rules.join(" and ")}`);
    }
    if (spec.limit_lock === false) parts.push("no limit lock");
    return parts.join(", ");
  }

  const EVENT = {
    delisting_sale: "Delisting sale", stop_exit: "Stop exit", timing_exit: "Timing exit",
    halt_blocked: "Blocked by a halt", lock_blocked: "Blocked by the price limit",
  };

  function eventsSection(result) {
    const events = result.events || [];
    const box = h("section", { class: "card", id: "events" }, h("h3", { text: "Events that touched a holding" }));
    if (!events.length) {
      box.appendChild(h("p", { class: "muted", text: "None: no delisting, halt, price-limit lock, stop or timing exit touched a holding." }));
      return box;
    }
    const counts = {};
    const pnl = {};
    for (const e of events) {
      counts[e.kind] = (counts[e.kind] || 0) + 1;
      if (F.isNum(e.pnl)) pnl[e.kind] = (pnl[e.kind] || 0) + e.pnl;
    }
    box.appendChild(h("div", { class: "event-kinds" }, Object.keys(counts).map((k) =>
      h("span", { class: "badge", text: `${EVENT[k] || k}: ${counts[k]}${k in pnl ? ` · P&L ${F.krw(pnl[k])}` : ""}` }))));
    const stocks = result.stocks || {};
    const shown = events.slice(-200).reverse();
    box.appendChild(h("div", { class: "scroll" }, h("table", { class: "grid events" },
      h("thead", {}, h("tr", {}, ["Date", "Code", "Name", "Event", "Value", "P&L"].map((t) => h("th", { text: t })))),
      h("tbody", {}, shown.map((e) => h("tr", {},
        h("td", { text: F.date(e.date) }), h("td", { class: "code", text: e.code }),
        h("td", { text: (stocks[e.code] || {}).name || "" }), h("td", { text: EVENT[e.kind] || e.kind }),
        h("td", { class: "num", text: F.krw(e.value) }), h("td", { class: "num", text: F.isNum(e.pnl) ? F.krw(e.pnl) : "–" })))))));
    if (events.length > shown.length) box.appendChild(h("p", { class: "muted", text: `The latest ${shown.length} of ${events.length}.` }));
    return box;
  }

  function statsTable(statistics, { benchmark } = {}) {
    const rows = Object.keys(F.STATS).filter((name) => name in statistics).map((name) =>
      h("tr", {}, h("th", { text: F.statLabel(name) }), h("td", { class: "num", text: F.stat(name, statistics[name]) })));
    if (benchmark) rows.unshift(h("tr", {}, h("th", { text: "Benchmark total return" }),
                                  h("td", { class: "num", text: F.pct(benchmark, 2, true) })));
    return h("table", { class: "stats" }, h("tbody", {}, rows));
  }

  function tradeRows(r) {
    // a rebalance's trades (parallel lists) as one object each
    const t = r.trades || {};
    return (t.code || []).map((code, i) => ({ code, side: t.side[i], value: t.value[i], costs: t.costs[i], tax: t.tax[i] }));
  }

  function holdingsSection(result) {
    const box = h("section", { class: "card" }, h("h3", { text: "Holdings per rebalance" }));
    if (!result.rebalances.length) {
      box.appendChild(h("p", { class: "muted", text: "No rebalance in the window." }));
      return box;
    }
    const select = h("select", { "aria-label": "Rebalance day", id: "rebalance-day" },
      result.rebalances.map((r, i) => h("option", { value: i, text: `${F.date(r.date)} · ${r.holdings.length} held` })));
    select.value = String(result.rebalances.length - 1);
    const table = h("div", {});
    const draw = () => {
      const r = result.rebalances[Number(select.value)];
      const trades = tradeRows(r);
      const bought = trades.filter((t) => t.side === "buy").length;
      clear(table).appendChild(h("p", { class: "muted",
        text: `Turnover ${F.pct(r.turnover)}, costs ${F.krw(r.costs)} · ${bought} buys, ${trades.length - bought} sells` }));
      const stocks = result.stocks || {};
      table.appendChild(h("table", { class: "grid holdings" },
        h("thead", {}, h("tr", {}, ["#", "Code", "Name", "Market", "Sector", "Weight"].map((t) => h("th", { text: t })))),
        h("tbody", {}, r.holdings.map((x, i) => {
          const s = stocks[x.code] || {};
          return h("tr", {}, h("td", { class: "num", text: i + 1 }), h("td", { class: "code", text: x.code }),
                   h("td", { text: s.name || "" }), h("td", { text: s.market || "" }),
                   h("td", { text: s.sector || "" }), h("td", { class: "num", text: F.pct(x.weight) }));
        }))));
    };
    const tradesBox = h("details", { class: "trades" });
    const drawTrades = () => {
      const r = result.rebalances[Number(select.value)];
      const trades = tradeRows(r);
      const stocks = result.stocks || {};
      clear(tradesBox).append(h("summary", { text: `Trades of this rebalance (${trades.length})` }),
        h("table", { class: "grid trades" },
          h("thead", {}, h("tr", {}, ["Code", "Name", "Side", "Value", "Commission + slippage", "Tax"].map((t) => h("th", { text: t })))),
          h("tbody", {}, trades.map((t) => h("tr", {},
            h("td", { class: "code", text: t.code }), h("td", { text: (stocks[t.code] || {}).name || "" }),
            h("td", { class: t.side, text: t.side }), h("td", { class: "num", text: F.krw(t.value) }),
            h("td", { class: "num", text: F.krw(t.costs) }), h("td", { class: "num", text: F.krw(t.tax) }))))));
    };
    on(select, "change", () => { draw(); drawTrades(); });
    box.appendChild(h("label", { class: "inline" }, "Rebalance ", select));
    box.appendChild(table);
    box.appendChild(tradesBox);
    draw();
    drawTrades();
    return box;
  }

  function render(container, run) {
    const result = run.result;
    const instances = [];
    clear(container);
    const spec = run.spec;
    const benchmarkName = spec.benchmark;
    const stats = result.statistics;
    const benchmarkEnd = [...result.benchmark_equity].reverse().find(F.isNum);
    const benchmarkTotal = F.isNum(benchmarkEnd) ? benchmarkEnd / spec.initial_capital - 1 : null;

    container.appendChild(h("section", { class: "run-head" },
      h("h1", { text: describe(spec) }),
      h("p", { class: "muted" },
        `${F.date(spec.start)} – ${F.date(spec.end)} · ${spec.universe.markets} · `,
        `initial ${F.krw(spec.initial_capital)} · data ${run.data_version} · engine ${result.engine_version}`)));
    container.appendChild(h("section", { class: "headline" }, HEADLINE.map((name) =>
      h("div", { class: "figure" + (F.isNum(stats[name]) && ["total_return", "cagr"].includes(name) ? (stats[name] >= 0 ? " gain" : " loss") : "") },
        h("span", { class: "label", text: F.statLabel(name) }),
        h("span", { class: "value", text: F.stat(name, stats[name]) }))),
      h("div", { class: "figure" }, h("span", { class: "label", text: benchmarkName + " total return" }),
        h("span", { class: "value", text: F.pct(benchmarkTotal, 2, true) }))));
    if (stats.cash_rebalances) {
      container.appendChild(h("p", { class: "warning", role: "note",
        text: `${stats.cash_rebalances} of ${stats.n_rebalances} rebalance days held cash: no stock was eligible then (a factor without values, or a lookback not yet covered).` }));
    }

    const equityBox = h("div", { class: "chart tall", id: "chart-equity" });
    const logToggle = h("input", { type: "checkbox", id: "log-scale" });
    container.appendChild(h("section", { class: "card" },
      h("div", { class: "card-tools" }, h("label", { class: "inline" }, logToggle, " log scale")), equityBox));
    const charts = [
      ["chart-drawdown", C.underwater(result)],
      ["chart-monthly", C.monthlyHeatmap(result)],
      ["chart-yearly", C.yearlyBars(result, { benchmarkName })],
      ["chart-sharpe", C.rollingSharpeLine(result)],
    ];
    const exposure = result.exposure || [];  // none in results of engines before 2.0
    if (exposure.length) charts.push(["chart-exposure", C.exposureLine(result)]);
    const row = h("section", { class: "chart-grid" });
    container.appendChild(row);
    const boxes = charts.map(([id]) => {
      const box = h("div", { class: "chart", id });
      row.appendChild(h("div", { class: "card" }, box));
      return box;
    });
    const equityChart = chart(equityBox, C.equity(result, { benchmarkName }));
    instances.push(equityChart);
    on(logToggle, "change", () => equityChart.setOption(C.equity(result, { benchmarkName, log: logToggle.checked }), true));
    charts.forEach(([, option], i) => instances.push(chart(boxes[i], option)));

    container.appendChild(h("section", { class: "two" },
      h("div", { class: "card" }, h("h3", { text: "Statistics" }), statsTable(stats, { benchmark: benchmarkTotal })),
      holdingsSection(result)));
    container.appendChild(eventsSection(result));
    container.appendChild(h("section", { class: "card" }, h("h3", { text: "The spec that ran" }),
      h("p", { class: "muted", text: `run ${run.id} · data version ${run.data_version} · engine ${result.engine_version}` }),
      h("pre", { class: "spec", text: JSON.stringify(spec, null, 2) })));

    const resize = () => instances.forEach((c) => c.resize());
    window.addEventListener("resize", resize);
    return { instances, dispose() { window.removeEventListener("resize", resize); instances.forEach((c) => c.dispose()); } };
  }

  window.QbtRunView = { render, statsTable, describe };
})();
