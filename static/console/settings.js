// The console's Settings room: the workspace's configuration (REST PATCH
// /api/v1/tenants/<slug>/config/), one form. Each control names its field (data-field); lists are
// tags; models are picked from the price table (what each costs); only what changed is sent, and
// the server's refusals are shown next to their field. The greeting is previewed as the chat
// shows it.
import { errorText, restClient } from "../chat/api.js";
import { $, element, iconButton, statusLine } from "../chat/dom.js";
import { markdownRenderer } from "../chat/markdown.js";

const root = $("settings");
const api = restClient(root.dataset.csrf);
const url = `/api/v1/tenants/${root.dataset.tenant}/config/`;
const form = $("settings-form");
const prices = JSON.parse($("model-prices").textContent);
const render = markdownRenderer([]);
const defaultGreeting = root.dataset.defaultGreeting;
let saved = {}; // the configuration as the server last gave it

const setStatus = statusLine($("settings-status"));

// -- tags: a list edited as chips ------------------------------------------------------------

const tagLists = {};

function tags(box) {
  const field = box.dataset.tags;
  const input = box.querySelector("input");
  let values = [];
  function show() {
    for (const chip of box.querySelectorAll(".tag")) chip.remove();
    for (const value of values) {
      const chip = element("span", { className: "tag", textContent: value });
      chip.append(iconButton(`Remove ${value}`, "cross", () => { values = values.filter((v) => v !== value); show(); }));
      box.insertBefore(chip, input);
    }
  }
  function add() {
    const value = input.value.trim().replace(/,$/, "");
    if (value && !values.includes(value)) values.push(value);
    input.value = "";
    show();
  }
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === ",") {
      event.preventDefault();
      add();
    } else if (event.key === "Backspace" && !input.value && values.length) {
      values.pop();
      show();
    }
  });
  input.addEventListener("blur", add);
  tagLists[field] = {
    get: () => { add(); return [...values]; },
    set: (list) => { values = [...(list || [])]; show(); },
  };
}

for (const box of form.querySelectorAll("[data-tags]")) tags(box);

// -- models, from the price table --------------------------------------------------------------

function fillModels(select, current) {
  const options = [];
  if (select.dataset.none !== undefined) options.push(element("option", { value: "", textContent: select.dataset.none }));
  for (const p of prices) {
    const cost = `$${Number(p.input)} in / $${Number(p.output)} out per 1M tokens`;
    options.push(element("option", { value: p.model, textContent: `${p.model} (${cost})` }));
  }
  if (current && !prices.some((p) => p.model === current)) {
    options.push(element("option", { value: current, textContent: `${current} (not priced)` }));
  }
  select.replaceChildren(...options);
  select.value = current || "";
}

// -- the form ------------------------------------------------------------------------------------

const controls = [...form.querySelectorAll("[data-field]")];

function read(control) {
  if (control.type === "checkbox") return control.checked;
  if (control.type === "number") {
    if (control.value === "") return control.dataset.nullable !== undefined ? null : undefined;
    return Number(control.value);
  }
  return control.value;
}

function show(config) {
  saved = config;
  for (const control of controls) {
    const value = config[control.dataset.field];
    if (control.dataset.models !== undefined) fillModels(control, value);
    else if (control.type === "checkbox") control.checked = Boolean(value);
    else if (control.dataset.writeOnly !== undefined) control.value = "";
    else control.value = value ?? "";
  }
  for (const [field, list] of Object.entries(tagLists)) list.set(config[field]);
  preview();
}

function changes() {
  const changed = {};
  for (const control of controls) {
    const field = control.dataset.field;
    const value = read(control);
    if (value === undefined) continue;
    if (control.dataset.writeOnly !== undefined) {
      if (value) changed[field] = value;
    } else if (value !== saved[field]) {
      changed[field] = value;
    }
  }
  for (const [field, list] of Object.entries(tagLists)) {
    const value = list.get();
    if (JSON.stringify(value) !== JSON.stringify(saved[field] || [])) changed[field] = value;
  }
  return changed;
}

function showErrors(errors) {
  for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
  let first = null;
  for (const [field, messages] of Object.entries(errors || {})) {
    const slot = $(`e-${field}`);
    if (!slot) continue;
    slot.textContent = [messages].flat().join(" ");
    const control = $(`f-${field}`) || $(`t-${field}`);
    if (control) control.setAttribute("aria-invalid", "true");
    first = first || control;
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    if (!errors || !errors[control.dataset.field || control.id.slice(2)]) control.removeAttribute("aria-invalid");
  }
  if (first) first.focus();
}

function preview() {
  const text = $("f-custom_greeting").value.trim() || defaultGreeting;
  render($("greeting-preview"), text, true);
}
$("f-custom_greeting").addEventListener("input", preview);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const changed = changes();
  if (!Object.keys(changed).length) {
    setStatus("Nothing changed.", "info");
    return;
  }
  const answer = await api(url, { method: "PATCH", json: changed });
  if (!answer.ok) {
    showErrors(answer.body.errors);
    setStatus(errorText(answer.body, "The settings could not be saved."), "error");
    return;
  }
  showErrors({});
  show(answer.body);
  setStatus(`Saved: ${Object.keys(changed).length} setting${Object.keys(changed).length > 1 ? "s" : ""} changed.`, "info");
});

(async () => {
  const answer = await api(url);
  if (!answer.ok) {
    setStatus(errorText(answer.body, "The settings could not be loaded."), "error");
    return;
  }
  show(answer.body);
})();
