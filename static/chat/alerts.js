// The console's alerts: the history (acknowledge), and the rules (threshold, window, minimum
// samples, mute), all through the REST API (/api/v1/alerts/). Figures are shown and edited in the
// units people read (%, seconds, minutes, dollars); the API keeps its own (fractions, seconds).
import { restClient } from "./api.js";
import { cell, element, textButton } from "./dom.js";

const root = document.getElementById("alerts");
const history = document.getElementById("alert-history");
const rules = document.getElementById("alert-rules");
const statusLine = document.getElementById("alerts-status");
const manage = root.dataset.manage === "true";
const request = restClient(root.dataset.csrf);
const NAMES = {
  response_p50_s: "response time p50", response_p99_s: "response time p99",
  resolution_rate: "resolution rate", escalation_rate: "escalation rate", error_rate: "error rate",
  active_users_drop: "active users, drop week over week", cost_per_conversation: "cost per conversation",
  csat: "CSAT", safety_spike: "safety violations, times usual",
  first_human_reply_p90_s: "time to a person's first reply p90",
};
// Each figure's unit as people read it: the API's value times `scale`, then `unit`.
const PERCENT = { scale: 100, unit: "%" };
const UNITS = {
  resolution_rate: PERCENT, escalation_rate: PERCENT, error_rate: PERCENT, active_users_drop: PERCENT,
  response_p50_s: { scale: 1, unit: "s" }, response_p99_s: { scale: 1, unit: "s" },
  first_human_reply_p90_s: { scale: 1 / 60, unit: "min" },
  cost_per_conversation: { scale: 1, unit: "USD" }, csat: { scale: 1, unit: "of 5" },
  safety_spike: { scale: 1, unit: "× usual" },
};
const unitOf = (metric) => UNITS[metric] || { scale: 1, unit: "" };
const shown = (metric, value) => `${Number((value * unitOf(metric).scale).toPrecision(3))} ${unitOf(metric).unit}`.trim();

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
    tr.append(cell(NAMES[a.metric] || a.metric), cell(a.state), cell(shown(a.metric, a.value)), cell(shown(a.metric, a.threshold)),
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
    const { scale, unit } = unitOf(r.metric);
    const threshold = field("number", Number((r.threshold * scale).toPrecision(6)), `${name}: threshold in ${unit || "units"}`, { step: "any" });
    const withUnit = element("span", { className: "with-unit" }, [threshold, element("span", { textContent: unit })]);
    const windowMinutes = field("number", r.window_minutes, `${name}: window in minutes`, { min: 5 });
    const minSamples = field("number", r.min_samples, `${name}: minimum samples`, { min: 1 });
    const muted = field("checkbox", r.muted, `${name}: muted`);
    tr.append(cell(name), cell(r.direction), cell(withUnit), cell(windowMinutes), cell(minSamples), cell(muted));
    if (manage) {
      const save = textButton("Save", `Save the ${name} rule`, async () => {
        try {
          await api(`/api/v1/alerts/rules/${r.id}/`, {
            method: "PATCH",
            json: {
              threshold: Number(threshold.value) / scale, window_minutes: Number(windowMinutes.value),
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
