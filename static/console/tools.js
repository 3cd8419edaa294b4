// The console's Tools room: the tenant's HTTP tools (REST /api/v1/tools/) and the built-in ones,
// each offered to the assistant or not (the config's allowed_tools); owners and admins add,
// switch on or off and delete them. A tool's secret is written once and never shown again.
import { errorText, restClient } from "../chat/api.js";
import { $, cell, element, statusLine, textButton } from "../chat/dom.js";

const BUILT_IN = {
  search_knowledge: "searches the knowledge base (the documents the console's Knowledge holds)",
  escalate_to_human: "hands the conversation to the support team when the user needs a person",
  conversation_facts: "tells the assistant about this conversation (resolved, escalated, started)",
};
const root = $("tools");
const api = restClient(root.dataset.csrf);
const manage = root.dataset.manage === "true";
const configUrl = `/api/v1/tenants/${root.dataset.tenant}/config/`;
const setStatus = statusLine($("tools-status"));
let offered = null; // the config's allowed_tools (owners and admins read it)

async function offer(name, on) {
  const next = on ? [...new Set([...offered, name])] : offered.filter((n) => n !== name);
  const answer = await api(configUrl, { method: "PATCH", json: { allowed_tools: next } });
  if (!answer.ok) {
    setStatus(errorText(answer.body, "It could not be changed."), "error");
    return;
  }
  offered = answer.body.allowed_tools;
  setStatus(on ? `The assistant may call ${name} now.` : `The assistant no longer calls ${name}.`, "info");
  load();
}

function row(name, description, calls, timeout, tool) {
  const on = offered !== null && offered.includes(name);
  const switcher = element("input", { type: "checkbox", checked: on, disabled: !manage || offered === null });
  switcher.setAttribute("aria-label", `Offer ${name} to the assistant`);
  switcher.addEventListener("change", () => offer(name, switcher.checked));
  const cells = [
    cell(element("span", {}, [element("strong", { textContent: name }), element("br"), element("span", { className: "muted small", textContent: description })])),
    cell(calls), cell(timeout), cell(switcher),
  ];
  if (manage) {
    cells.push(cell(tool ? textButton("Delete", `Delete ${name}`, async () => {
      if (!confirm(`Delete the tool ${name}? The assistant stops calling it.`)) return;
      const answer = await api(`/api/v1/tools/${tool.id}/`, { method: "DELETE" });
      setStatus(answer.ok ? `${name} is deleted.` : errorText(answer.body, "It could not be deleted."), answer.ok ? "info" : "error");
      load();
    }) : "built in"));
  }
  return element("tr", {}, cells);
}

async function load() {
  if (manage && offered === null) {
    const config = await api(configUrl);
    if (config.ok) offered = config.body.allowed_tools;
  }
  const answer = await api("/api/v1/tools/");
  if (!answer.ok) {
    setStatus(errorText(answer.body, "The tools could not be loaded."), "error");
    return;
  }
  $("tools-list").replaceChildren(
    ...Object.entries(BUILT_IN).map(([name, what]) => row(name, what, "the platform", "–", null)),
    ...answer.body.map((t) => row(t.name, t.description, `${t.method} ${t.url}`, `${t.timeout_s} s`, t)),
  );
}

const form = $("tool-form");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    let parameters;
    try {
      parameters = JSON.parse(data.parameters);
    } catch (e) {
      setStatus("The arguments are not valid JSON.", "error");
      return;
    }
    const answer = await api("/api/v1/tools/", {
      method: "POST", json: { ...data, parameters, timeout_s: Number(data.timeout_s) },
    });
    if (!answer.ok) {
      setStatus(errorText(answer.body, "The tool could not be added."), "error");
      return;
    }
    form.reset();
    setStatus(`${answer.body.name} is added: switch it on to offer it to the assistant.`, "info");
    load();
  });
}
load();
