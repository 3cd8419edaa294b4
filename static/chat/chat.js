// The web chat page: protocol v1 over a session-authenticated WebSocket (docs/protocol.md), and
// the REST API for the conversation list (docs/protocol.md § "What the chat page uses").
//
// It survives a network drop and a reload mid-answer: the open conversation and the message not
// yet answered live in localStorage; after a reconnect (backoff 1, 2, 4 … 30 s with jitter) the
// answer still streaming is resumed from the last frame shown (`resume`), a message never
// answered is sent again with its client_id (the server answers each client_id once), and a
// reload shows the conversation's stored messages again (REST) before resuming.
//
// This module holds the page's state, the socket and its frames, and the composer; what it
// shows is drawn by messages.js (the transcript) and conversations.js (the sidebar).
import { errorText, restClient, upload } from "./api.js";
import { conversationList } from "./conversations.js";
import { $, element, enterSubmits, icon, iconButton, statusLine } from "./dom.js";
import { markdownRenderer } from "./markdown.js";
import { transcript } from "./messages.js";
import {
  MAX_BACKOFF_S, keep, recall, reconnectDelay, renderSoon, resumeFrame, typingTeller, uuid4,
} from "./protocol.js";

const root = $("chat");
const log = $("log");
const setStatus = statusLine($("status"));
const form = $("composer");
const input = $("input");
const sendButton = $("send");
const stopButton = $("stop");
const resolveButton = $("resolve");
const escalateButton = $("escalate");
const attachButton = $("attach");
const fileInput = $("file-input");
const attachedList = $("attached");
const starters = $("starters"); // the tenant's starter questions (none: null)
const storageKey = root.dataset.storageKey;
const request = restClient(root.dataset.csrf);

let socket = null;
let ready = false; // the server sent `ready` on this socket: frames may be sent
let attempts = 0; // reconnects since the last `ready`
let stopped = false; // signed out or rights gone: no more reconnects
// Model, tokens and cost under each answer: the page says so first (the history is drawn before
// the socket is ready), then each `ready.show_usage`.
let showUsage = root.dataset.showUsage === "true";
let greeting = "";
// What survives a reload: {conversationId, pending: {content, clientId} | null}.
const saved = recall(storageKey);
let conversationId = saved.conversationId || null;
let pending = saved.pending || null; // sent but not answered yet
let answer = null; // {el, body, text, seq, timer, messageId} of the answer being shown
let attached = []; // files uploaded for the next message: {id, filename}
let editing = null; // the last question, being edited in the box: sent, it replaces its turn
let undoReplace = null; // takes back the version just added, should its message be refused

function save() {
  keep(storageKey, { conversationId, pending });
}

// The REST calls of this page: the answer's JSON, or a throw carrying the HTTP status.
async function api(url, options) {
  const opts = options || {};
  const { ok, status, body } = await request(url, { method: opts.method, json: opts.body });
  if (!ok) {
    const error = new Error(`${status}`);
    error.status = status;
    throw error;
  }
  return body;
}

const render = markdownRenderer(new Set(JSON.parse($("image-hosts").textContent)));
const messages = transcript({
  log,
  render,
  showUsage: () => showUsage,
  canCurate: root.dataset.curate === "true",
  actions: { send, resend, editLast, regenerate, saveCurated },
});
const sidebar = conversationList({ api, current: () => conversationId, open: openConversation, setStatus });

// The answer and its question become a curated answer of the tenant: given as written to the
// next question like it (its phrasings and text can be edited in the console).
async function saveCurated(el) {
  try {
    await api("/api/v1/knowledge/curated/", { method: "POST", body: { message_id: Number(el.dataset.messageId) } });
    el.querySelector(".curate")?.remove();
    setStatus("Saved as a curated answer: add other phrasings in the console.");
  } catch (e) {
    setStatus(e.status === 400 ? "Another curated answer already has this question." : "It could not be saved.", "error");
  }
}

function setStreaming(on) {
  sendButton.disabled = on;
  stopButton.hidden = !on;
  root.classList.toggle("streaming", on);
}

