// The web app: a hash router over pages. Each page module exports `render(main, params)`
// and may return a cleanup function (timers, charts). Adding a page is adding a module and a
// line in PAGES.
import * as api from "./api.js";

const PAGES = {
  signin: () => import("./pages/signin.js"),
  runs: () => import("./pages/runs.js"),
  run: () => import("./pages/run.js"),
  new: () => import("./pages/new.js"),
  compare: () => import("./pages/compare.js"),
  sweeps: () => import("./pages/sweeps.js"),
  sweep: () => import("./pages/sweep.js"),
  factors: () => import("./pages/factors.js"),
  data: () => import("./pages/data.js"),
  picks: () => import("./pages/picks.js"),
  research: () => import("./pages/research.js"),
};
const { h, clear } = window.QbtDom;
let cleanup = null;

function parse(hash) {
  const [path, query] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  if (parts[0] === "runs" && parts[1]) return { page: "run", params: { ...params, id: parts[1] } };
  if (parts[0] === "sweeps" && parts[1]) return { page: "sweep", params: { ...params, id: parts[1] } };
  return { page: parts[0] || "runs", params };
}

async function route() {
  const main = document.getElementById("page");
  if (cleanup) { try { cleanup(); } catch (_) { /* page already gone */ } cleanup = null; }
  let { page, params } = parse(location.hash);
  if (!api.key() && page !== "signin") { location.hash = "#/signin"; return; }
  if (!PAGES[page]) page = "runs";
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  document.body.classList.toggle("signed-out", !api.key());
  clear(main);
  try {
    const module = await PAGES[page]();
    const done = await module.render(main, params);
    cleanup = typeof done === "function" ? done : null;
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) return;
    clear(main).appendChild(h("div", { class: "card error", role: "alert" },
      h("h2", { text: "Something went wrong" }), h("p", { text: error.message || String(error) })));
  }
}

document.getElementById("signout").addEventListener("click", () => {
  api.forget();
  location.hash = "#/signin";
});
window.addEventListener("hashchange", route);
route();
