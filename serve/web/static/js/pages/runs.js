// Your runs, newest first, a page at a time; statuses update live (no reload): every 2 s
// while a run of the page is queued or running, and the first page every 5 s for new runs.
// Tick 2-5 runs to compare them.
import * as api from "../api.js";

const { h, clear, on } = window.QbtDom;
const F = window.QbtFormat;
const POLL_MS = 2000, IDLE_MS = 5000;  // the first page also shows runs submitted elsewhere

function badge(status) { return h("span", { class: `badge ${status}`, text: status }); }

export async function render(main, params) {
  const cursors = params.cursor ? params.cursor.split("~") : [];
  const cursor = cursors[cursors.length - 1];
  const selected = new Set();
  const compare = h("button", { type: "button", class: "primary", disabled: true, id: "compare-selected",
                                text: "Compare selected" });
  const table = h("div", { class: "card" });
  const pager = h("div", { class: "pager" });
  main.appendChild(h("div", { class: "page-head" }, h("h1", { text: "Runs" }),
    h("div", { class: "actions" }, compare, h("a", { class: "button", href: "#/new", text: "New backtest" }))));
  main.appendChild(table);
  main.appendChild(pager);
  on(compare, "click", () => { location.hash = `#/compare?ids=${[...selected].join(",")}`; });

  let timer = null;
  async function load() {
    const query = new URLSearchParams({ limit: "20", ...(cursor ? { cursor } : {}) });
    const page = await api.get(`/v1/backtests?${query}`);
    draw(page);
    const live = page.items.some((run) => run.status === "queued" || run.status === "running");
    timer = live ? setTimeout(load, POLL_MS) : (cursor ? null : setTimeout(load, IDLE_MS));
  }

  function draw(page) {
    clear(table);
    if (!page.items.length) {
      table.appendChild(h("p", { class: "muted" }, "No runs yet. ",
        h("a", { href: "#/new", text: "Build a backtest" }), " or submit one through the API."));
      return;
    }
    const headers = ["", "Submitted", "Status", "Strategy", "Period", "Total return", "CAGR", "Sharpe",
                     "Max DD", "Run"];
    table.appendChild(h("table", { class: "grid runs", id: "runs-table" },
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { text: t })))),
      h("tbody", {}, page.items.map((run) => {
        const s = run.statistics || {};
        const box = h("input", { type: "checkbox", "aria-label": `select ${run.id}`, checked: selected.has(run.id),
                                 disabled: run.status !== "done" });
        on(box, "change", () => {
          box.checked ? selected.add(run.id) : selected.delete(run.id);
          compare.disabled = selected.size < 2 || selected.size > 5;
          compare.textContent = `Compare selected (${selected.size})`;
        });
        return h("tr", { dataset: { id: run.id, status: run.status } },
          h("td", {}, box), h("td", { text: F.dateTime(run.created_at) }), h("td", {}, badge(run.status)),
          h("td", { class: "strategy", text: window.QbtRunView.describe(run.spec) }),
          h("td", { class: "small", text: `${F.date(run.spec.start)} – ${F.date(run.spec.end)}` }),
          h("td", { class: "num", text: F.stat("total_return", s.total_return) }),
          h("td", { class: "num", text: F.stat("cagr", s.cagr) }),
          h("td", { class: "num", text: F.stat("sharpe", s.sharpe) }),
          h("td", { class: "num", text: F.stat("max_drawdown", s.max_drawdown) }),
          h("td", {}, h("a", { href: `#/runs/${run.id}`, text: run.id.slice(0, 8) })),
        );
      }))));
    clear(pager);
    if (cursors.length) {
      const back = cursors.slice(0, -1).join("~");
      pager.appendChild(h("a", { class: "button", href: back ? `#/runs?cursor=${back}` : "#/runs", text: "← Newer" }));
    }
    if (page.next_cursor) {
      pager.appendChild(h("a", { class: "button", id: "older",
                                  href: `#/runs?cursor=${[...cursors, page.next_cursor].join("~")}`, text: "Older →" }));
    }
  }

  await load();
  return () => clearTimeout(timer);
}
