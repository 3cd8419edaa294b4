// The support team's inbox (issue 33): the conversations waiting for a person or held by one
// (REST /api/v1/inbox/, mine / unassigned / all, search, channel), one conversation's whole
// transcript with the team's private notes, and the moves: take, assign (owners and admins),
// reply, note, hand back, resolve. The inbox socket (/ws/inbox/, docs/protocol.md) keeps it live:
// the counts, the team's presence, the user's messages and typing, colleagues' replies and notes;
// this agent's typing goes to the user of a conversation they hold. After 5 minutes without
// input, or while the page is hidden, the agent is away: round robin passes them by.
import { errorText, restClient } from "../chat/api.js";
import { $, clock, drawer, element, enterSubmits, statusLine, usd } from "../chat/dom.js";
import { markdownRenderer } from "../chat/markdown.js";
import { reconnectDelay, typingTeller } from "../chat/protocol.js";

const AWAY_AFTER_MS = 5 * 60 * 1000;
const SEARCH_DELAY_MS = 250;

const root = $("inbox");
const api = restClient(root.dataset.csrf);
const assigns = root.dataset.assigns === "true";
const render = markdownRenderer([]);
const log = $("log");
const list = $("inbox-conversations");
const search = $("inbox-search");
const channel = $("inbox-channel");
const form = $("composer");
const input = $("input");
const typingLine = $("typing");
const sidebar = drawer(search);

let view = "all";
const me = root.dataset.me;
let current = null; // the open conversation: {id, assignee, handoff}
let socket = null;
let attempts = 0;
let away = false;
let idleTimer = null;
const shown = new Set(); // "m<id>" / "n<id>": what the transcript shows already

const setStatus = statusLine($("status"));

// -- the list --------------------------------------------------------------------------------

function showCounts(counts) {
  for (const el of document.querySelectorAll("[data-count]")) el.textContent = counts[el.dataset.count] ?? 0;
  document.title = `${counts.waiting ? `(${counts.waiting}) ` : ""}Inbox · chatplatform`;
}

function whoText(who) {
  if (who.kind === "member") return who.name;
  const parts = [who.name, who.email, who.verified ? "verified" : "anonymous", who.site && `on ${who.site}`];
  return parts.filter(Boolean).join(" · ");
}

function stateText(c) {
  return c.handoff === "waiting" ? "waiting" : `with ${c.assignee}`;
}

function item(c) {
  const li = element("li", { className: "conv inbox-item" });
  li.dataset.id = c.id;
  li.dataset.handoff = c.handoff;
  const button = element("button", { type: "button", className: "conv-open" }, [
    element("span", { className: "inbox-item-title", textContent: c.title || c.reason || `Conversation ${c.id}` }),
    element("span", { className: "inbox-item-who muted small", textContent: `${whoText(c.who)} · ${stateText(c)}` }),
  ]);
  button.addEventListener("click", () => open(c.id));
  li.append(button);
  li.classList.toggle("current", current !== null && current.id === c.id);
  return li;
}

async function loadList() {
  const query = new URLSearchParams({ view, q: search.value.trim(), channel: channel.value });
  const answer = await api(`/api/v1/inbox/?${query}`);
  if (!answer.ok) {
    setStatus(errorText(answer.body, "The inbox could not be loaded."), "error");
    return;
  }
  list.replaceChildren(...answer.body.map(item));
  $("inbox-empty").hidden = answer.body.length > 0;
}

let listTimer = null;
function loadListSoon() {
  clearTimeout(listTimer);
  listTimer = setTimeout(loadList, SEARCH_DELAY_MS);
}

async function loadChannels() {
  const answer = await api("/api/v1/sites/");
  if (!answer.ok) return;
  for (const site of answer.body.results || answer.body) {
    channel.append(element("option", { value: `site:${site.id}`, textContent: `Widget: ${site.name}` }));
  }
}

// -- one conversation --------------------------------------------------------------------------

function entry(kind, who, content, when) {
  const el = element("div", { className: `msg ${kind}` });
  const body = element("div", { className: "body" });
  if (kind === "user" || kind === "note") body.textContent = content;
  else render(body, content, true);
  const meta = element("div", { className: "meta" }, [element("span", { className: "author", textContent: who })]);
  meta.append(clock(when));
  el.append(body, meta);
  log.append(el);
  log.scrollTop = log.scrollHeight;
  return el;
}