function currentAnswer(messageId) {
  if (!answer || answer.messageId !== messageId) {
    const el = messages.bubble("assistant", "", null);
    answer = { el, body: el.querySelector(".body"), text: "", seq: 0, timer: null, messageId };
  }
  return answer;
}

function finishAnswer(a, frame) {
  clearTimeout(a.timer);
  a.timer = null;
  render(a.body, a.text, true);
  messages.answerFooter(a.el, { ...frame, messageId: frame.message_id, text: a.text, curated: a.curated });
  answer = null;
}

function settle() {
  pending = null;
  undoReplace = null;
  save();
  root.classList.remove("typing");
  setStreaming(false);
}

// -- sending ---------------------------------------------------------------------------------

// `replaces`: the last answer's id, whose turn this message replaces (Regenerate, edit).
function ask(content, files, { regenerate = false, replaces = null } = {}) {
  pending = { content, clientId: uuid4(), files: files || [], regenerate, replaces };
  save();
  const bubble = showPending();
  if (starters) starters.hidden = true;
  setStreaming(true);
  if (ready && socket && socket.readyState === WebSocket.OPEN) {
    setStatus("");
  } else {
    // Kept (localStorage) and sent when the connection is back: `pickUp` after `ready`.
    bubble.classList.add("queued");
    setStatus("You are offline: your message will be sent when the connection is back.", "warn");
  }
  sendPending();
}

// The pending question on screen; a new version of the last turn when it replaces it.
function showPending() {
  const bubble = messages.userBubble(pending.content, undefined, pending.files);
  if (pending.replaces) undoReplace = messages.replaceLast(bubble);
  return bubble;
}

function sendPending() {
  const frame = { type: "message", content: pending.content, client_id: pending.clientId };
  if (pending.files && pending.files.length) frame.attachments = pending.files.map((f) => f.id);
  if (pending.regenerate) frame.regenerate = true;
  if (pending.replaces) frame.replaces = pending.replaces;
  send(frame);
}

// -- attachments: uploaded first (REST), then named by the message ----------------------------

async function attach(files) {
  for (const file of files) {
    const body = new FormData();
    body.append("file", file);
    const uploaded = await upload("/api/v1/attachments/", body, root.dataset.csrf, (done) => {
      setStatus(`Uploading ${file.name}… ${Math.round(done * 100)} %`);
    });
    if (!uploaded.ok) {
      setStatus(`${file.name}: ${errorText(uploaded.body, "the upload failed")}`, "error");
      continue;
    }
    const { id, filename, content_type: contentType } = uploaded.body;
    attached.push({ id, filename, content_type: contentType });
    setStatus("");
  }
  showAttached();
}

function showAttached() {
  attachedList.replaceChildren(...attached.map((f) => {
    const remove = iconButton(`Remove ${f.filename}`, "cross", () => {
      attached = attached.filter((a) => a.id !== f.id);
      showAttached();
    });
    return element("li", {}, [...messages.thumbnail(f), element("span", { textContent: f.filename }), remove]);
  }));
}

// Retry: a refused question again, as a new message (a new client_id).
function resend(content) {
  if (sendButton.disabled || !content) return;
  ask(content, []);
}

// The id of the last answer when it ends the conversation: the turn Regenerate and edit replace.
function replaceable() {
  const last = log.lastElementChild;
  return last && last.matches(".msg.assistant:not(.agent)") && last.dataset.messageId ? Number(last.dataset.messageId) : null;
}

// The last question again, answered anew by the tenant's default model (never from a cache), as
// a new version of the turn (‹ n/m ›).
function regenerate() {
  const questions = log.querySelectorAll(".msg.user");
  const last = questions[questions.length - 1];
  const replaces = replaceable();
  if (last && replaces && !sendButton.disabled) ask(last.dataset.content, [], { regenerate: true, replaces });
}

// The last question in the box: sent, it replaces its turn (a refused one is simply sent again).
function editLast(el) {
  editing = el;
  input.value = el.dataset.content;
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
  setStatus("Editing your question: send it to replace the answer, Esc to cancel.", "info");
}

function stopEditing() {
  editing = null;
  input.value = "";
  setStatus("");
}

