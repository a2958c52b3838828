// QbtFormat: numbers as a Korean quant reads them: thousands separators, percentages,
// KRW in full or in 억 / 조, dates as YYYY-MM-DD.
(function () {
  "use strict";
  const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const two = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const dash = "–";

  function isNum(x) { return typeof x === "number" && Number.isFinite(x); }
  function krw(x) { return isNum(x) ? whole.format(Math.round(x)) + " ₩" : dash; }
  function krwShort(x) {
    if (!isNum(x)) return dash;
    const a = Math.abs(x);
    if (a >= 1e12) return two.format(x / 1e12) + "조";
    if (a >= 1e7) return two.format(x / 1e8) + "억";
    return whole.format(x);
  }
  function pct(x, digits = 2, signed = false) {
    if (!isNum(x)) return dash;
    const text = (x * 100).toFixed(digits) + "%";
    return signed && x > 0 ? "+" + text : text;
  }
  function num(x, digits = 2) {
    if (!isNum(x)) return dash;
    return new Intl.NumberFormat("en-US", { minimumFractionDigits: digits,
                                            maximumFractionDigits: digits }).format(x);
  }
  function int(x) { return isNum(x) ? whole.format(x) : dash; }
  function date(x) { return x ? String(x).slice(0, 10) : dash; }
  function dateTime(x) { return x ? String(x).replace("T", " ").slice(0, 19) : dash; }
  function seconds(x) { return isNum(x) ? (x < 60 ? x.toFixed(1) + " s" : (x / 60).toFixed(1) + " min") : dash; }

  // How each statistic of a result reads, and what it is called.
  const STATS = {
    total_return: ["Total return", (x) => pct(x, 2, true)],
    cagr: ["CAGR", (x) => pct(x, 2, true)],
    annual_volatility: ["Volatility (annual)", pct],
    sharpe: ["Sharpe", num],
    sortino: ["Sortino", num],
    max_drawdown: ["Max drawdown", pct],
    peak_date: ["Drawdown peak", date],
    trough_date: ["Drawdown trough", date],
    calmar: ["Calmar", num],
    win_rate: ["Win rate (days)", pct],
    turnover: ["Turnover / rebalance", pct],
    annual_turnover: ["Turnover / year", pct],
    costs_paid: ["Costs paid", krw],
    average_holdings: ["Average holdings", (x) => num(x, 1)],
    exposure: ["Exposure (mean invested)", pct],
    best_month: ["Best month", (x) => pct(x, 2, true)],
    worst_month: ["Worst month", (x) => pct(x, 2, true)],
    beta: ["Beta", num],
    alpha: ["Alpha (arith., annual)", (x) => pct(x, 2, true)],
    alpha_compounded: ["Alpha (compounded)", (x) => pct(x, 2, true)],
    tracking_error: ["Tracking error", pct],
    information_ratio: ["Information ratio", num],
    final_equity: ["Final equity", krw],
    n_days: ["Trading days", int],
    n_rebalances: ["Rebalances", int],
    cash_rebalances: ["Rebalances in cash", int],
  };
  function statLabel(name) { return (STATS[name] || [name])[0]; }
  function stat(name, value) { return (STATS[name] || [name, num])[1](value); }

  window.QbtFormat = { krw, krwShort, pct, num, int, date, dateTime, seconds, stat, statLabel,
                       STATS, isNum };
})();