function showItem(m) {
  const key = `${m.kind === "note" ? "n" : "m"}${m.id}`;
  if (shown.has(key)) return;
  shown.add(key);
  if (m.kind === "note") {
    entry("note", `Note by ${m.author}`, m.content, m.created_at);
    return;
  }
  if (m.role === "user") {
    const el = entry("user", "Customer", m.content, m.created_at);
    for (const f of m.attachments || []) {
      el.querySelector(".body").after(element("p", { className: "muted small", textContent: `📎 ${f.filename}` }));
    }
    return;
  }
  if (m.role === "agent") {
    entry("assistant agent", m.author, m.content, m.created_at);
    return;
  }
  const el = entry("assistant", `Assistant${m.model ? ` (${m.model})` : ""}`, m.content, m.created_at);
  if (m.tool_calls && m.tool_calls.length) {
    const tools = element("ul", { className: "tools" });
    for (const call of m.tool_calls) tools.append(element("li", { textContent: call.name || "tool" }));
    el.prepend(tools);
  }
  if (m.sources && m.sources.length) {
    const sources = element("ol", { className: "sources" });
    for (const s of m.sources) sources.append(element("li", { textContent: s.title + (s.heading ? ` · ${s.heading}` : "") }));
    el.querySelector(".body").after(sources);
  }
  if (m.rating) el.querySelector(".meta").append(element("span", { textContent: m.rating >= 4 ? "👍" : "👎" }));
}

const noteMode = $("note-mode");

// Reply (to the customer, once the conversation is the agent's) or a private note (any time).
function showComposer() {
  const mine = current.handoff === "human" && current.assignee === me;
  const note = noteMode.checked;
  $("send").textContent = note ? "Add note" : "Reply";
  $("send").disabled = !mine && !note;
  $("send").title = mine || note ? "" : "Take the conversation to reply";
  input.placeholder = note ? "A private note: only the team sees it" : "Reply to the customer (Enter sends)";
  form.classList.toggle("noting", note);
  if (note) typing.stop();
  typing.enabled = mine && !note;
}

function showActions() {
  const mine = current.handoff === "human" && current.assignee === me;
  $("actions").hidden = false;
  $("take").hidden = mine;
  $("take").textContent = current.handoff === "human" ? "Take over" : "Take it";
  form.hidden = false;
  showComposer();
}
noteMode.addEventListener("change", showComposer);

async function open(id) {
  const answer = await api(`/api/v1/inbox/${id}/`);
  if (!answer.ok) {
    setStatus(answer.status === 404 ? "This conversation is no longer in the inbox." : errorText(answer.body, "It could not be opened."), "error");
    return;
  }
  const c = answer.body.conversation;
  current = { id: c.id, assignee: c.assignee, handoff: c.handoff };
  history.replaceState(null, "", `?conversation=${c.id}`);
  shown.clear();
  log.replaceChildren();
  typingLine.textContent = "";
  $("conversation-title").textContent = c.title || `Conversation ${c.id}`;
  const rating = c.rating ? ` · CSAT ${c.rating}/5` : "";
  const reason = c.reason ? ` · ${c.reason}` : "";
  $("conversation-who").textContent = `${whoText(c.who)} · ${stateText(c)} · ${usd(c.cost_usd)}${rating}${reason}`;
  for (const m of answer.body.transcript) showItem(m);
  showActions();
  for (const li of list.querySelectorAll("li")) li.classList.toggle("current", Number(li.dataset.id) === c.id);
  sidebar.close();
  setStatus("");
}

async function move(path, body, done) {
  if (!current) return;
  const answer = await api(`/api/v1/inbox/${current.id}/${path}/`, { method: "POST", json: body || {} });
  if (!answer.ok) {
    setStatus(errorText(answer.body, "That did not work."), "error");
    return;
  }
  setStatus(done, "info");
  return answer;
}

$("take").addEventListener("click", async () => {
  if (await move("take", {}, "It is yours: the assistant is silent while you hold it.")) open(current.id);
});
$("hand-back").addEventListener("click", async () => {
  if (await move("hand-back", {}, "Handed back: the assistant answers again.")) closeConversation();
});
$("resolve").addEventListener("click", async () => {
  if (await move("resolve", {}, "Resolved.")) closeConversation();
});
if (assigns) {
  $("assign").addEventListener("click", async () => {
    const agent = $("assign-to").value;
    if (agent && await move("assign", { agent }, `Assigned to ${agent}.`)) open(current.id);
  });
}