function send(frame) {
  if (ready && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

// The user's typing, for the person of the team who follows this conversation (issue 33).
const typing = typingTeller((frame) => send({ type: "typing", ...frame }));

// After (re)connecting: follow the answer to the pending message, wherever it is.
function pickUp(resumable) {
  if (!pending) return;
  setStreaming(true);
  const resume = resumeFrame(pending, answer, resumable);
  // What is on screen stays only when the resume continues it.
  if (answer && !(resume && resume.after)) { answer.el.remove(); answer = null; }
  if (resume) send(resume);
  else sendPending();
}

// -- frames ----------------------------------------------------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case "ready":
      conversationId = frame.conversation_id;
      showUsage = Boolean(frame.show_usage);
      save();
      ready = true;
      attempts = 0;
      setStatus("");
      for (const queued of log.querySelectorAll(".msg.queued")) queued.classList.remove("queued");
      if (frame.greeting && !greeting) {
        greeting = frame.greeting;
        log.prepend(messages.bubble("assistant greeting", frame.greeting, null));
      }
      pickUp(frame.resumable);
      break;
    case "typing":
      root.classList.toggle("typing", frame.active);
      break;
    case "token": {
      const a = currentAnswer(frame.message_id);
      if (frame.seq <= a.seq) break; // already shown (a replay from the start)
      a.seq = frame.seq;
      a.text += frame.content;
      renderSoon(a, render, log);
      break;
    }
    case "response": {
      const a = currentAnswer(frame.message_id);
      a.text = frame.content;
      a.curated = Boolean(frame.curated);
      break;
    }
    case "done":
      finishAnswer(currentAnswer(frame.message_id), frame);
      settle();
      sidebar.refresh();
      break;
    case "error":
      onError(frame);
      break;
    case "ping": // the server's heartbeat: answer, or it closes the connection (4408)
      send({ type: "pong" });
      break;
    case "pong":
      break;
    case "tool": // the model called one of the tenant's tools for this answer
      messages.showTool(currentAnswer(frame.message_id).el, frame);
      break;
    case "rated": {
      const el = log.querySelector(`.msg[data-message-id="${frame.message_id}"]`);
      if (el) messages.showRating(el, frame.rating);
      break;
    }
    case "resolved":
      typing.enabled = false;
      showSupport({ resolved: true });
      setStatus("Glad it is solved. Thanks for letting us know!", "info");
      break;
    case "escalated":
      typing.enabled = true;
      showSupport({ escalated: true });
      setStatus(
        frame.notified
          ? "A member of our team has been notified and will get back to you."
          : "Your request for a human is recorded: the team will see it in this conversation.",
        "info",
      );
      break;
    // A person of the team holds the conversation (issue 33): the message went to them, their
    // replies arrive as `agent_message`; `handoff` says who holds it. Pushed to all the user's
    // sockets: only this conversation's are shown.
    case "held":
      if (frame.conversation_id === conversationId) {
        settle();
        setStatus("Your message went to the person helping you.", "info");
      }
      break;
    case "agent_message":
      if (frame.conversation_id === conversationId) {
        messages.bubble("assistant agent", `**${frame.agent}**: ${frame.content}`, null);
        setStatus("");
      }
      break;
    case "title": // written in the background after the first answer: the heading follows
      if (frame.conversation_id === conversationId) sidebar.showTitle(frame.title);
      sidebar.refresh();
      break;
    case "agent_typing":
      if (frame.conversation_id === conversationId) setStatus(frame.active ? `${frame.agent} is typing…` : "", "info");
      break;
    case "handoff":
      if (frame.conversation_id === conversationId) {
        typing.enabled = frame.state === "human";
        setStatus(frame.state === "human" ? `${frame.agent} joined the conversation.` : "The assistant answers again.", "info");
      }
      break;
    case "notice": // pushed to all the user's sockets (an operator's announcement)
      setStatus(frame.text, "info");
      break;
  }
}

