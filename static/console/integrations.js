// The console's Integrations room: the workspace's API keys (REST /api/v1/api-keys/) and webhook
// endpoints (/api/v1/webhooks/) with their deliveries. A key's secret and an endpoint's signing
// secret are shown once, in the answer that makes (or rotates) them, with a button to copy them.
import { errorText, pagedList, restClient } from "../chat/api.js";
import { $, cell, copyButton, element, statusLine, textButton } from "../chat/dom.js";

const root = $("integrations");
const api = restClient(root.dataset.csrf);
const me = root.dataset.me;
const setStatus = statusLine($("integrations-status"));

function when(iso) {
  if (!iso) return "never";
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

// A secret shown once, in its box, with a copy button; the box is for the newest only.
function showOnce(box, value) {
  $(`${box}-value`).textContent = value;
  $(`${box}-copy`).replaceChildren(copyButton("Copy it", () => value));
  $(box).hidden = false;
  $(box).scrollIntoView({ block: "nearest" });
}

async function act(url, told, failed) {
  const answer = await api(url, { method: "POST" });
  setStatus(answer.ok ? told : errorText(answer.body, failed), answer.ok ? "info" : "error");
  return answer;
}

function keyRow(key) {
  const actions = [];
  if (key.status === "active") {
    actions.push(textButton("Revoke", `Revoke the key ${key.name}`, async () => {
      if (!confirm(`Revoke ${key.name}? Calls with it are refused from now on.`)) return;
      await act(`/api/v1/api-keys/${key.id}/revoke/`, `${key.name} is revoked.`, "It could not be revoked.");
      loadKeys();
    }));
    if (key.user === me) {
      actions.push(textButton("New secret", `New secret for the key ${key.name}`, async () => {
        const answer = await act(`/api/v1/api-keys/${key.id}/rotate/`, `${key.name} has a new secret; the old one stopped working.`, "It could not be rotated.");
        if (answer.ok) showOnce("key-secret", answer.body.key);
        loadKeys();
      }));
    }
  }
  const name = element("span", {}, [element("strong", { textContent: key.name }), element("br"),
    element("code", { className: "muted small", textContent: `${key.prefix}_…` })]);
  const used = key.last_used_at ? `${when(key.last_used_at)} from ${key.last_used_ip || "?"}` : "never";
  const state = key.status === "active" && key.expires_at ? `active until ${when(key.expires_at)}` : key.status;
  return element("tr", {}, [cell(name), cell(key.user), cell(key.scopes.join(", ")), cell(used), cell(state), cell(element("span", {}, actions))]);
}

// A table's rows from a list endpoint, or what went wrong on the status line.
async function loadRows(url, body, row, failed) {
  const answer = await api(url);
  if (!answer.ok) {
    setStatus(errorText(answer.body, failed), "error");
    return;
  }
  $(body).replaceChildren(...answer.body.map(row));
}

const loadKeys = () => loadRows("/api/v1/api-keys/", "keys-list", keyRow, "The keys could not be loaded.");

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const json = {
    name: data.get("name"),
    scopes: data.getAll("scopes"),
    allowed_addresses: String(data.get("allowed_addresses")).split(/\s+/).filter(Boolean),
  };
  if (data.get("expires_on")) json.expires_at = `${data.get("expires_on")}T23:59:59Z`;
  const answer = await api("/api/v1/api-keys/", { method: "POST", json });
  if (!answer.ok) {
    setStatus(errorText(answer.body, "The key could not be made."), "error");
    return;
  }
  form.reset();
  setStatus(`${answer.body.name} is made.`, "info");
  showOnce("key-secret", answer.body.key);
  loadKeys();
});

const deliveries = pagedList({
  api,
  body: $("deliveries-list"),
  more: $("deliveries-more"),
  row(delivery) {
    const again = textButton("Send again", `Send again the ${delivery.event} delivery of ${when(delivery.created_at)}`, async () => {
      await act(`/api/v1/webhooks/deliveries/${delivery.id}/redeliver/`, "It is sent again.", "It could not be sent again.");
    });
    return element("tr", {}, [cell(when(delivery.created_at)), cell(element("code", { textContent: delivery.event })),
      cell(delivery.status), cell(String(delivery.attempts)), cell(delivery.last_error || "—"), cell(again)]);
  },
  told(answer) {
    if (!answer.ok) setStatus(errorText(answer.body, "The deliveries could not be loaded."), "error");
    else if (!$("deliveries-list").children.length) setStatus("Nothing was delivered to this endpoint yet.", "info");
  },
});

