// The console's Usage room: this month's tokens and cost (REST /api/v1/usage/), against the
// tenant's monthly budget, by model and by member, in the units people read.
import { errorText, restClient } from "../chat/api.js";
import { $, cell, element, usd } from "../chat/dom.js";

const root = $("usage");
const api = restClient(root.dataset.csrf);
const count = (n) => Number(n || 0).toLocaleString();

function rows(body, list, name) {
  body.replaceChildren(...list.map((row) => element("tr", {}, [
    cell(name(row)), cell(count(row.answers)), cell(count(row.input_tokens)), cell(count(row.output_tokens)),
    cell(usd(row.cost_usd)),
  ])));
  if (!list.length) {
    const empty = cell("No answer yet this month.");
    empty.colSpan = 5;
    body.replaceChildren(element("tr", {}, [empty]));
  }
}

(async () => {
  const answer = await api("/api/v1/usage/");
  if (!answer.ok) {
    $("usage-status").textContent = errorText(answer.body, "The usage could not be loaded.");
    return;
  }
  const { budget, totals, by_model: byModel, by_user: byUser } = answer.body;
  const used = `${count(budget.tokens_used)} tokens used in ${budget.month}, ${usd(totals.cost_usd)}`;
  const meter = $("usage-budget");
  if (budget.monthly_token_budget === null) {
    $("usage-budget-text").textContent = `${used}; no monthly token budget. Resets on ${budget.resets_on}.`;
  } else {
    const share = budget.tokens_used / budget.monthly_token_budget;
    $("usage-budget-text").textContent =
      `${used}, of ${count(budget.monthly_token_budget)} (${Math.round(share * 100)} %). Resets on ${budget.resets_on}.`;
    meter.value = Math.min(share, 1);
    meter.low = 0.8;
    meter.high = 0.95;
    meter.optimum = 0;
    meter.hidden = false;
  }
  rows($("usage-models"), byModel, (row) => row.model);
  rows($("usage-members"), byUser, (row) => row.username || "(deleted)");
})();
