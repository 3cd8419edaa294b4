// The console's Conversations room: the tenant's conversations (REST /api/v1/conversations/,
// newest first, paged), searched in their messages, filtered by member and outcome, each read
// in place (…/{id}/messages/) and exported (…/export/, CSV with the same filters).
import { errorText, pagedList, restClient } from "../chat/api.js";
import { $, cell, clock, element, textButton, usd } from "../chat/dom.js";
import { markdownRenderer } from "../chat/markdown.js";

const root = $("conversations-room");
const api = restClient(root.dataset.csrf);
const render = markdownRenderer([]);
const form = $("conversation-filters");

function query() {
  const data = new FormData(form);
  const params = new URLSearchParams({ page_size: "50" });
  for (const name of ["q", "user"]) if (data.get(name)) params.set(name, data.get(name));
  if (data.get("outcome")) params.set(data.get("outcome"), "true");
  return params;
}

function outcome(c) {
  return [c.resolved && "resolved", c.escalated && "asked for a person", c.handoff === "human" && "with a person"]
    .filter(Boolean).join(", ") || "–";
}

function row(c) {
  const open = textButton(c.title || `Conversation ${c.id}`, `Read the conversation ${c.title || c.id}`, () => show(c));
  return element("tr", {}, [
    cell(open), cell(c.user), cell(c.site ? `widget site ${c.site}` : "chat page"),
    cell(new Date(c.started_at).toLocaleString()), cell(String(c.message_count)), cell(outcome(c)),
    cell(c.rating ? `${c.rating}/5` : "–"),
  ]);
}

const conversations = pagedList({
  api,
  body: $("conversations-list"),
  more: $("conversations-more"),
  row,
  told(answer, first) {
    const status = $("conversations-status");
    if (!answer.ok) {
      status.textContent = errorText(answer.body, "The conversations could not be loaded.");
      return;
    }
    status.textContent = first ? `${answer.body.count} conversation${answer.body.count === 1 ? "" : "s"}.` : "";
    const exportParams = query();
    exportParams.delete("page_size");
    exportParams.set("format", "csv");
    $("conversations-export").href = `/api/v1/conversations/export/?${exportParams}`;
  },
});

async function show(c) {
  const answer = await api(`/api/v1/conversations/${c.id}/messages/?page_size=500`);
  if (!answer.ok) {
    $("conversations-status").textContent = errorText(answer.body, "It could not be opened.");
    return;
  }
  const log = $("conversation-view-log");
  log.replaceChildren(...answer.body.results.map((m) => {
    const who = m.role === "agent" ? m.author : m.role === "user" ? c.user : "assistant";
    const body = element("div", { className: "body" });
    if (m.role === "user") body.textContent = m.content;
    else render(body, m.content, true);
    const meta = element("div", { className: "meta" }, [element("span", { className: "author", textContent: who }), clock(m.created_at)]);
    if (m.role === "assistant" && m.model) meta.append(element("span", { textContent: `${m.model} · ${usd(m.cost_usd)}` }));
    return element("div", { className: `msg ${m.role === "agent" ? "assistant agent" : m.role}` }, [body, meta]);
  }));
  $("conversation-view-title").textContent = c.title || `Conversation ${c.id}`;
  $("conversation-view").hidden = false;
  $("conversation-view").scrollIntoView({ behavior: "smooth" });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  conversations.show(`/api/v1/conversations/?${query()}`);
});
conversations.show(`/api/v1/conversations/?${query()}`);