function webhookRow(endpoint) {
  const state = endpoint.active ? "on" : `off${endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : ""}`;
  const actions = [
    textButton(endpoint.active ? "Turn off" : "Turn on", `${endpoint.active ? "Turn off" : "Turn on"} ${endpoint.url}`, async () => {
      const answer = await api(`/api/v1/webhooks/${endpoint.id}/`, { method: "PATCH", json: { active: !endpoint.active } });
      setStatus(answer.ok ? `${endpoint.url} is turned ${endpoint.active ? "off" : "on"}.` : errorText(answer.body, "It could not be changed."), answer.ok ? "info" : "error");
      loadWebhooks();
    }),
    textButton("Deliveries", `Show the deliveries to ${endpoint.url}`, () => {
      $("deliveries").hidden = false;
      $("deliveries-heading").textContent = `Deliveries to ${endpoint.url}`;
      deliveries.show(`/api/v1/webhooks/${endpoint.id}/deliveries/?page_size=20`);
    }),
    textButton("New secret", `New secret for ${endpoint.url}`, async () => {
      const answer = await act(`/api/v1/webhooks/${endpoint.id}/rotate-secret/`, "POSTs are signed with the new secret from now on.", "It could not be rotated.");
      if (answer.ok) showOnce("webhook-secret", answer.body.secret);
    }),
    textButton("Delete", `Delete ${endpoint.url}`, async () => {
      if (!confirm(`Delete ${endpoint.url} and its deliveries?`)) return;
      const answer = await api(`/api/v1/webhooks/${endpoint.id}/`, { method: "DELETE" });
      setStatus(answer.ok ? `${endpoint.url} is deleted.` : errorText(answer.body, "It could not be deleted."), answer.ok ? "info" : "error");
      loadWebhooks();
    }),
  ];
  return element("tr", {}, [cell(element("code", { textContent: endpoint.url })), cell(endpoint.events.join(", ")), cell(state), cell(element("span", {}, actions))]);
}

const loadWebhooks = () => loadRows("/api/v1/webhooks/", "webhooks-list", webhookRow, "The webhooks could not be loaded.");

$("webhook-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const answer = await api("/api/v1/webhooks/", { method: "POST", json: { url: data.get("url"), events: data.getAll("events") } });
  if (!answer.ok) {
    setStatus(errorText(answer.body, "The endpoint could not be added."), "error");
    return;
  }
  form.reset();
  setStatus(`${answer.body.url} is added.`, "info");
  showOnce("webhook-secret", answer.body.secret);
  loadWebhooks();
});

loadKeys();
loadWebhooks();

// Single sign-on (/api/v1/sso/): one identity provider; its secret is written, never read back.
const ssoForm = $("sso-form");

function ssoFill(connection) {
  const fields = ssoForm.elements;
  fields.issuer.value = connection.issuer;
  fields.client_id.value = connection.client_id;
  fields.client_secret.value = "";
  fields.client_secret.placeholder = connection.client_secret_set ? "saved" : "";
  fields.allowed_domains.value = connection.allowed_domains.join("\n");
  fields.role_claim.value = connection.role_claim;
  fields.role_map.value = Object.entries(connection.role_map).map(([group, role]) => `${group} = ${role}`).join("\n");
  fields.default_role.value = connection.default_role;
  fields.enabled.checked = connection.enabled;
  fields.sso_only.checked = connection.sso_only;
  $("sso-remove").hidden = false;
}

async function loadSso() {
  const answer = await api("/api/v1/sso/");
  if (answer.ok) ssoFill(answer.body);
  else if (answer.status !== 404) setStatus(errorText(answer.body, "Single sign-on could not be loaded."), "error");
}

ssoForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(ssoForm);
  const roleMap = {};
  for (const line of String(data.get("role_map")).split("\n")) {
    const [group, role] = line.split("=").map((part) => part.trim());
    if (group && role) roleMap[group] = role;
  }
  const json = {
    issuer: data.get("issuer"),
    client_id: data.get("client_id"),
    allowed_domains: String(data.get("allowed_domains")).split(/\s+/).filter(Boolean),
    role_claim: data.get("role_claim"),
    role_map: roleMap,
    default_role: data.get("default_role"),
    enabled: data.get("enabled") === "on",
    sso_only: data.get("sso_only") === "on",
  };
  if (data.get("client_secret")) json.client_secret = data.get("client_secret");
  const answer = await api("/api/v1/sso/", { method: "PUT", json });
  if (!answer.ok) {
    setStatus(errorText(answer.body, "Single sign-on could not be saved."), "error");
    return;
  }
  ssoFill(answer.body);
  setStatus("Single sign-on is saved.", "info");
});

$("sso-remove").addEventListener("click", async () => {
  if (!confirm("Remove single sign-on? People without a password cannot sign in until it is set up again.")) return;
  const answer = await api("/api/v1/sso/", { method: "DELETE" });
  if (!answer.ok) {
    setStatus(errorText(answer.body, "Single sign-on could not be removed."), "error");
    return;
  }
  ssoForm.reset();
  $("sso-remove").hidden = true;
  setStatus("Single sign-on is removed.", "info");
});

loadSso();

// Provisioning (/api/v1/scim/groups/): the groups the identity provider pushed, each with the role
// it gives its members, which owners and admins set here (the provider never does).
const GROUP_ROLES = ["", "admin", "agent", "viewer", "member"];

function groupRow(group) {
  const select = element("select", { ariaLabel: `Role the group ${group.display_name} gives` },
    GROUP_ROLES.map((role) => element("option", { value: role, textContent: role || "none", selected: role === group.role })));
  select.addEventListener("change", async () => {
    const answer = await api(`/api/v1/scim/groups/${group.id}/`, { method: "PATCH", json: { role: select.value } });
    setStatus(answer.ok ? `${group.display_name} gives ${select.value || "no role"} now.` : errorText(answer.body, "The role could not be set."), answer.ok ? "info" : "error");
    if (!answer.ok) select.value = group.role;
  });
  return element("tr", {}, [cell(group.display_name), cell(String(group.members)), cell(select)]);
}

async function loadGroups() {
  const answer = await api("/api/v1/scim/groups/");
  if (!answer.ok) {
    setStatus(errorText(answer.body, "The provisioned groups could not be loaded."), "error");
    return;
  }
  $("scim-groups").replaceChildren(...answer.body.map(groupRow));
  $("scim-none").hidden = answer.body.length > 0;
}

loadGroups();
