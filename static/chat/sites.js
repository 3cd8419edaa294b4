// The console's website widget: the tenant's sites (REST /api/v1/sites/), each with its public
// key, allowed domains and who may chat (anyone, or verified visitors only), and the snippet to
// paste on the site. Owners and admins add one, switch it on or off, require verification, make
// a new identity secret (shown once), and delete it.
import { errorText, restClient } from "./api.js";
import { cell, copyButton, textButton } from "./dom.js";

const root = document.getElementById("sites");
const body = document.getElementById("widget-sites");
const statusLine = document.getElementById("sites-status");
const form = document.getElementById("site-form");
const snippet = document.getElementById("site-snippet");
const manage = root.dataset.manage === "true";
const api = restClient(root.dataset.csrf);
// The page's daily figures (#stats, the last 30 days): each site's conversations, by channel.
const conversationsBySite = {};
for (const day of JSON.parse(document.getElementById("stats").textContent)) {
  for (const [channel, figures] of Object.entries(day.by_channel || {})) {
    conversationsBySite[channel] = (conversationsBySite[channel] || 0) + figures.conversations;
  }
}

function snippetOf(site) {
  return `<script async src="${location.origin}/widget.js" data-site="${site.key}"></script>`;
}

// The snippet of `site` under the table; `secret`: its identity secret, when just made.
function showSnippet(site, secret) {
  document.getElementById("site-snippet-name").textContent = site.name;
  const code = document.getElementById("site-snippet-code");
  code.textContent = snippetOf(site);
  const old = snippet.querySelector(".copy-snippet");
  if (old) old.remove();
  code.parentElement.after(copyButton("Copy the snippet", () => snippetOf(site), "copy-snippet"));
  document.getElementById("site-secret").hidden = !secret;
  document.getElementById("site-secret-value").textContent = secret || "";
  snippet.hidden = false;
}

function row(site) {
  const tr = document.createElement("tr");
  tr.dataset.id = site.id;
  const key = cell("");
  key.append(Object.assign(document.createElement("code"), { textContent: site.key }));
  tr.append(cell(site.name), key, cell(site.allowed_domains.join(", ") || "none yet", "site-domains"),
    cell(site.require_verification ? "verified only" : "anyone", "site-visitors"),
    cell(String(conversationsBySite[`site:${site.id}`] || 0), "site-conversations"),
    cell(site.enabled ? "yes" : "no", "site-enabled"));
  const actions = document.createElement("div");
  actions.className = "site-actions";
  actions.append(textButton("Snippet", `Show the snippet of ${site.name}`, () => showSnippet(site)));
  if (manage) {
    const verified = site.require_verification;
    actions.append(
      textButton(site.enabled ? "Switch off" : "Switch on", `${site.enabled ? "Switch off" : "Switch on"} ${site.name}`,
        () => change(site, { enabled: !site.enabled })),
      textButton(verified ? "Let anyone chat" : "Verified only",
        verified ? `Let anyone chat on ${site.name}` : `Only verified visitors on ${site.name}`,
        () => change(site, { require_verification: !verified })),
      textButton("New secret", `Make a new identity secret for ${site.name}`, () => rotate(site)),
      textButton("Delete", `Delete ${site.name}`, () => removeSite(site)),
    );
  }
  const td = document.createElement("td");
  td.append(actions);
  tr.append(td);
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

async function rotate(site) {
  if (!window.confirm(`A new identity secret for “${site.name}”? Identity tokens signed with the old one stop working at once.`)) return;
  const response = await api(`/api/v1/sites/${site.id}/rotate-secret/`, { method: "POST" });
  if (!response.ok) {
    statusLine.textContent = errorText(response.body, "No new secret was made.");
    return;
  }
  statusLine.textContent = `“${site.name}” has a new identity secret.`;
  showSnippet(site, response.body.identity_secret);
}

async function removeSite(site) {
  if (!window.confirm(`Delete “${site.name}”? The widget stops working on its website at once.`)) return;
  const response = await api(`/api/v1/sites/${site.id}/`, { method: "DELETE" });
  statusLine.textContent = response.ok ? `“${site.name}” deleted.` : "It could not be deleted.";
  snippet.hidden = true;
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
      showSnippet(response.body, response.body.identity_secret);
    } else {
      statusLine.textContent = errorText(response.body, "The site could not be added.");
    }
    refresh();
  });
}
refresh();
