// The widget's panel: the page inside the iframe a site's snippet (widget.js) opens. A visitor
// chats here with protocol v1 (docs/protocol.md, "The website widget") on the widget's socket.
//
// What the visitor needs again later (their visitor token, the open conversation, the message
// not yet answered) is kept in this origin's localStorage, out of the host page's reach, so a
// reload or another page of the same site continues the conversation and resumes an answer
// still streaming. Where the browser gives a third-party frame no storage (Safari, Brave,
// Chrome with third-party cookies blocked), the host page keeps it for the panel instead
// (chatplatform:store / chatplatform:init), as Chatwoot's and Intercom's widgets do. A verified
// visitor's identity token comes from the host page (postMessage, from the allowed origin that
// framed the panel only) and is exchanged for a visitor token of theirs.
import { $, element, enterSubmits, icon, iconButton } from "../chat/dom.js";
import { markdownRenderer } from "../chat/markdown.js";
import {
  MAX_BACKOFF_S, keep, recall, reconnectDelay, renderSoon, resumeFrame, typingTeller, uuid4,
} from "../chat/protocol.js";

const config = JSON.parse($("panel-config").textContent);
const t = config.strings;
const base = `/widget/${config.key}/`;
const storageKey = `chatplatform:widget:${config.key}`;
const render = markdownRenderer(new Set(config.image_hosts));
const log = $("log");
const statusLine = $("status");
const form = $("composer");
const input = $("input");
const sendButton = $("send");
const stopButton = $("stop");
const starters = $("starters");
const humanButton = $("human");

// The host page's origin (the parent frame), told by widget.js: messages go there only.
const hostOrigin = new URLSearchParams(location.search).get("origin") || "";
const framed = Boolean(hostOrigin) && window.parent !== window;
const ownStorage = keep(`${storageKey}:probe`, 1);
// {token, expiresAt, verified, identity, conversationId, pending: {content, clientId}}
let state = ownStorage ? recall(storageKey) : {};
let socket = null;
let ready = false;
let attempts = 0;
let stopped = false;
let answer = null; // {el, body, text, seq, timer, messageId}

function save() {
  if (ownStorage) keep(storageKey, state); // a full quota: it forgets on reload
  else toHost({ type: "chatplatform:store", state });
}

function setStatus(text, kind) {
  statusLine.textContent = text || "";
  statusLine.dataset.kind = kind || "";
}

// -- the visitor -----------------------------------------------------------------------------

async function call(path, options) {
  const headers = { Accept: "application/json" };
  if (options && options.body) headers["Content-Type"] = "application/json";
  if (state.token) headers.Authorization = `Visitor ${state.token}`;
  const response = await fetch(base + path, {
    method: (options && options.method) || "GET",
    headers,
    body: options && options.body ? JSON.stringify(options.body) : undefined,
    credentials: "omit",
  });
  const body = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, body };
}

// A visitor token: the stored one while it lasts, else a new one (verified when the host page
// gave an identity, anonymous otherwise).
async function visitorToken(identity) {
  if (!identity && state.token && state.expiresAt * 1000 > Date.now() + 60_000) return true;
  const answer = await call("visitors/", { method: "POST", body: identity ? { identity } : {} });
  if (!answer.ok) {
    const why = answer.body.code === "verification_required" ? t.verification_required : answer.body.detail || t.failed;
    setStatus(why, "error");
    return false;
  }
  const changed = state.token && answer.body.visitor.verified !== Boolean(state.verified);
  state.token = answer.body.token;
  state.expiresAt = answer.body.expires_at;
  state.verified = answer.body.visitor.verified;
  if (changed) { state.conversationId = null; state.pending = null; }
  save();
  return true;
}

// -- the transcript --------------------------------------------------------------------------

function bubble(role, text) {
  const el = element("div", { className: `msg ${role}` });
  const body = element("div", { className: "body" });
  if (role === "user") body.textContent = text;
  else render(body, text, true);
  el.append(body);
  log.append(el);
  log.scrollTop = log.scrollHeight;
  return el;
}

function finishAnswer(a, frame) {
  clearTimeout(a.timer);
  a.timer = null;
  render(a.body, a.text, true);
  a.el.dataset.finishReason = frame.finish_reason || "stop";
  a.el.dataset.messageId = frame.message_id;
  footer(a.el, frame.message_id, frame.finish_reason, frame.sources);
}

function footer(el, messageId, finishReason, sources) {
  if (sources && sources.length) {
    const list = element("ol", { className: "sources" });
    list.setAttribute("aria-label", t.sources);
    for (const s of sources) list.append(element("li", { value: s.n, textContent: s.heading ? `${s.title} — ${s.heading}` : s.title }));
    el.append(list);
  }
  const meta = element("div", { className: "meta" });
  if (finishReason === "cancelled") meta.append(element("span", { textContent: t.stopped }));
  const rate = (rating, label, name) => {
    const button = iconButton(label, name, () => send({ type: "feedback", message_id: Number(messageId), rating }), `rate-${name}`);
    button.setAttribute("aria-pressed", "false");
    return button;
  };
  meta.append(rate(5, t.rate_up, "up"), rate(1, t.rate_down, "down"));
  el.append(meta);
}

