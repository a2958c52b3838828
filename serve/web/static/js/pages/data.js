// The data versions the registry holds, and per factor where its values start and how much
// of the listed stock-days they cover; a factor without values names the missing inputs.
import * as api from "../api.js";

const { h } = window.QbtDom;
const F = window.QbtFormat;

export async function render(main) {
  const { datasets } = await api.get("/v1/datasets");
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Data" })));
  if (!datasets.length) {
    main.append(h("p", { class: "muted", text: "No data version is built yet." }));
    return;
  }
  for (const d of datasets) {
    const coverage = Object.entries(d.coverage || {});
    const empty = coverage.filter(([, c]) => !c.first_day);
    main.append(h("section", { class: "card" },
      h("h3", {}, `Data version ${d.version}`, d.current ? h("span", { class: "badge done", text: "current" }) : null),
      h("p", { class: "muted", text: `${F.int(d.shape[2])} stocks × ${F.int(d.shape[1])} days × ${d.shape[0]} factors · ${F.krwShort(d.nbytes)} bytes · built ${F.seconds(d.age_s)} ago` }),
      empty.length ? h("p", { class: "warning", role: "note",
        text: `${empty.length} factor${empty.length > 1 ? "s have" : " has"} no values: ${empty.map(([n]) => n).join(", ")}.` }) : null,
      h("table", { class: "grid coverage" },
        h("thead", {}, h("tr", {}, ["Factor", "First day", "Coverage", "Inputs never imported"].map((t) => h("th", { text: t })))),
        h("tbody", {}, coverage.map(([name, c]) => h("tr", { class: c.first_day ? "" : "missing" },
          h("td", { class: "code", text: name }), h("td", { text: F.date(c.first_day) }),
          h("td", { class: "num", text: F.pct(c.share, 1) }),
          h("td", { class: "code small", text: (c.missing_inputs || []).join(", ") })))))));
  }
}
