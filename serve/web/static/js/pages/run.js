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