function onError(frame) {
  setStatus(frame.message, "error");
  if (answer || !pending) return; // an error after `done`, or about something else
  if (frame.code === "SERVICE_UNAVAILABLE" || frame.code === "NOT_FOUND") {
    // Not answered yet, not refused either: ask again (same client_id) in a moment.
    const delay = Math.min(frame.retry_after || 1, MAX_BACKOFF_S) * 1000;
    setTimeout(() => pickUp([]), delay);
    return;
  }
  // Refused (a limit, a blocked topic, a bad message): it will not be answered. A new version is
  // taken back (the turn it was to replace stays); another question can be retried.
  if (undoReplace) {
    undoReplace();
    settle();
    return;
  }
  const questions = log.querySelectorAll(".msg.user");
  const last = questions[questions.length - 1];
  if (last) last.dataset.refused = frame.code;
  settle();
}

function showSupport(state) {
  if (state.resolved !== undefined) {
    resolveButton.disabled = state.resolved;
    resolveButton.textContent = state.resolved ? "Marked as solved ✓" : "My problem is solved";
  }
  if (state.escalated !== undefined) {
    escalateButton.disabled = state.escalated;
    escalateButton.textContent = state.escalated ? "Human requested ✓" : "Talk to a human";
  }
}

// -- the socket ------------------------------------------------------------------------------

function connect() {
  if (stopped) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const path = root.dataset.wsPath + (conversationId ? `${conversationId}/` : "");
  ready = false;
  const ws = new WebSocket(`${scheme}://${location.host}${path}`);
  socket = ws;
  ws.onmessage = (event) => { if (ws === socket) onFrame(JSON.parse(event.data)); };
  ws.onclose = (event) => { if (ws === socket) onClose(event); };
}

function disconnect() {
  const old = socket;
  socket = null;
  ready = false;
  if (old) old.close(1000);
}

function onClose(event) {
  ready = false;
  root.classList.remove("typing");
  if (answer) { clearTimeout(answer.timer); answer.timer = null; }
  const final = {
    4403: "Your access to this workspace has changed. Reload the page to continue.",
    // The sign-in ended (logout elsewhere, a password change, the session expired).
    4401: "You have been signed out. Reload the page to sign in again.",
    4429: "Too many chat windows are open: close one, then reload this page.",
  }[event.code];
  if (final) {
    if (event.code !== 4429) stopped = true;
    setStatus(final, "error");
    setStreaming(false);
    return;
  }
  if (event.code === 4404) {
    // Deleted (here or in another window), or never the caller's: a new chat instead.
    openConversation(null).then(() => setStatus("That conversation is no longer available.", "warn"));
    return;
  }
  if (event.code === 1012) {
    // The server is restarting (drained): reconnect at once, to another instance.
    setStatus("Server restarting, reconnecting…", "warn");
    setTimeout(connect, 100 + Math.random() * 400);
    return;
  }
  const delay = reconnectDelay(attempts);
  attempts += 1;
  setStatus(`Connection lost, reconnecting in ${Math.ceil(delay / 1000)} s…`, "warn");
  setTimeout(() => { if (!socket || socket.readyState === WebSocket.CLOSED) connect(); }, delay);
}

// -- the open conversation -------------------------------------------------------------------

// The conversation's stored messages (REST), then its title and support state.
async function restore() {
  if (!conversationId) return;
  const id = conversationId;
  try {
    const [page, detail] = await Promise.all([
      api(`/api/v1/conversations/${id}/messages/?page_size=500&versions=true`),
      api(`/api/v1/conversations/${id}/`),
    ]);
    if (id !== conversationId) return;
    // Earlier versions by the question that replaced them (docs/protocol.md "Versions").
    const replaced = new Map();
    for (const m of page.results) {
      if (m.replaced_by) replaced.set(m.replaced_by, [...(replaced.get(m.replaced_by) || []), m]);
    }
    for (const m of page.results) {
      // The pending message was answered before the reload: nothing to pick up.
      if (pending && m.client_id === pending.clientId) { pending = null; save(); }
      if (m.replaced_by) continue;
      const el = drawStored(m);
      const earlier = [];
      for (let older = replaced.get(m.id); m.role === "user" && older; older = replaced.get(older[0].id)) {
        earlier.unshift(older.map((o) => { const e = drawStored(o); e.remove(); return e; }));
      }
      if (earlier.length) messages.keepVersions(earlier, el);
    }
    sidebar.showTitle(detail.title);
    showSupport({ resolved: detail.resolved, escalated: detail.escalated });
    typing.enabled = detail.handoff === "waiting" || detail.handoff === "human";
  } catch (e) {
    // 404: a pending conversation (no message yet) or one deleted meanwhile: the socket
    // says which. Offline: the socket's reconnects will bring the page back.
  }
}

