// Sign in with an API key (`qbt keys create --owner NAME`, or the demo key `qbt up` prints).
import * as api from "../api.js";

const { h, on } = window.QbtDom;

export function render(main) {
  const input = h("input", { type: "password", id: "api-key", autocomplete: "off", spellcheck: "false",
                             placeholder: "qbt_…", required: true, "aria-label": "API key" });
  const message = h("p", { class: "field-error", id: "signin-error", role: "alert" });
  const form = h("form", { class: "card signin", id: "signin-form" },
    h("h1", { text: "Sign in" }),
    h("p", { class: "muted", text: "Paste your API key. It stays in this browser tab only (not in the address, not in a cookie)." }),
    h("label", { for: "api-key", text: "API key" }), input, message,
    h("button", { type: "submit", class: "primary", text: "Sign in" }));
  on(form, "submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const token = input.value.trim();
    try {
      await api.get("/v1/datasets", { token });
      api.setKey(token);
      location.hash = "#/runs";
    } catch (error) {
      message.textContent = error.status === 401
        ? `That key was refused: ${error.message}.`
        : `Could not check the key: ${error.message}`;
    }
  });
  main.appendChild(form);
  input.focus();
}