function closeConversation() {
  current = null;
  typing.stop();
  typing.enabled = false;
  $("actions").hidden = true;
  form.hidden = true;
  log.replaceChildren();
  $("conversation-title").textContent = "Inbox";
  $("conversation-who").textContent = "";
  history.replaceState(null, "", location.pathname);
  loadList();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const content = input.value.trim();
  if (!content || $("send").disabled) return;
  const now = new Date().toISOString();
  if (noteMode.checked) {
    const answer = await move("notes", { content }, "Note added: only the team sees it.");
    if (!answer) return;
    input.value = "";
    showItem({ kind: "note", id: answer.body.id, author: me, content, created_at: now });
    return;
  }
  typing.stop();
  const answer = await move("reply", { content }, "");
  if (!answer) return;
  input.value = "";
  showItem({ kind: "message", id: answer.body.id, role: "agent", author: me, content, created_at: now });
});
enterSubmits(input, form);

// -- the inbox socket ----------------------------------------------------------------------

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

const typing = typingTeller((frame) => current && send({ type: "typing", conversation_id: current.id, ...frame }));
input.addEventListener("input", () => typing.keyed());

function showTeam(agents) {
  const team = $("team");
  team.replaceChildren(...agents.map((a) => element("li", { className: `agent ${a.state}` }, [
    element("span", { className: "dot", title: a.state }),
    element("span", { textContent: `${a.name}${a.agent === me ? " (you)" : ""}` }),
    element("span", { className: "visually-hidden", textContent: `: ${a.state}` }),
  ])));
  if (assigns) {
    const select = $("assign-to");
    const chosen = select.value;
    select.replaceChildren(...agents.map((a) => element("option", { value: a.agent, textContent: `${a.name} (${a.state})` })));
    if (chosen) select.value = chosen;
  }
}

function onFrame(frame) {
  const here = current && frame.conversation_id === current.id;
  switch (frame.type) {
    case "inbox_ready":
      attempts = 0;
      showCounts(frame.counts);
      showTeam(frame.agents);
      if (away) send({ type: "presence", away: true });
      break;
    case "inbox":
      showCounts(frame.counts);
      loadListSoon();
      if (here) {
        if (frame.state === "bot" || frame.state === "resolved") {
          setStatus(frame.state === "resolved" ? "This conversation was resolved." : "This conversation went back to the assistant.", "info");
          current.handoff = "bot";
          $("actions").hidden = true;
          form.hidden = true;
        } else {
          current.handoff = frame.state;
          current.assignee = frame.assignee;
          showActions();
        }
      }
      break;
    case "user_message":
      if (here) {
        typingLine.textContent = "";
        showItem({ kind: "message", id: frame.message_id, role: "user", content: frame.content, created_at: new Date().toISOString() });
      }
      break;
    case "agent_message":
      if (here) showItem({ kind: "message", id: frame.message_id, role: "agent", author: frame.agent, content: frame.content, created_at: new Date().toISOString() });
      break;
    case "note":
      if (here) showItem({ kind: "note", id: frame.note_id, author: frame.agent, content: frame.content, created_at: new Date().toISOString() });
      break;
    case "user_typing":
      if (here) typingLine.textContent = frame.active ? "The customer is typing…" : "";
      break;
    case "agents":
      showTeam(frame.agents);
      break;
    case "ping":
      send({ type: "pong" });
      break;
    case "error":
      setStatus(frame.message, "error");
      break;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/inbox/`);
  socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    if (event.code === 4401 || event.code === 4403) {
      setStatus("Your access to the inbox has ended: reload the page.", "error");
      return;
    }
    const delay = reconnectDelay(attempts++);
    setStatus(`Connection lost, reconnecting in ${Math.ceil(delay / 1000)} s…`, "warn");
    setTimeout(() => { connect(); loadList(); }, delay);
  });
}

// -- presence: away after a while without input, or while hidden --------------------------------

function setAway(value) {
  if (away === value) return;
  away = value;
  send({ type: "presence", away });
}

function active() {
  setAway(document.hidden);
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => setAway(true), AWAY_AFTER_MS);
}

for (const name of ["keydown", "pointerdown", "pointermove", "focus"]) window.addEventListener(name, active, { passive: true });
document.addEventListener("visibilitychange", active);

// -- start -------------------------------------------------------------------------------------

for (const button of document.querySelectorAll("[data-view]")) {
  button.addEventListener("click", () => {
    view = button.dataset.view;
    for (const b of document.querySelectorAll("[data-view]")) b.setAttribute("aria-pressed", String(b === button));
    loadList();
  });
}
search.addEventListener("input", loadListSoon);
channel.addEventListener("change", loadList);
document.addEventListener("keydown", (event) => { if (event.key === "Escape") sidebar.close(); });

connect();
active();
loadChannels();
loadList().then(() => {
  const asked = Number(new URLSearchParams(location.search).get("conversation"));
  if (asked) open(asked);
});
