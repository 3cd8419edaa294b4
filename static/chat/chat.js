// The web chat page: protocol v1 over a session-authenticated WebSocket (DESIGN.md).
(function () {
  "use strict";

  const RENDER_INTERVAL_MS = 50;
  const root = document.getElementById("chat");
  const log = document.getElementById("log");
  const statusLine = document.getElementById("status");
  const form = document.getElementById("composer");
  const input = document.getElementById("input");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");

  let socket = null;
  let ready = false; // the server sent `ready` on this socket: frames may be sent
  let greeted = false;
  let conversationId = null;
  let pending = null; // {content, clientId} sent but not yet answered: replayed after a reconnect
  let answer = null; // {el, text, timer} of the answer being streamed
  let retryDelay = 500;

  marked.setOptions({ gfm: true, breaks: true });

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // Markdown from the model is untrusted: marked renders it, DOMPurify strips anything active.
  function renderMarkdown(el, text) {
    el.innerHTML = DOMPurify.sanitize(marked.parse(text), { USE_PROFILES: { html: true } });
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
      answer = { el, body: el.querySelector(".body"), text: "", timer: null, messageId };
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

  function onFrame(frame) {
    switch (frame.type) {
      case "ready":
        conversationId = frame.conversation_id;
        ready = true;
        retryDelay = 500;
        setStatus("");
        if (!greeted && frame.greeting) {
          log.prepend(bubble("assistant greeting", frame.greeting));
          greeted = true;
        }
        // A message typed before the connection was ready, or cut off by a reconnect, goes
        // (again) now; its client_id makes the server answer it only once.
        if (pending) send({ type: "message", content: pending.content, client_id: pending.clientId });
        break;
      case "typing":
        root.classList.toggle("typing", frame.active);
        break;
      case "token": {
        const a = currentAnswer(frame.message_id);
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
        pending = null;
        root.classList.remove("typing");
        setStreaming(false);
        break;
      case "error":
        setStatus(frame.message, "error");
        if (!answer) setStreaming(false);
        if (frame.code === "BAD_REQUEST" && !answer) pending = null;
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

  function send(frame) {
    if (ready && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const path = root.dataset.wsPath + (conversationId ? `${conversationId}/` : "");
    ready = false;
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onmessage = (event) => onFrame(JSON.parse(event.data));
    socket.onclose = (event) => {
      root.classList.remove("typing");
      if (answer) { clearTimeout(answer.timer); answer = null; }
      if (event.code === 4404) conversationId = null;
      if (event.code === 1012) {
        // The server is restarting (drained): reconnect at once, to another instance; the
        // message in flight, if any, is resent then (same client_id).
        setStatus("Server restarting, reconnecting…", "warn");
        setTimeout(connect, 100 + Math.random() * 400);
        return;
      }
      setStatus("Connection lost, reconnecting…", "warn");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content || sendButton.disabled) return;
    pending = { content, clientId: uuid4() };
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

  connect();
})();
