// The console's alerts: the history (acknowledge), and the rules (threshold, window, minimum
// samples, mute), all through the REST API (/api/v1/alerts/).
import { restClient } from "./api.js";
import { cell, textButton } from "./dom.js";

const root = document.getElementById("alerts");
const history = document.getElementById("alert-history");
const rules = document.getElementById("alert-rules");
const statusLine = document.getElementById("alerts-status");
const manage = root.dataset.manage === "true";
const request = restClient(root.dataset.csrf);
const NAMES = {
  response_p50_s: "response time p50 (s)", response_p99_s: "response time p99 (s)",
  resolution_rate: "resolution rate", escalation_rate: "escalation rate", error_rate: "error rate",
  active_users_drop: "active users, drop week over week", cost_per_conversation: "cost per conversation (USD)",
  csat: "CSAT", safety_spike: "safety violations, times usual",
};

function field(type, value, label, props) {
  const input = Object.assign(document.createElement("input"), { type, ...props });
  if (type === "checkbox") input.checked = value;
  else input.value = value;
  input.disabled = !manage;
  input.setAttribute("aria-label", label);
  return input;
}

// The answer's body; an HTTP error is thrown (the callers say what failed).
async function api(url, options) {
  const response = await request(url, options);
  if (!response.ok) throw new Error(`${response.status}`);
  return response.body;
}

async function showHistory() {
  const alerts = await api("/api/v1/alerts/");
  history.replaceChildren(...alerts.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.state = a.state;
    let acknowledged = a.acknowledged_by ? `${a.acknowledged_by}, ${new Date(a.acknowledged_at).toLocaleString()}` : "–";
    if (!a.acknowledged_at && manage) {
      acknowledged = document.createElement("button");
      acknowledged.type = "button";
      acknowledged.className = "quiet";
      acknowledged.textContent = "Acknowledge";
      acknowledged.addEventListener("click", async () => {
        await api(`/api/v1/alerts/${a.id}/acknowledge/`, { method: "POST" });
        showHistory();
      });
    }
    tr.append(cell(NAMES[a.metric] || a.metric), cell(a.state), cell(a.value.toPrecision(3)), cell(a.threshold),
      cell(new Date(a.opened_at).toLocaleString()), cell(acknowledged));
    return tr;
  }));
  if (!alerts.length) {
    const tr = document.createElement("tr");
    const td = cell("No alert yet.");
    td.colSpan = 6;
    tr.append(td);
    history.append(tr);
  }
}

async function showRules() {
  const found = await api("/api/v1/alerts/rules/");
  rules.replaceChildren(...found.map((r) => {
    const tr = document.createElement("tr");
    const name = NAMES[r.metric] || r.metric;
    const threshold = field("number", r.threshold, `${name}: threshold`, { step: "any" });
    const windowMinutes = field("number", r.window_minutes, `${name}: window in minutes`, { min: 5 });
    const minSamples = field("number", r.min_samples, `${name}: minimum samples`, { min: 1 });
    const muted = field("checkbox", r.muted, `${name}: muted`);
    tr.append(cell(name), cell(r.direction), cell(threshold), cell(windowMinutes), cell(minSamples), cell(muted));
    if (manage) {
      const save = textButton("Save", `Save the ${name} rule`, async () => {
        try {
          await api(`/api/v1/alerts/rules/${r.id}/`, {
            method: "PATCH",
            json: {
              threshold: Number(threshold.value), window_minutes: Number(windowMinutes.value),
              min_samples: Number(minSamples.value), muted: muted.checked,
            },
          });
          statusLine.textContent = `The ${name} rule is saved.`;
        } catch (e) {
          statusLine.textContent = `The ${name} rule could not be saved (check its values).`;
        }
      });
      tr.append(cell(save));
    }
    return tr;
  }));
}

showHistory();
showRules();
