// The console's Team room: the workspace's members (REST /api/v1/tenants/<slug>/members/): each
// one's role, whether they are active and their monthly token budget, changed in place, or
// removed, and who of the support team has the inbox open (…/inbox/agents/); and the invitations
// (…/invitations/): invite by e-mail with a role, resend, revoke.
// The server decides who may do what (only owners make owners, the last owner stays): its refusals
// are shown as they are given.
import { errorText, restClient } from "../chat/api.js";
import { $, cell, element, statusLine, textButton } from "../chat/dom.js";

const root = $("team");
const api = restClient(root.dataset.csrf);
const base = `/api/v1/tenants/${root.dataset.tenant}`;
const me = root.dataset.me;
const roles = JSON.parse($("team-roles").textContent);
const setStatus = statusLine($("team-status"));

function roleSelect(current, label) {
  const select = element("select", {});
  select.setAttribute("aria-label", label);
  const known = roles.some((r) => r.value === current);
  // An owner, seen by an admin: shown, not grantable.
  for (const r of known ? roles : [...roles, { value: current, label: current }]) {
    select.append(element("option", { value: r.value, textContent: r.label, selected: r.value === current }));
  }
  select.disabled = !known;
  return select;
}

let presence = {}; // username -> online, away or offline (the support team's, from the inbox)

function memberRow(m) {
  const tr = element("tr", {});
  tr.dataset.id = m.id;
  const who = `${m.username}${m.username === me ? " (you)" : ""}`;
  const state = presence[m.username];
  const role = roleSelect(m.role, `Role of ${m.username}`);
  const active = element("input", { type: "checkbox", checked: m.active });
  active.setAttribute("aria-label", `${m.username} is active`);
  const budget = element("input", {
    type: "number", min: 0, step: 1000, value: m.monthly_token_budget ?? "", placeholder: "default", className: "budget",
  });
  budget.setAttribute("aria-label", `Monthly tokens of ${m.username}`);
  const save = textButton("Save", `Save ${m.username}`, async () => {
    const answer = await api(`${base}/members/${m.id}/`, {
      method: "PATCH",
      json: {
        role: role.value,
        active: active.checked,
        monthly_token_budget: budget.value === "" ? null : Number(budget.value),
      },
    });
    if (!answer.ok) {
      setStatus(errorText(answer.body, `${m.username} could not be saved.`), "error");
      return;
    }
    setStatus(`${m.username} is saved.`, "info");
    load();
  });
  const remove = textButton("Remove", `Remove ${m.username}`, async () => {
    if (!confirm(`Remove ${m.username} from the workspace?`)) return;
    const answer = await api(`${base}/members/${m.id}/`, { method: "DELETE" });
    if (!answer.ok) {
      setStatus(errorText(answer.body, `${m.username} could not be removed.`), "error");
      return;
    }
    setStatus(`${m.username} is removed.`, "info");
    load();
  });
  const email = element("span", { className: "muted small", textContent: m.email ? ` ${m.email}` : "" });
  const dot = state
    ? [element("span", { className: `presence ${state}`, title: `${state} in the inbox` }),
      element("span", { className: "visually-hidden", textContent: ` (${state} in the inbox)` })]
    : [];
  tr.append(
    cell(element("span", {}, [...dot, element("strong", { textContent: who }), email])),
    cell(role), cell(active), cell(budget),
    cell(element("span", { className: "row-actions" }, [save, remove])),
  );
  return tr;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleDateString() : "–";
}

function invitationRow(i) {
  const tr = element("tr", {});
  const actions = element("span", { className: "row-actions" });
  if (i.status === "pending" || i.status === "expired") {
    actions.append(textButton("Resend", `Resend the invitation of ${i.email}`, async () => {
      // A new link (the old one stops working): the same address and role.
      const made = await api(`${base}/invitations/`, { method: "POST", json: { email: i.email, role: i.role } });
      if (!made.ok) {
        setStatus(errorText(made.body, "The invitation could not be sent."), "error");
        return;
      }
      if (i.status === "pending") await api(`${base}/invitations/${i.id}/`, { method: "DELETE" });
      setStatus(`A new invitation is on its way to ${i.email}.`, "info");
      loadInvitations();
    }));
  }
  if (i.status === "pending") {
    actions.append(textButton("Revoke", `Revoke the invitation of ${i.email}`, async () => {
      const answer = await api(`${base}/invitations/${i.id}/`, { method: "DELETE" });
      setStatus(answer.ok ? `The invitation of ${i.email} is revoked.` : errorText(answer.body, "It could not be revoked."), answer.ok ? "info" : "error");
      loadInvitations();
    }));
  }
  tr.append(cell(i.email), cell(i.role), cell(i.status), cell(i.invited_by || "–"), cell(when(i.expires_at)), cell(actions));
  return tr;
}

async function load() {
  const team = await api("/api/v1/inbox/agents/");
  if (team.ok) presence = Object.fromEntries(team.body.agents.map((a) => [a.agent, a.state]));
  const answer = await api(`${base}/members/`);
  if (!answer.ok) {
    setStatus(errorText(answer.body, "The members could not be loaded."), "error");
    return;
  }
  $("team-members").replaceChildren(...answer.body.map(memberRow));
}

async function loadInvitations() {
  const answer = await api(`${base}/invitations/`);
  if (answer.ok) $("team-invitations").replaceChildren(...answer.body.map(invitationRow));
}

$("invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const data = Object.fromEntries(new FormData(form));
  const answer = await api(`${base}/invitations/`, { method: "POST", json: data });
  if (!answer.ok) {
    setStatus(errorText(answer.body, "The invitation could not be sent."), "error");
    return;
  }
  form.reset();
  setStatus(`An invitation is on its way to ${data.email}.`, "info");
  loadInvitations();
});

load();
loadInvitations();