function currentAnswer(messageId) {
  if (!answer || answer.messageId !== messageId) {
    const el = bubble("assistant", "");
    answer = { el, body: el.querySelector(".body"), text: "", seq: 0, timer: null, messageId };
  }
  return answer;
}

function setStreaming(on) {
  stopButton.hidden = !on;
  sendButton.hidden = on;
  sendButton.disabled = on;
}

function settle() {
  state.pending = null;
  save();
  answer = null;
  setStreaming(false);
}

// The conversation's stored messages, oldest first, and whether a person was asked for (the
// button stays off) or follows it (the visitor's typing is told to them).
async function restore() {
  if (!state.conversationId) return;
  const id = state.conversationId;
  const [found, listed] = await Promise.all([call(`conversations/${id}/messages/`), call("conversations/")]);
  if (!found.ok || id !== state.conversationId) return;
  const here = listed.ok ? listed.body.find((c) => c.id === id) : null;
  if (here) {
    humanButton.disabled = here.escalated && here.handoff !== "bot";
    typing.enabled = here.handoff === "waiting" || here.handoff === "human";
  }
  for (const m of found.body) {
    if (state.pending && m.client_id === state.pending.clientId) { state.pending = null; save(); }
    if (m.role === "user") bubble("user", m.content);
    else if (m.role === "agent") bubble("assistant agent", `**${m.agent}**: ${m.content}`);
    else footer(bubble("assistant", m.content), m.id, m.finish_reason, m.sources);
  }
  if (found.body.length) starters.hidden = true;
}

// -- the socket ------------------------------------------------------------------------------

