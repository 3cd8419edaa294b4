// The console's History room: the workspace's audit log (REST /api/v1/audit/), newest first,
// filtered by what changed and by who, a page at a time. Each change says who made it, on whom or
// what, and each field as it was and became.
import { pagedList, restClient } from "../chat/api.js";
import { $, cell, element, statusLine } from "../chat/dom.js";

const WHAT = {
  "member.added": "added the member",
  "member.role_changed": "changed the role of",
  "member.deactivated": "deactivated",
  "member.reactivated": "reactivated",
  "member.budget_changed": "changed the monthly tokens of",
  "member.removed": "removed",
  "invitation.sent": "invited",
  "invitation.revoked": "revoked the invitation of",
  "invitation.accepted": "accepted the invitation of",
  "settings.changed": "changed the settings",
  "tenant.created": "made the workspace",
  "experiment.created": "started the experiment",
  "experiment.changed": "changed the experiment",
  "experiment.deleted": "deleted the experiment",
  "api_key.created": "made the API key",
  "api_key.revoked": "revoked the API key",
  "api_key.rotated": "gave a new secret to the API key",
  "webhook.created": "added the webhook",
  "webhook.changed": "changed the webhook",
  "webhook.deleted": "deleted the webhook",
  "webhook.disabled": "turned off (it kept failing) the webhook",
  "tool.created": "added the tool",
  "tool.changed": "changed the tool",
  "tool.deleted": "deleted the tool",
  "document.added": "added the document",
  "document.reingested": "had read again the document",
  "document.deleted": "deleted the document",
  "curated.created": "added the curated answer",
  "curated.changed": "changed the curated answer",
  "curated.deleted": "deleted the curated answer",
  "alert_rule.changed": "changed the alert rule on",
  "site.created": "added the website",
  "site.changed": "changed the website",
  "site.deleted": "deleted the website",
  "site.secret_rotated": "gave a new identity secret to the website",
  "sso.changed": "changed",
  "sso.removed": "removed",
  "scim.user_changed": "changed, by SCIM, the person",
  "scim.group_created": "added, by SCIM, the group",
  "scim.group_changed": "changed the group",
  "scim.group_deleted": "deleted, by SCIM, the group",
  "audit.purged": "deleted, past its retention, entries of the",
  "data.erased": "erased a person's data:",
};
const FIELDS = { monthly_token_budget: "monthly tokens", active: "active" };

const api = restClient("");
const body = $("history-entries");
const form = $("history-filters");
const setStatus = statusLine($("history-status"));

function shown(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (value === true) return "yes";
  if (value === false) return "no";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
  if (typeof value === "object") return Object.entries(value).map(([key, item]) => `${key} = ${item}`).join(", ") || "none";
  return String(value);
}

function details(changes) {
  const list = element("ul", { className: "changes" });
  for (const [field, [before, after]] of Object.entries(changes || {})) {
    const name = FIELDS[field] || field.replaceAll("_", " ");
    list.append(element("li", { textContent: `${name}: ${shown(before)} → ${shown(after)}` }));
  }
  return list;
}

function when(iso) {
  const date = new Date(iso);
  return element("time", { dateTime: iso, textContent: date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) });
}

function row(entry) {
  const what = WHAT[entry.action] || entry.action;
  const target = entry.action === "settings.changed" ? "" : ` ${entry.target}`;
  const who = element("span", {}, [
    document.createTextNode(entry.actor || "the platform"),
    ...(entry.ip || entry.credential
      ? [element("br"), element("span", { className: "muted small", textContent: [entry.ip, entry.credential].filter(Boolean).join(" · ") })]
      : []),
  ]);
  return element("tr", {}, [cell(when(entry.created_at)), cell(who), cell(`${what}${target}`), cell(details(entry.changes))]);
}

const entries = pagedList({
  api,
  body,
  more: $("history-more"),
  row,
  told(answer) {
    if (!answer.ok) setStatus("The history could not be read. Reload the page to try again.", "error");
    else setStatus(body.children.length ? "" : "No change matches.", "info");
  },
});

function filters() {
  const params = new URLSearchParams();
  for (const name of ["action", "actor"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function query() {
  const params = filters();
  // The download link exports what the filters show (oldest first, every page).
  $("history-export").href = `/api/v1/audit/export/?${new URLSearchParams([...params, ["format", "csv"]])}`;
  params.set("page_size", "50");
  return `/api/v1/audit/?${params}`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  entries.show(query());
});
entries.show(query());
