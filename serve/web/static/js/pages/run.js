// One run: its status while it waits or runs, then everything about it (QbtRunView), the
// report to download, and a way into the comparison.
import * as api from "../api.js";

const { h, clear, on, download } = window.QbtDom;
const F = window.QbtFormat;

export async function render(main, params) {
  let view = null;
  const here = location.hash;
  const gone = () => location.hash !== here;
  const status = h("div", { class: "card" });
  main.appendChild(status);
  let run = await api.get(`/v1/backtests/${encodeURIComponent(params.id)}`);
  while (!gone() && (run.status === "queued" || run.status === "running")) {
    clear(status).appendChild(h("p", { class: "live" }, h("span", { class: `badge ${run.status}`, text: run.status }),
      ` run ${run.id} · submitted ${F.dateTime(run.created_at)} · waiting for it to finish…`));
    run = await api.get(`/v1/backtests/${encodeURIComponent(params.id)}?wait=20`);
  }
  if (gone()) return;
  clear(main);
  if (run.status !== "done") {
    main.appendChild(h("div", { class: "card error", role: "alert" },
      h("h1", {}, "Run ", h("span", { class: `badge ${run.status}`, text: run.status })),
      h("p", { text: run.error || "No result." }),
      h("pre", { class: "spec", text: JSON.stringify(run.spec, null, 2) })));
    return;
  }
  if (!run.result) {  // a sweep variant: its statistics are stored, its full result is not
    variantOnly(main, run);
    return;
  }
  const report = h("button", { type: "button", id: "download-report", text: "Download report" });
  const toCompare = h("a", { class: "button", href: `#/compare?ids=${run.id}`, text: "Compare…" });
  const toPicks = h("a", { class: "button", id: "run-picks", href: `#/picks?run=${run.id}`, text: "Today's picks" });
  main.appendChild(h("div", { class: "page-head" },
    h("p", { class: "muted" }, h("span", { class: "badge done", text: "done" }),
      ` run ${run.id} · ${F.seconds(run.timings.run_s)} to run · finished ${F.dateTime(run.finished_at)}`),
    h("div", { class: "actions" }, toPicks, toCompare, report)));
  on(report, "click", async () => {
    const response = await api.request("GET", `/v1/backtests/${run.id}/report`, { raw: true });
    download(`qbt-report-${run.id.slice(0, 8)}.html`, await response.blob());
  });
  const body = h("div", { id: "run-view" });
  main.appendChild(body);
  view = window.QbtRunView.render(body, run);
  return () => view.dispose();
}

function variantOnly(main, run) {
  const compute = h("button", { type: "button", id: "compute-full", class: "primary", text: "Compute the full result" });
  const note = h("p", { class: "muted", id: "compute-note" });
  const rows = Object.entries(run.statistics || {}).map(([name, value]) =>
    h("tr", {}, h("th", { text: F.statLabel(name) }), h("td", { class: "num", text: F.isNum(value) ? F.stat(name, value) : String(value ?? "—") })));
  main.appendChild(h("div", { class: "card", id: "variant-only" },
    h("h1", {}, "Sweep variant ", h("span", { class: "badge done", text: "done" })),
    h("p", {}, `Variant ${run.variant} of `, h("a", { href: `#/sweeps/${run.sweep_id}`, text: `sweep ${String(run.sweep_id).slice(0, 8)}` }),
      ` · data ${run.data_version} · engine ${run.engine_version}. A sweep keeps each variant's statistics and daily returns; `
      + "its equity curve, holdings and trades are computed on request, the same numbers as running it alone."),
    h("div", { class: "actions" }, compute), note,
    h("h3", { text: "Statistics" }), h("table", { class: "stats" }, h("tbody", {}, rows)),
    h("h3", { text: "Spec" }), h("pre", { class: "spec", text: JSON.stringify(run.spec, null, 2) })));
  on(compute, "click", async () => {
    compute.disabled = true;
    note.textContent = "Submitting…";
    try {
      const accepted = await api.request("POST", "/v1/backtests", { body: run.spec });
      location.hash = `#/runs/${accepted.id}`;
    } catch (err) {
      compute.disabled = false;
      note.textContent = err.message || String(err);
    }
  });
}