function send(frame) {
  if (ready && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

// The visitor's typing, for the person of the team who follows the conversation.
const typing = typingTeller((frame) => send({ type: "typing", ...frame }));

function ask(content) {
  state.pending = { content, clientId: uuid4() };
  save();
  starters.hidden = true;
  bubble("user", content);
  setStreaming(true);
  send({ type: "message", content, client_id: state.pending.clientId });
}

function pickUp(resumable) {
  if (!state.pending) return;
  setStreaming(true);
  const resume = resumeFrame(state.pending, answer, resumable);
  if (answer && !(resume && resume.after)) { answer.el.remove(); answer = null; }
  send(resume || { type: "message", content: state.pending.content, client_id: state.pending.clientId });
}

function onFrame(frame) {
  switch (frame.type) {
    case "ready":
      state.conversationId = frame.conversation_id;
      save();
      ready = true;
      attempts = 0;
      setStatus("");
      pickUp(frame.resumable);
      break;
    case "typing":
      document.body.classList.toggle("typing", frame.active);
      break;
    case "token": {
      const a = currentAnswer(frame.message_id);
      if (frame.seq <= a.seq) break;
      a.seq = frame.seq;
      a.text += frame.content;
      renderSoon(a, render, log);
      break;
    }
    case "response":
      currentAnswer(frame.message_id).text = frame.content;
      break;
    case "done":
      finishAnswer(currentAnswer(frame.message_id), frame);
      settle();
      break;
    case "error":
      onError(frame);
      break;
    case "ping":
      send({ type: "pong" });
      break;
    case "held": // a person of the team holds the conversation: the message went to them
      if (frame.conversation_id === state.conversationId) {
        settle();
        setStatus(t.human_has_it, "info");
      }
      break;
    case "agent_message":
      if (frame.conversation_id === state.conversationId) {
        bubble("assistant agent", `**${frame.agent}**: ${frame.content}`);
        setStatus("");
      }
      break;
    case "agent_typing":
      if (frame.conversation_id === state.conversationId) {
        setStatus(frame.active ? t.agent_typing.replace("{agent}", frame.agent) : "", "info");
      }
      break;
    case "handoff":
      if (frame.conversation_id === state.conversationId) {
        typing.enabled = frame.state === "human";
        humanButton.disabled = frame.state === "human"; // back to the assistant: a person may be asked again
        setStatus(frame.state === "human" ? t.agent_joined.replace("{agent}", frame.agent) : t.bot_again, "info");
      }
      break;
    case "escalated":
      typing.enabled = true;
      humanButton.disabled = true;
      setStatus(t.human_requested, "info");
      break;
    case "rated": {
      const el = log.querySelector(`.msg[data-message-id="${frame.message_id}"]`);
      if (!el) break;
      for (const b of el.querySelectorAll(".rate-up, .rate-down")) {
        b.setAttribute("aria-pressed", String(b.classList.contains("rate-up") ? frame.rating >= 4 : frame.rating <= 2));
      }
      setStatus(t.rated, "info");
      break;
    }
  }
}

function onError(frame) {
  const text = frame.code === "RATE_LIMITED" && frame.retry_after
    ? t.rate_limited.replace("{seconds}", Math.ceil(frame.retry_after))
    : frame.message || t.failed;
  setStatus(text, "error");
  if (answer || !state.pending) return;
  if (frame.code === "SERVICE_UNAVAILABLE") {
    setTimeout(() => pickUp([]), Math.min(frame.retry_after || 1, MAX_BACKOFF_S) * 1000);
    return;
  }
  const questions = log.querySelectorAll(".msg.user");
  if (questions.length) questions[questions.length - 1].dataset.refused = frame.code;
  settle();
}

function connect() {
  if (stopped) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const path = `/ws/widget/${config.key}/${state.conversationId ? `${state.conversationId}/` : ""}`;
  ready = false;
  const ws = new WebSocket(`${scheme}://${location.host}${path}`, ["chat.v1", `bearer.${state.token}`]);
  socket = ws;
  ws.onmessage = (event) => { if (ws === socket) onFrame(JSON.parse(event.data)); };
  ws.onclose = (event) => { if (ws === socket) onClose(event); };
}

async function onClose(event) {
  ready = false;
  document.body.classList.remove("typing");
  if (answer) { clearTimeout(answer.timer); answer.timer = null; }
  if (event.code === 4401) {
    // The visitor token ended (expired, or its site's secret changed): a new one, then again.
    state.token = null;
    save();
    if (await visitorToken(state.identity)) connect();
    return;
  }
  if (event.code === 4403 || event.code === 4429) {
    stopped = event.code === 4403;
    setStatus(event.code === 4403 ? t.verification_required : t.failed, "error");
    setStreaming(false);
    return;
  }
  if (event.code === 4404) {
    state.conversationId = null;
    state.pending = null;
    save();
    log.replaceChildren();
    connect();
    return;
  }
  setStatus(t.reconnecting, "warn");
  setTimeout(connect, event.code === 1012 ? 200 : reconnectDelay(attempts));
  attempts += 1;
}

// -- the host page ---------------------------------------------------------------------------

function toHost(message) {
  if (framed) window.parent.postMessage(message, hostOrigin);
}

function newConversation() {
  if (socket) { const old = socket; socket = null; old.close(1000); }
  state.conversationId = null;
  state.pending = null;
  answer = null;
  save();
  log.replaceChildren();
  if (config.greeting) bubble("assistant greeting", config.greeting);
  humanButton.disabled = false;
  starters.hidden = !config.starter_prompts.length;
  setStreaming(false);
  connect();
  input.focus();
}

let started = false;
let shown = false; // the stored conversation is on screen: the visitor may write

async function start(identity) {
  started = true;
  shown = false;
  sendButton.disabled = true;
  setStatus(t.connecting, "info");
  log.replaceChildren();
  if (config.greeting) bubble("assistant greeting", config.greeting);
  if (identity) state.identity = identity;
  if (!(await visitorToken(identity))) return;
  if (!state.conversationId) {
    // A verified visitor on another device, or storage lost: their latest conversation.
    const listed = await call("conversations/");
    if (listed.ok && listed.body.length) state.conversationId = listed.body[0].id;
  }
  await restore();
  if (state.pending) bubble("user", state.pending.content);
  shown = true;
  setStreaming(Boolean(state.pending));
  connect();
}

window.addEventListener("message", (event) => {
  if (event.source !== window.parent || event.origin !== hostOrigin) return;
  const data = event.data || {};
  if (data.type === "chatplatform:init" && !started) {
    // The host page's answer to `ready`: its stored state (when this frame has no storage) and
    // the identity it vouches for, if any.
    if (!ownStorage && data.state && typeof data.state === "object") state = data.state;
    start(typeof data.identity === "string" ? data.identity : null);
  } else if (data.type === "chatplatform:identify" && typeof data.identity === "string") {
    if (socket) { const old = socket; socket = null; old.close(1000); }
    start(data.identity);
  } else if (data.type === "chatplatform:opened") {
    input.focus();
  }
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const content = input.value.trim();
  // Once the conversation is shown; before the socket is ready too (`ready` picks it up).
  if (!content || !stopButton.hidden || !shown) return;
  input.value = "";
  typing.stop();
  ask(content);
});
enterSubmits(input, form);
input.addEventListener("input", () => typing.keyed());
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (!stopButton.hidden) send({ type: "cancel" });
  else toHost({ type: "chatplatform:close" });
});
stopButton.addEventListener("click", () => send({ type: "cancel" }));
humanButton.addEventListener("click", () => send({ type: "escalate" }));
$("close").addEventListener("click", () => toHost({ type: "chatplatform:close" }));
$("new").append(icon("edit"));
$("new").addEventListener("click", newConversation);
for (const prompt of config.starter_prompts) {
  const button = element("button", { type: "button", className: "starter", textContent: prompt });
  button.addEventListener("click", () => { if (shown && stopButton.hidden) ask(prompt); });
  starters.append(button);
}
starters.hidden = !config.starter_prompts.length;

// Framed by the snippet: the host page answers `ready` with `init` (its identity, its stored
// state); a page that frames the panel without the snippet never does, so it starts after a while.
// Not framed (the panel opened on its own): at once.
if (framed) {
  toHost({ type: "chatplatform:ready" });
  setTimeout(() => { if (!started) start(null); }, 3000);
} else {
  start(null);
}