// One stored message on screen (the REST message), at the end of the log.
function drawStored(m) {
  if (m.role === "user") return messages.userBubble(m.content, m.created_at, m.attachments);
  if (m.role === "agent") { // a person of the team wrote it (issue 33)
    return messages.bubble("assistant agent", `**${m.author}**: ${m.content}`, m.created_at);
  }
  const el = messages.bubble("assistant", m.content, m.created_at);
  for (const call of m.tool_calls || []) messages.showTool(el, call);
  messages.answerFooter(el, {
    when: m.created_at, model: m.model, cost_usd: m.cost_usd, finish_reason: m.finish_reason,
    usage: { input_tokens: m.input_tokens, output_tokens: m.output_tokens },
    messageId: m.id, rating: m.rating, text: m.content, sources: m.sources, curated: Boolean(m.curated_answer),
    savedAsCurated: m.saved_as_curated,
  });
  return el;
}

async function openConversation(id) {
  disconnect();
  if (answer) { clearTimeout(answer.timer); answer = null; }
  conversationId = id;
  pending = null;
  undoReplace = null;
  editing = null;
  greeting = "";
  save();
  log.replaceChildren();
  setStatus("");
  setStreaming(false);
  showSupport({ resolved: false, escalated: false });
  typing.stop();
  typing.enabled = false;
  sidebar.showTitle("");
  sidebar.closeDrawer();
  await restore();
  showStarters();
  connect();
}

// -- wiring ----------------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const content = input.value.trim();
  if (!content || sendButton.disabled) return;
  input.value = "";
  typing.stop();
  const files = attached;
  attached = [];
  showAttached();
  const questions = log.querySelectorAll(".msg.user");
  const replaces = editing && editing === questions[questions.length - 1] ? replaceable() : null;
  editing = null;
  ask(content, files, { replaces });
});

enterSubmits(input, form);
input.addEventListener("input", () => typing.keyed());

// Shortcuts: Esc stops the answer (or closes the drawer), Ctrl+Shift+O (⌘⇧O) starts a new chat,
// Ctrl+K (⌘K) searches the conversations.
document.addEventListener("keydown", (event) => {
  const mod = event.ctrlKey || event.metaKey;
  if (event.key === "Escape") {
    if (sidebar.closeDrawer()) return;
    if (!stopButton.hidden) send({ type: "cancel" });
    else if (editing) stopEditing();
  } else if (mod && event.shiftKey && event.key.toLowerCase() === "o") {
    event.preventDefault();
    openConversation(null);
  } else if (mod && !event.shiftKey && event.key.toLowerCase() === "k") {
    event.preventDefault();
    sidebar.search();
  }
});

$("new-chat").addEventListener("click", () => openConversation(null));
stopButton.addEventListener("click", () => send({ type: "cancel" }));
resolveButton.addEventListener("click", () => send({ type: "resolve" }));
escalateButton.addEventListener("click", () => send({ type: "escalate" }));

attachButton.append(icon("clip"));
attachButton.addEventListener("click", () => fileInput.click());
fileInput.addEventListener("change", () => {
  attach([...fileInput.files]);
  fileInput.value = "";
});
root.addEventListener("dragover", (event) => {
  event.preventDefault();
  root.classList.add("dropping");
});
root.addEventListener("dragleave", () => root.classList.remove("dropping"));
root.addEventListener("drop", (event) => {
  event.preventDefault();
  root.classList.remove("dropping");
  attach([...event.dataTransfer.files]);
});

// The tenant's starter questions, offered while the chat is empty.
function showStarters() {
  if (starters) starters.hidden = Boolean(log.querySelector(".msg.user"));
}
for (const button of starters ? starters.querySelectorAll(".starter") : []) {
  button.addEventListener("click", () => {
    if (!sendButton.disabled) ask(button.textContent);
    showStarters();
  });
}

restore().then(() => {
  if (pending) showPending();
  showStarters();
  connect();
});
input.focus(); // the page is for writing: the box has the focus from the start
