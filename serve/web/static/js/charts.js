// QbtCharts: a backtest result (BacktestResult JSON) -> Apache ECharts options. Pure
// functions of the data; the run page, the comparison, the sweep page and the report all
// draw with these. Gains are red and losses blue, as Korean market screens show them.
(function () {
  "use strict";
  const F = window.QbtFormat;
  const STRATEGY = "#1f5fbf", BENCHMARK = "#8c96a3", GAIN = "#d1343f", LOSS = "#1f63c6";
  const PALETTE = [STRATEGY, "#d1343f", "#2f9e44", "#e8890c", "#7b3fbf"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const TRADING_DAYS = 252;
  // Tooltips drawn as rich text on the canvas, never as HTML: grid values, names and labels
  // come from users and data.
  const TIP = { renderMode: "richText", confine: true };

  function base(title) {
    return {
      animation: false,
      title: title ? { text: title, left: 0, top: 0, textStyle: { fontSize: 14, fontWeight: 600 } } : undefined,
      grid: { left: 64, right: 24, top: 44, bottom: 56, containLabel: false },
      textStyle: { fontFamily: "'Noto Sans KR', 'NanumGothic', 'Apple SD Gothic Neo', sans-serif" },
    };
  }
  function tight(log) {
    // a log axis ignores `scale`: bound it by the data, or it spans whole decades
    return log ? { min: (v) => v.min * 0.97, max: (v) => v.max * 1.03, logBase: 10 } : {};
  }
  function zoom() {
    return [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }];
  }

  // -- derived series ---------------------------------------------------------------------

  function drawdown(equity, initial) {
    let peak = initial;
    return equity.map((e) => { peak = Math.max(peak, e); return e / peak - 1; });
  }

  function monthEnds(dates, values, initial) {
    // [{year, month, ret}] from the last value of each month against the previous month's
    const out = [];
    let previous = initial, key = null, last = null;
    for (let i = 0; i < dates.length; i++) {
      const k = dates[i].slice(0, 7);
      if (key !== null && k !== key) { out.push(row(key, last, previous)); previous = last; }
      key = k; last = values[i];
    }
    if (key !== null) out.push(row(key, last, previous));
    return out.filter((r) => r.ret !== null);
    function row(k, value, before) {
      const ok = F.isNum(value) && F.isNum(before) && before > 0;
      return { year: Number(k.slice(0, 4)), month: Number(k.slice(5, 7)),
               ret: ok ? value / before - 1 : null };
    }
  }

  function monthly(result) {
    return monthEnds(result.dates, result.equity, result.spec.initial_capital);
  }

  function yearly(result) {
    const initial = result.spec.initial_capital;
    const years = [], strategy = [], benchmark = [];
    let prevS = initial, prevB = initial, year = null, lastS = null, lastB = null;
    const close = () => {
      years.push(String(year));
      strategy.push(lastS / prevS - 1);
      benchmark.push(F.isNum(lastB) && F.isNum(prevB) ? lastB / prevB - 1 : null);
      prevS = lastS; prevB = lastB;
    };
    result.dates.forEach((d, i) => {
      const y = Number(d.slice(0, 4));
      if (year !== null && y !== year) close();
      year = y; lastS = result.equity[i]; lastB = result.benchmark_equity[i];
    });
    if (year !== null) close();
    return { years, strategy, benchmark };
  }

  function rollingSharpe(result, window) {
    const r = result.returns.map((x) => (F.isNum(x) ? x : 0));
    const out = new Array(r.length).fill(null);
    let sum = 0, sumSq = 0;
    for (let i = 0; i < r.length; i++) {
      sum += r[i]; sumSq += r[i] * r[i];
      if (i >= window) { sum -= r[i - window]; sumSq -= r[i - window] * r[i - window]; }
      if (i >= window - 1) {
        const mean = sum / window, variance = (sumSq - window * mean * mean) / (window - 1);
        out[i] = variance > 0 ? (mean / Math.sqrt(variance)) * Math.sqrt(TRADING_DAYS) : null;
      }
    }
    return out;
  }

  // -- chart options ----------------------------------------------------------------------

  function equity(result, { log = false, benchmarkName = "Benchmark" } = {}) {
    return {
      ...base("Equity against " + benchmarkName),
      legend: { top: 0, right: 0 },
      tooltip: { ...TIP, trigger: "axis", valueFormatter: F.krw },
      xAxis: { type: "category", data: result.dates, boundaryGap: false },
      yAxis: { type: log ? "log" : "value", scale: true, ...tight(log),
               axisLabel: { formatter: (v) => F.krwShort(v) } },
      dataZoom: zoom(),
      series: [
        { name: "Strategy", type: "line", data: result.equity, showSymbol: false,
          sampling: "lttb", lineStyle: { width: 2, color: STRATEGY }, itemStyle: { color: STRATEGY } },
        { name: benchmarkName, type: "line", data: result.benchmark_equity, showSymbol: false,
          sampling: "lttb", lineStyle: { width: 1.5, color: BENCHMARK }, itemStyle: { color: BENCHMARK } },
      ],
    };
  }

  function underwater(result) {
    const dd = drawdown(result.equity, result.spec.initial_capital);
    return {
      ...base("Drawdown"),
      tooltip: { ...TIP, trigger: "axis", valueFormatter: (v) => F.pct(v) },
      xAxis: { type: "category", data: result.dates, boundaryGap: false },
      yAxis: { type: "value", max: 0, axisLabel: { formatter: (v) => F.pct(v, 0) } },
      dataZoom: zoom(),
      series: [{ name: "Drawdown", type: "line", data: dd, showSymbol: false, sampling: "lttb",
                 lineStyle: { width: 1, color: LOSS }, itemStyle: { color: LOSS },
                 areaStyle: { color: "rgba(31, 99, 198, 0.18)" } }],
    };
  }

  function exposureLine(result) {
    return {
      ...base("Exposure (invested / equity)"),
      tooltip: { ...TIP, trigger: "axis", valueFormatter: (v) => F.pct(v, 1) },
      xAxis: { type: "category", data: result.dates, boundaryGap: false },
      yAxis: { type: "value", min: 0, max: (v) => Math.max(1, v.max), axisLabel: { formatter: (v) => F.pct(v, 0) } },
      dataZoom: zoom(),
      series: [{ name: "Exposure", type: "line", step: "end", data: result.exposure, showSymbol: false,
                 sampling: "lttb", lineStyle: { width: 1, color: STRATEGY }, itemStyle: { color: STRATEGY },
                 areaStyle: { color: "rgba(31, 95, 191, 0.12)" } }],
    };
  }

  function monthlyHeatmap(result) {
    const rows = monthly(result);
    const years = [...new Set(rows.map((r) => r.year))].sort();
    const extreme = Math.max(0.01, ...rows.map((r) => Math.abs(r.ret)));
    return {
      ...base("Monthly returns"),
      grid: { left: 64, right: 24, top: 44, bottom: 64 },
      tooltip: { ...TIP, formatter: (p) => `${years[p.value[1]]} ${MONTHS[p.value[0]]}: ${F.pct(p.value[2], 2, true)}` },
      xAxis: { type: "category", data: MONTHS, splitArea: { show: true } },
      yAxis: { type: "category", data: years.map(String), splitArea: { show: true } },
      visualMap: { min: -extreme, max: extreme, calculable: false, orient: "horizontal", left: "center",
                   bottom: 4, itemHeight: 120, formatter: (v) => F.pct(v, 0),
                   inRange: { color: [LOSS, "#f4f6f8", GAIN] } },
      series: [{ type: "heatmap", name: "Monthly return",
                 data: rows.map((r) => [r.month - 1, years.indexOf(r.year), r.ret]),
                 label: { show: true, fontSize: 10, formatter: (p) => F.pct(p.value[2], 1) } }],
    };
  }

  function yearlyBars(result, { benchmarkName = "Benchmark" } = {}) {
    const y = yearly(result);
    return {
      ...base("Calendar-year returns"),
      legend: { top: 0, right: 0 },
      tooltip: { ...TIP, trigger: "axis", valueFormatter: (v) => F.pct(v, 2, true) },
      xAxis: { type: "category", data: y.years },
      yAxis: { type: "value", axisLabel: { formatter: (v) => F.pct(v, 0) } },
      series: [
        { name: "Strategy", type: "bar", data: y.strategy, itemStyle: { color: STRATEGY },
          label: { show: true, position: "top", formatter: (p) => F.pct(p.value, 1) } },
        { name: benchmarkName, type: "bar", data: y.benchmark, itemStyle: { color: BENCHMARK },
          label: { show: true, position: "top", formatter: (p) => F.pct(p.value, 1) } },
      ],
    };
  }

  function rollingSharpeLine(result, window = 126) {
    return {
      ...base("Rolling 6-month Sharpe"),
      tooltip: { ...TIP, trigger: "axis", valueFormatter: (v) => F.num(v) },
      xAxis: { type: "category", data: result.dates, boundaryGap: false },
      yAxis: { type: "value", scale: true },
      dataZoom: zoom(),
      series: [{ name: "Sharpe (126 days)", type: "line", data: rollingSharpe(result, window),
                 showSymbol: false, sampling: "lttb", lineStyle: { width: 1.5, color: STRATEGY },
                 itemStyle: { color: STRATEGY },
                 markLine: { silent: true, symbol: "none", data: [{ yAxis: 0 }],
                             lineStyle: { color: "#999", type: "dashed" } } }],
    };
  }

  function comparison(runs, { log = false } = {}) {
    // growth of 1 for each run, on the union of their dates
    const dates = [...new Set(runs.flatMap((r) => r.result.dates))].sort();
    return {
      ...base("Growth of 1"),
      legend: { top: 0, right: 0, type: "scroll" },
      tooltip: { ...TIP, trigger: "axis", valueFormatter: (v) => F.num(v, 3) },
      xAxis: { type: "category", data: dates, boundaryGap: false },
      yAxis: { type: log ? "log" : "value", scale: true, ...tight(log) },
      dataZoom: zoom(),
      series: runs.map((run, k) => {
        const at = new Map(run.result.dates.map((d, i) => [d, run.result.equity[i]]));
        const initial = run.result.spec.initial_capital;
        return { name: run.label, type: "line", showSymbol: false, sampling: "lttb",
                 data: dates.map((d) => (at.has(d) ? at.get(d) / initial : null)),
                 lineStyle: { width: 1.8, color: PALETTE[k % PALETTE.length] },
                 itemStyle: { color: PALETTE[k % PALETTE.length] } };
      }),
    };
  }

  function sweepHeatmap({ xField, yField, xValues, yValues, cells, rankBy }) {
    // cells: [[xIndex, yIndex, value]]
    const values = cells.map((c) => c[2]).filter(F.isNum);
    const lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
    const show = (v) => F.stat(rankBy, v);
    return {
      ...base(`${F.statLabel(rankBy)} over ${yField} × ${xField}`),
      grid: { left: 90, right: 24, top: 44, bottom: 72 },
      tooltip: { ...TIP, formatter: (p) => `${yField} ${yValues[p.value[1]]}, ${xField} ${xValues[p.value[0]]}: ${show(p.value[2])}` },
      xAxis: { type: "category", name: xField, nameLocation: "middle", nameGap: 28,
               data: xValues.map(String), splitArea: { show: true } },
      yAxis: { type: "category", name: yField, data: yValues.map(String), splitArea: { show: true } },
      visualMap: { min: lo, max: hi === lo ? lo + 1 : hi, orient: "horizontal", left: "center", bottom: 0,
                   itemHeight: 140, formatter: show, inRange: { color: [LOSS, "#f4f6f8", GAIN] } },
      series: [{ type: "heatmap", name: rankBy, data: cells,
                 label: { show: cells.length <= 120, fontSize: 10, formatter: (p) => show(p.value[2]) } }],
    };
  }

  // -- factor research (a FactorReport) -----------------------------------------------------

  function icDecay(report, factors) {
    const rows = {};
    for (const r of report.ic_summary) rows[`${r.factor}|${r.horizon}`] = r;
    return {
      ...base("Mean IC by horizon (IC decay)"),
      legend: { top: 0, right: 0, type: "scroll", width: "60%" },
      tooltip: { ...TIP, trigger: "axis", valueFormatter: (v) => F.num(v, 4) },
      xAxis: { type: "category", name: "trading days", nameLocation: "middle", nameGap: 28,
               data: report.horizons.map(String) },
      yAxis: { type: "value", scale: true, axisLabel: { formatter: (v) => v.toFixed(3) } },
      series: factors.map((f, i) => ({ name: f, type: "line", symbolSize: 6,
        data: report.horizons.map((h) => (rows[`${f}|${h}`] || {}).mean_ic ?? null),
        lineStyle: { color: PALETTE[i % PALETTE.length] }, itemStyle: { color: PALETTE[i % PALETTE.length] } })),
    };
  }

  function quantileBars(report, factor) {
    const rows = report.quantile_returns.filter((r) => r.factor === factor);
    const names = Array.from({ length: report.quantiles }, (_, i) => `Q${i + 1}`);
    return {
      ...base(`${factor}: mean forward return by quantile`),
      legend: { top: 0, right: 0 },
      tooltip: { ...TIP, trigger: "axis", valueFormatter: (v) => F.pct(v, 3) },
      xAxis: { type: "category", data: names },
      yAxis: { type: "value", axisLabel: { formatter: (v) => F.pct(v, 2) } },
      series: rows.map((r, i) => ({ name: `${r.horizon}d`, type: "bar", data: r.mean_returns,
        itemStyle: { color: PALETTE[i % PALETTE.length] } })),
    };
  }

  function spreadLine(report, factor, horizon) {
    const row = report.quantile_returns.find((r) => r.factor === factor && r.horizon === horizon);
    return {
      ...base(`${factor}: top minus bottom quantile, compounded every ${horizon === 1 ? "day" : `${horizon} days`}`),
      tooltip: { ...TIP, trigger: "axis", valueFormatter: (v) => F.pct(v, 2) },
      xAxis: { type: "category", data: row ? row.spread_dates : [], boundaryGap: false },
      yAxis: { type: "value", axisLabel: { formatter: (v) => F.pct(v, 0) } },
      dataZoom: zoom(),
      series: [{ name: "Cumulative spread", type: "line", showSymbol: false,
                 data: row ? row.cumulative_spread : [], lineStyle: { width: 2, color: STRATEGY },
                 areaStyle: { color: "rgba(31, 95, 191, 0.10)" } }],
    };
  }

  function correlationHeatmap(report) {
    const names = report.factors;
    const cells = [];
    report.correlation.forEach((row, y) => row.forEach((v, x) => cells.push([x, y, v])));
    return {
      ...base("Mean daily rank correlation between factors"),
      grid: { left: 140, right: 24, top: 44, bottom: 120 },
      tooltip: { ...TIP, formatter: (p) => `${names[p.value[1]]} × ${names[p.value[0]]}: ${F.num(p.value[2], 2)}` },
      xAxis: { type: "category", data: names, axisLabel: { rotate: 70, fontSize: 9, interval: 0 } },
      yAxis: { type: "category", data: names, inverse: true, axisLabel: { fontSize: 9, interval: 0 } },
      visualMap: { min: -1, max: 1, orient: "horizontal", left: "center", bottom: 0, itemHeight: 160,
                   inRange: { color: [LOSS, "#f4f6f8", GAIN] } },
      series: [{ type: "heatmap", data: cells,
                 label: { show: names.length <= 12, fontSize: 10, formatter: (p) => F.num(p.value[2], 2) } }],
    };
  }

  window.QbtCharts = { icDecay, quantileBars, spreadLine, correlationHeatmap, equity, underwater, exposureLine, monthlyHeatmap, yearlyBars, rollingSharpeLine, comparison,
                       sweepHeatmap, monthly, yearly, drawdown, rollingSharpe };
})();
