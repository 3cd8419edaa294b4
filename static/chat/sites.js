// The console's website widget: the tenant's sites (REST /api/v1/sites/), each with its public
// key and allowed domains; owners and admins add one, switch it on or off, and delete it.
import { errorText, restClient } from "./api.js";
import { cell, textButton } from "./dom.js";

const root = document.getElementById("sites");
const body = document.getElementById("widget-sites");
const statusLine = document.getElementById("sites-status");
const form = document.getElementById("site-form");
const manage = root.dataset.manage === "true";
const api = restClient(root.dataset.csrf);

function row(site) {
  const tr = document.createElement("tr");
  tr.dataset.id = site.id;
  const key = cell("");
  key.append(Object.assign(document.createElement("code"), { textContent: site.key }));
  tr.append(cell(site.name), key, cell(site.allowed_domains.join(", ") || "none yet", "site-domains"),
    cell(site.enabled ? "yes" : "no", "site-enabled"));
  if (manage) {
    const td = document.createElement("td");
    td.append(
      textButton(site.enabled ? "Switch off" : "Switch on", `${site.enabled ? "Switch off" : "Switch on"} ${site.name}`,
        () => change(site, { enabled: !site.enabled })),
      textButton("Delete", `Delete ${site.name}`, () => removeSite(site)),
    );
    tr.append(td);
  }
  return tr;
}

async function refresh() {
  const response = await api("/api/v1/sites/");
  if (response.ok) body.replaceChildren(...response.body.map(row));
}

async function change(site, fields) {
  const response = await api(`/api/v1/sites/${site.id}/`, { method: "PATCH", json: fields });
  statusLine.textContent = response.ok ? `“${site.name}” saved.` : errorText(response.body, "It could not be saved.");
  refresh();
}

async function removeSite(site) {
  if (!window.confirm(`Delete “${site.name}”? The widget stops working on its website at once.`)) return;
  const response = await api(`/api/v1/sites/${site.id}/`, { method: "DELETE" });
  statusLine.textContent = response.ok ? `“${site.name}” deleted.` : "It could not be deleted.";
  refresh();
}

if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const domains = String(data.get("allowed_domains")).split(/[\s,]+/).filter(Boolean);
    const response = await api("/api/v1/sites/", {
      method: "POST",
      json: { name: String(data.get("name")).trim(), allowed_domains: domains },
    });
    if (response.ok) {
      statusLine.textContent = `“${response.body.name}” added: its key is ${response.body.key}.`;
      form.reset();
    } else {
      statusLine.textContent = errorText(response.body, "The site could not be added.");
    }
    refresh();
  });
}
refresh();
