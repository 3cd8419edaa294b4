// The console's History room: the workspace's audit log (REST /api/v1/audit/), newest first,
// filtered by what changed and by who, a page at a time. Each change says who made it, on whom or
// what, and each field as it was and became.
import { restClient } from "../chat/api.js";
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
};
const FIELDS = { monthly_token_budget: "monthly tokens", active: "active" };

const api = restClient("");
const body = $("history-entries");
const more = $("history-more");
const form = $("history-filters");
const setStatus = statusLine($("history-status"));
let next = null; // the next page's URL

function shown(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (value === true) return "yes";
  if (value === false) return "no";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
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
    ...(entry.ip ? [element("br"), element("span", { className: "muted small", textContent: entry.ip })] : []),
  ]);
  return element("tr", {}, [cell(when(entry.created_at)), cell(who), cell(`${what}${target}`), cell(details(entry.changes))]);
}

async function load(url, append) {
  const answer = await api(url);
  if (!answer.ok) {
    setStatus("The history could not be read. Reload the page to try again.", "error");
    return;
  }
  const rows = answer.body.results.map(row);
  if (append) body.append(...rows);
  else body.replaceChildren(...rows);
  next = answer.body.next;
  more.hidden = !next;
  setStatus(body.children.length ? "" : "No change matches.", "info");
}

function query() {
  const params = new URLSearchParams({ page_size: "50" });
  for (const name of ["action", "actor"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return `/api/v1/audit/?${params}`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load(query(), false);
});
more.addEventListener("click", () => { if (next) load(next, true); });
load(query(), false);
