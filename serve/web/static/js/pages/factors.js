// The factor catalog: search by name or formula, filter by category.
import * as api from "../api.js";

const { h, clear, on } = window.QbtDom;

export async function render(main) {
  const factors = await api.get("/v1/factors");
  const categories = [...new Set(factors.map((f) => f.category))];
  const search = h("input", { type: "search", id: "factor-search", placeholder: "Search name, formula or input",
                              "aria-label": "Search factors" });
  const category = h("select", { id: "factor-category", "aria-label": "Category" },
    h("option", { value: "", text: "All categories" }), categories.map((c) => h("option", { value: c, text: c })));
  const count = h("span", { class: "muted" });
  const body = h("tbody", {});
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Factors" }),
    h("div", { class: "actions" }, search, category, count)),
    h("div", { class: "card" }, h("table", { class: "grid factors", id: "factors-table" },
      h("thead", {}, h("tr", {}, ["Factor", "Category", "Formula", "Lookback", "Inputs"].map((t) => h("th", { text: t })))),
      body)));
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = factors.filter((f) => (!category.value || f.category === category.value) &&
      (!q || [f.name, f.formula, ...f.inputs].some((x) => x.toLowerCase().includes(q))));
    clear(body).append(...shown.map((f) => h("tr", {},
      h("td", { class: "code", text: f.name }), h("td", { text: f.category }), h("td", { text: f.formula }),
      h("td", { class: "num", text: `${f.lookback} d` }), h("td", { class: "code small", text: f.inputs.join(", ") }))));
    count.textContent = `${shown.length} of ${factors.length}`;
  };
  on(search, "input", draw);
  on(category, "change", draw);
  draw();
}
