// The web chat page: protocol v1 over a session-authenticated WebSocket (docs/protocol.md).
//
// It survives a network drop and a reload mid-answer: the conversation id and the message not
// yet answered live in localStorage; after a reconnect (backoff 1, 2, 4 … 30 s with jitter) the
// answer still streaming is resumed from the last frame shown (`resume`), a message never
// answered is sent again with its client_id (the server answers each client_id once), and a
// reload shows the conversation's stored messages again (REST) before resuming.
(function () {
  "use strict";

  const RENDER_INTERVAL_MS = 50;
  const MAX_BACKOFF_S = 30;
  const root = document.getElementById("chat");
  const log = document.getElementById("log");
  const statusLine = document.getElementById("status");
  const form = document.getElementById("composer");
  const input = document.getElementById("input");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");
  const storageKey = root.dataset.storageKey;

  let socket = null;
  let ready = false; // the server sent `ready` on this socket: frames may be sent
  let greeted = false;
  let attempts = 0; // reconnects since the last `ready`
  let revoked = false;
  // What survives a reload: {conversationId, pending: {content, clientId} | null}.
  const saved = load();
  let conversationId = saved.conversationId || null;
  let pending = saved.pending || null; // sent but not answered yet
  let answer = null; // {el, body, text, seq, timer, messageId} of the answer being shown

  marked.setOptions({ gfm: true, breaks: true });

  function load() {
    try {
      return JSON.parse(localStorage.getItem(storageKey)) || {};
    } catch (e) {
      return {};
    }
  }

  function save() {
    try {
      localStorage.setItem(storageKey, JSON.stringify({ conversationId, pending }));
    } catch (e) {
      // Private mode or a full quota: the page still works, it just forgets on reload.
    }
  }

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // Markdown from the model is untrusted: marked renders it, DOMPurify strips anything active
  // (forms too: an answer must not ask for input). Images load only from this origin and the
  // hosts the tenant allows (the page's CSP says the same); any other is shown as a link, so an
  // answer cannot make the browser fetch a URL by itself (a prompt-injected model could leak the
  // conversation in it). The HTML is parsed in an inert <template> first: nothing is fetched
  // before the images are checked.
  const imageHosts = new Set(JSON.parse(document.getElementById("image-hosts").textContent));
  const SANITIZE = {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["form", "input", "button", "textarea", "select", "option", "style"],
  };

  function imageAllowed(src) {
    try {
      const url = new URL(src, location.href);
      return (
        url.origin === location.origin ||
        url.protocol === "data:" ||
        (url.protocol === "https:" && imageHosts.has(url.hostname))
      );
    } catch (e) {
      return false;
    }
  }

  function asLink(img) {
    const link = document.createElement("a");
    link.href = img.getAttribute("src") || "";
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    link.className = "blocked-image";
    link.textContent = `[image: ${img.getAttribute("alt") || link.href}]`;
    return link;
  }

  function renderMarkdown(el, text) {
    const inert = document.createElement("template");
    inert.innerHTML = DOMPurify.sanitize(marked.parse(text), SANITIZE);
    for (const img of inert.content.querySelectorAll("img")) {
      if (!imageAllowed(img.getAttribute("src") || "")) img.replaceWith(asLink(img));
    }
    for (const link of inert.content.querySelectorAll("a[href]")) {
      link.rel = "noopener noreferrer nofollow";
      link.target = "_blank";
    }
    el.replaceChildren(inert.content);
  }

  function bubble(role, text) {
    const el = document.createElement("div");
    el.className = `msg ${role}`;
    const body = document.createElement("div");
    body.className = "body";
    if (role === "user") body.textContent = text;
    else renderMarkdown(body, text);
    el.appendChild(body);
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  function setStreaming(on) {
    sendButton.disabled = on;
    stopButton.hidden = !on;
  }

  function setStatus(text, kind) {
    statusLine.textContent = text || "";
    statusLine.className = `status ${kind || ""}`;
  }

  function currentAnswer(messageId) {
    if (!answer || answer.messageId !== messageId) {
      const el = bubble("assistant", "");
      el.dataset.messageId = messageId;
      answer = { el, body: el.querySelector(".body"), text: "", seq: 0, timer: null, messageId };
    }
    return answer;
  }

  // Tokens arrive every ~40 ms; re-rendering markdown at most every 50 ms keeps the page smooth.
  function scheduleRender(a) {
    if (a.timer) return;
    a.timer = setTimeout(() => {
      a.timer = null;
      renderMarkdown(a.body, a.text);
      log.scrollTop = log.scrollHeight;
    }, RENDER_INTERVAL_MS);
  }

  function finishAnswer(a, frame) {
    clearTimeout(a.timer);
    a.timer = null;
    renderMarkdown(a.body, a.text);
    const meta = document.createElement("div");
    meta.className = "meta";
    const u = frame.usage || {};
    meta.textContent = `${frame.model} · ${u.input_tokens ?? 0}→${u.output_tokens ?? 0} tokens` +
      ` · $${frame.cost_usd}` + (frame.finish_reason !== "stop" ? ` · ${frame.finish_reason}` : "");
    a.el.appendChild(meta);
    a.el.dataset.finishReason = frame.finish_reason;
    answer = null;
  }

  function settle() {
    pending = null;
    save();
    root.classList.remove("typing");
    setStreaming(false);
  }

  // After (re)connecting: follow the answer to the pending message, wherever it is.
  function pickUp(resumable) {
    if (!pending) return;
    setStreaming(true);
    const listed = (resumable || []).find((g) => g.client_id === pending.clientId);
    if (listed && !listed.finished) {
      // Still streaming: only the frames this page has not shown.
      const after = answer && answer.messageId === listed.message_id ? answer.seq : 0;
      if (!after && answer) { answer.el.remove(); answer = null; }
      send({ type: "resume", message_id: listed.message_id, after });
    } else {
      // Never started, or over: the server answers it (once) or replays the stored answer.
      if (answer) { answer.el.remove(); answer = null; }
      send({ type: "message", content: pending.content, client_id: pending.clientId });
    }
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "ready":
        conversationId = frame.conversation_id;
        save();
        ready = true;
        attempts = 0;
        setStatus("");
        if (!greeted && frame.greeting) {
          log.prepend(bubble("assistant greeting", frame.greeting));
          greeted = true;
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
        scheduleRender(a);
        break;
      }
      case "response": {
        const a = currentAnswer(frame.message_id);
        a.text = frame.content;
        break;
      }
      case "done":
        finishAnswer(currentAnswer(frame.message_id), frame);
        settle();
        break;
      case "error":
        onError(frame);
        break;
      case "ping": // the server's heartbeat: answer, or it closes the connection (4408)
        send({ type: "pong" });
        break;
      case "pong":
        break;
      case "resolved":
        setStatus("Glad it is solved. Thanks for letting us know!", "info");
        break;
      case "escalated":
        setStatus("A member of our team has been notified and will get back to you.", "info");
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
    // Refused (a limit, a blocked topic, a bad message): it will not be answered.
    const last = log.querySelector(".msg.user:last-of-type");
    if (last) last.dataset.refused = frame.code;
    settle();
  }

  function send(frame) {
    if (ready && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  // Reconnect after 1, 2, 4, 8 … 30 s, each drawn between half and all of it (jitter), so that
  // a restarted server is not hit by every page at once.
  function backoff() {
    const ceiling = Math.min(MAX_BACKOFF_S, 2 ** attempts);
    attempts += 1;
    return (ceiling / 2 + Math.random() * ceiling / 2) * 1000;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const path = root.dataset.wsPath + (conversationId ? `${conversationId}/` : "");
    ready = false;
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onmessage = (event) => onFrame(JSON.parse(event.data));
    socket.onclose = (event) => {
      ready = false;
      root.classList.remove("typing");
      if (answer) { clearTimeout(answer.timer); answer.timer = null; }
      if (event.code === 4403 || revoked) {
        revoked = true;
        setStatus("Your access to this workspace has changed. Reload the page to continue.", "error");
        setStreaming(false);
        return;
      }
      if (event.code === 4401) {
        // The sign-in ended (logout elsewhere, a password change, the session expired).
        setStatus("You have been signed out. Reload the page to sign in again.", "error");
        setStreaming(false);
        return;
      }
      if (event.code === 4429) {
        setStatus("Too many chat windows are open: close one, then reload this page.", "error");
        setStreaming(false);
        return;
      }
      if (event.code === 4404) { conversationId = null; save(); }
      if (event.code === 1012) {
        // The server is restarting (drained): reconnect at once, to another instance.
        setStatus("Server restarting, reconnecting…", "warn");
        setTimeout(connect, 100 + Math.random() * 400);
        return;
      }
      const delay = backoff();
      setStatus(`Connection lost, reconnecting in ${Math.ceil(delay / 1000)} s…`, "warn");
      setTimeout(connect, delay);
    };
  }

  // A reload: the conversation's stored messages first, then the socket (which resumes).
  async function restore() {
    if (!conversationId) return;
    try {
      const response = await fetch(`/api/v1/conversations/${conversationId}/messages/?page_size=500`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) { conversationId = null; pending = null; save(); return; }
      const page = await response.json();
      for (const m of page.results) {
        // The pending message was answered before the reload: nothing to pick up.
        if (pending && m.client_id === pending.clientId) { pending = null; save(); }
        const el = bubble(m.role === "user" ? "user" : "assistant", m.content);
        if (m.role !== "user") el.dataset.finishReason = m.finish_reason;
      }
    } catch (e) {
      // Offline: the socket's reconnects will bring the page back.
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content || sendButton.disabled) return;
    pending = { content, clientId: uuid4() };
    save();
    bubble("user", content);
    input.value = "";
    setStatus("");
    setStreaming(true);
    send({ type: "message", content, client_id: pending.clientId });
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  stopButton.addEventListener("click", () => send({ type: "cancel" }));
  document.getElementById("resolve").addEventListener("click", () => send({ type: "resolve" }));
  document.getElementById("escalate").addEventListener("click", () => send({ type: "escalate" }));

  restore().then(() => {
    if (pending) bubble("user", pending.content);
    connect();
  });
})();
