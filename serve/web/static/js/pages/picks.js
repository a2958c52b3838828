// Today's picks (POST /v1/picks): what a spec would buy at the next close after the data's
// last day, with each pick's rank, score, weight and the factor values behind it. The spec
// comes from a run (#/picks?run=ID), from the builder's "Today's picks", or is pasted here.
import * as api from "../api.js";

const { h, clear, on, download } = window.QbtDom;
const F = window.QbtFormat;
const STORED = "qbt.picks-spec";
const KRW_FACTORS = new Set(["MARKET_CAP", "AVG_TRADING_VALUE_20D"]);

function factorText(name, x) {
  if (!F.isNum(x)) return "–";
  if (KRW_FACTORS.has(name)) return F.krwShort(x);
  return Math.abs(x) >= 1000 ? F.num(x, 0) : Number(x.toPrecision(4)).toString();
}

function csv(answer) {
  const factors = answer.picks.length ? Object.keys(answer.picks[0].factors) : [];
  const quote = (v) => `"${String(v).replaceAll('"', '""')}"`;
  const head = ["rank", "code", "name", "market", "sector", "score", "weight", ...factors];
  const rows = answer.picks.map((p) => [p.rank, p.code, p.name, p.market, p.sector, p.score, p.weight,
                                        ...factors.map((f) => p.factors[f])]);
  return [head, ...rows].map((r) => r.map(quote).join(",")).join("\n") + "\n";
}

function table(answer) {
  const factors = answer.picks.length ? Object.keys(answer.picks[0].factors) : [];
  return h("table", { class: "grid picks", id: "picks-table" },
    h("thead", {}, h("tr", {}, ["#", "Code", "Name", "Market", "Sector", "Score", "Weight", ...factors]
      .map((t, i) => h("th", { class: i >= 5 ? "num" : null, text: t })))),
    h("tbody", {}, answer.picks.map((p) => h("tr", {},
      h("td", { class: "num", text: p.rank }), h("td", { class: "code", text: p.code }),
      h("td", { text: p.name }), h("td", { text: p.market }), h("td", { text: p.sector }),
      h("td", { class: "num score", text: F.num(p.score, 3) }), h("td", { class: "num", text: F.pct(p.weight) }),
      factors.map((f) => h("td", { class: "num", text: factorText(f, p.factors[f]) }))))));
}

export async function render(main, params) {
  let spec = null;
  let source = "Paste a StrategySpec, or open this page from a run or the builder.";
  if (params.run) {
    const run = await api.get(`/v1/backtests/${encodeURIComponent(params.run)}`);
    spec = run.spec;
    source = `The spec of run ${run.id}.`;
  } else {
    try { spec = JSON.parse(sessionStorage.getItem(STORED) || "null"); } catch (_) { spec = null; }
    if (spec) source = "The spec from the builder.";
  }
  const text = h("textarea", { id: "picks-spec", rows: 12, spellcheck: "false", "aria-label": "StrategySpec JSON" });
  text.value = spec ? JSON.stringify(spec, null, 2) : "";
  const go = h("button", { type: "submit", class: "primary", id: "show-picks", text: "Show picks" });
  const error = h("p", { class: "field-error", role: "alert", id: "picks-error" });
  const out = h("div", { id: "picks-out" });
  const form = h("form", { class: "card", id: "picks-form" },
    h("p", { class: "muted", text: source }), text, error, h("div", { class: "actions" }, go));
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Today's picks" }),
    h("p", { class: "muted", text: "What the strategy would buy at the next close after the data's last day: that day's factor values, a rebalance's eligibility, ranking and weights." })),
    out, form);

  const show = async () => {
    error.textContent = "";
    let body;
    try { body = JSON.parse(text.value); } catch (e) { error.textContent = `Not valid JSON: ${e.message}`; return; }
    go.disabled = true;
    clear(out).appendChild(h("p", { class: "card live", text: "Computing the picks…" }));
    try {
      const answer = await api.post("/v1/picks", body);
      sessionStorage.setItem(STORED, JSON.stringify(body));
      const save = h("button", { type: "button", id: "picks-csv", text: "Download CSV" });
      on(save, "click", () => download(`qbt-picks-${answer.signal_date}.csv`, new Blob([csv(answer)], { type: "text/csv" })));
      clear(out).append(
        answer.invested ? null : h("p", { class: "warning", role: "note",
          text: "Market timing is off for the next session: a rebalance would buy nothing. These are the stocks it ranks first once timing is on again." }),
        h("section", { class: "card" },
          h("div", { class: "card-tools" }, save),
          h("h3", { text: `${answer.picks.length} picks for the close after ${F.date(answer.signal_date)}` }),
          h("p", { class: "muted", text: `${window.QbtRunView.describe(answer.spec)} · ${F.int(answer.n_eligible)} eligible stocks · signal ${F.date(answer.signal_date)} · data ${answer.data_version} · engine ${answer.engine_version}` }),
          answer.picks.length ? table(answer) : h("p", { class: "muted", text: "No stock is eligible on the signal day." })));
    } catch (e) {
      clear(out);
      error.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
    } finally {
      go.disabled = false;
    }
  };
  on(form, "submit", (event) => { event.preventDefault(); show(); });
  if (spec) await show();
}
