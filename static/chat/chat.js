// The web chat page: protocol v1 over a session-authenticated WebSocket (docs/protocol.md), and
// the REST API for the conversation list (docs/protocol.md § "What the chat page uses").
//
// It survives a network drop and a reload mid-answer: the open conversation and the message not
// yet answered live in localStorage; after a reconnect (backoff 1, 2, 4 … 30 s with jitter) the
// answer still streaming is resumed from the last frame shown (`resume`), a message never
// answered is sent again with its client_id (the server answers each client_id once), and a
// reload shows the conversation's stored messages again (REST) before resuming.
(function () {
  "use strict";

  const RENDER_INTERVAL_MS = 50;
  const MAX_BACKOFF_S = 30;
  const PAGE_SIZE = 30;
  const SEARCH_DELAY_MS = 250;
  const THUMBS_UP = 5;
  const THUMBS_DOWN = 1;
  const $ = (id) => document.getElementById(id);
  const root = $("chat");
  const log = $("log");
  const statusLine = $("status");
  const form = $("composer");
  const input = $("input");
  const sendButton = $("send");
  const stopButton = $("stop");
  const titleHeading = $("conversation-title");
  const resolveButton = $("resolve");
  const escalateButton = $("escalate");
  const sidebar = $("sidebar");
  const list = $("conversations");
  const emptyList = $("conversations-empty");
  const moreButton = $("more");
  const search = $("search");
  const backdrop = $("backdrop");
  const openSidebar = $("open-sidebar");
  const attachButton = $("attach");
  const fileInput = $("file-input");
  const attachedList = $("attached");
  const storageKey = root.dataset.storageKey;
  const csrfToken = root.dataset.csrf;
  const canCurate = root.dataset.curate === "true"; // owners and admins save answers as curated

  let socket = null;
  let ready = false; // the server sent `ready` on this socket: frames may be sent
  let attempts = 0; // reconnects since the last `ready`
  let stopped = false; // signed out or rights gone: no more reconnects
  let showUsage = false; // `ready.show_usage`: model, tokens and cost under each answer
  let greeting = "";
  // What survives a reload: {conversationId, pending: {content, clientId} | null}.
  const saved = load();
  let conversationId = saved.conversationId || null;
  let pending = saved.pending || null; // sent but not answered yet
  let answer = null; // {el, body, text, seq, timer, messageId} of the answer being shown
  let nextPage = null; // the conversation list's next page (REST `next`)
  let attached = []; // files uploaded for the next message: {id, filename}

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

  function element(tag, props, children) {
    const el = document.createElement(tag);
    Object.assign(el, props || {});
    for (const child of children || []) el.append(child);
    return el;
  }

  // Line icons (after Feather, MIT), drawn inline: no font needs to have the glyphs.
  const ICONS = {
    copy: '<rect x="9" y="9" width="13" height="13" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>',
    check: '<polyline points="20 6 9 17 4 12"/>',
    cross: '<path d="M18 6 6 18M6 6l12 12"/>',
    up: '<path d="M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3"/>',
    down: '<path d="M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17"/>',
    again: '<polyline points="23 4 23 10 17 10"/><polyline points="1 20 1 14 7 14"/><path d="M3.51 9a9 9 0 0 1 14.85-3.36L23 10M1 14l4.64 4.36A9 9 0 0 0 20.49 15"/>',
    edit: '<path d="M17 3a2.83 2.83 0 1 1 4 4L7.5 20.5 2 22l1.5-5.5L17 3z"/>',
    clip: '<path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/>',
    star: '<polygon points="12 2 15.09 8.26 22 9.27 17 14.14 18.18 21.02 12 17.77 5.82 21.02 7 14.14 2 9.27 8.91 8.26 12 2"/>',
    trash: '<polyline points="3 6 5 6 21 6"/><path d="M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6m3 0V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2"/>',
  };

  function icon(name) {
    const inert = document.createElement("template");
    inert.innerHTML =
      '<svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" ' +
      `stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${ICONS[name]}</svg>`;
    return inert.content.firstChild;
  }

  function iconButton(label, iconName, onClick, className) {
    const button = element("button", { type: "button", className: `icon ${className || ""}`, title: label });
    button.append(icon(iconName));
    button.setAttribute("aria-label", label);
    button.addEventListener("click", onClick);
    return button;
  }

  // -- REST ----------------------------------------------------------------------------------

  async function api(url, options) {
    const opts = options || {};
    const response = await fetch(url, {
      method: opts.method || "GET",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken,
      },
      body: opts.body ? JSON.stringify(opts.body) : undefined,
    });
    if (!response.ok) {
      const error = new Error(`${response.status}`);
      error.status = response.status;
      throw error;
    }
    return response.status === 204 ? null : response.json();
  }

  // -- rendering -----------------------------------------------------------------------------

  // Markdown from the model is untrusted: marked renders it, DOMPurify strips anything active
  // (forms too: an answer must not ask for input). Images load only from this origin and the
  // hosts the tenant allows (the page's CSP says the same); any other is shown as a link, so an
  // answer cannot make the browser fetch a URL by itself (a prompt-injected model could leak the
  // conversation in it). The HTML is parsed in an inert <template> first: nothing is fetched
  // before the images are checked.
  const imageHosts = new Set(JSON.parse($("image-hosts").textContent));
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

  // `final`: the answer is complete: code is highlighted and gets its copy button (not while
  // streaming, where each render would redo both).
  function renderMarkdown(el, text, final) {
    const inert = document.createElement("template");
    inert.innerHTML = DOMPurify.sanitize(marked.parse(text), SANITIZE);
    for (const img of inert.content.querySelectorAll("img")) {
      if (!imageAllowed(img.getAttribute("src") || "")) img.replaceWith(asLink(img));
      else if (!img.hasAttribute("alt")) img.alt = "image in the answer"; // screen readers name it
    }
    for (const link of inert.content.querySelectorAll("a[href]")) {
      link.rel = "noopener noreferrer nofollow";
      link.target = "_blank";
    }
    for (const table of inert.content.querySelectorAll("table")) {
      table.replaceWith(element("div", { className: "table-scroll" }, [table.cloneNode(true)]));
    }
    if (final) {
      for (const code of inert.content.querySelectorAll("pre > code")) {
        hljs.highlightElement(code);
        code.parentElement.prepend(copyButton("Copy code", () => code.textContent, "copy-code"));
      }
    }
    el.replaceChildren(inert.content);
  }

  function copyButton(label, text, className) {
    const button = iconButton(label, "copy", async () => {
      let copied = true;
      try {
        await navigator.clipboard.writeText(text());
      } catch (e) {
        copied = false;
      }
      button.replaceChildren(icon(copied ? "check" : "cross"));
      button.dataset.copied = String(copied);
      setTimeout(() => button.replaceChildren(icon("copy")), 1500);
    }, className);
    return button;
  }

  function clock(when) {
    const date = when ? new Date(when) : new Date();
    return element("time", {
      dateTime: date.toISOString(),
      textContent: date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      title: date.toLocaleString(),
    });
  }

  function bubble(role, text, when) {
    const el = element("div", { className: `msg ${role}` });
    const body = element("div", { className: "body" });
    if (role === "user") body.textContent = text;
    else renderMarkdown(body, text, true);
    const meta = element("div", { className: "meta" });
    if (when !== null) meta.append(clock(when));
    el.append(body, meta);
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  function userBubble(content, when, files) {
    const el = bubble("user", content, when);
    if (files && files.length) {
      const list = element("ul", { className: "files" });
      for (const f of files) {
        const link = element("a", { href: `/api/v1/attachments/${f.id}/download/`, textContent: f.filename });
        list.append(element("li", {}, [link]));
      }
      el.querySelector(".body").after(list);
    }
    el.dataset.content = content;
    el.querySelector(".meta").append(
      iconButton("Edit and resend", "edit", () => editLast(el), "edit"),
      iconButton("Retry", "again", () => resend(el.dataset.content), "retry"),
    );
    markLast();
    return el;
  }

  // The answer's footer: time, the model and its usage (when the tenant shows them to this
  // role), why it stopped early, and its actions.
  function answerFooter(el, info) {
    const meta = el.querySelector(".meta");
    meta.replaceChildren(clock(info.when));
    if (showUsage && info.model) {
      const u = info.usage || {};
      meta.append(element("span", {
        className: "usage",
        textContent: `${info.model} · ${u.input_tokens ?? 0}→${u.output_tokens ?? 0} tokens · $${info.cost_usd}`,
      }));
    }
    if (info.finish_reason && info.finish_reason !== "stop") {
      meta.append(element("span", { className: "finish", textContent: info.finish_reason === "cancelled" ? "stopped (cancelled)" : info.finish_reason }));
    }
    if (info.curated) meta.append(element("span", { className: "curated", textContent: "curated answer" }));
    el.dataset.finishReason = info.finish_reason || "stop";
    showSources(el, info.sources);
    if (info.messageId) {
      el.dataset.messageId = info.messageId;
      const actions = element("span", { className: "actions" });
      const text = info.text;
      actions.append(
        copyButton("Copy answer", () => text, "copy-answer"),
        rateButton(el, THUMBS_UP, "Good answer", "up"),
        rateButton(el, THUMBS_DOWN, "Bad answer", "down"),
        iconButton("Regenerate", "again", regenerate, "regenerate"),
      );
      if (canCurate && !info.curated) {
        actions.append(iconButton("Save as a curated answer", "star", () => saveCurated(el), "curate"));
      }
      meta.append(actions);
      if (info.rating) showRating(el, info.rating);
    }
    markLast();
  }

  // The tools the model called for an answer, each with its state (started, done, failed).
  function showTool(el, call) {
    let list = el.querySelector(".tools");
    if (!list) {
      list = element("ul", { className: "tools" });
      list.setAttribute("aria-label", "Tools used");
      el.querySelector(".body").before(list);
    }
    const key = call.call_id || `${call.name}-${list.children.length}`;
    let item = list.querySelector(`li[data-call="${CSS.escape(key)}"]`);
    if (!item) {
      item = element("li");
      item.dataset.call = key;
      list.append(item);
    }
    item.dataset.status = call.status;
    const state = { started: "running…", done: "done", failed: `failed: ${call.error || ""}` }[call.status];
    item.textContent = `${call.name} — ${state}`;
  }

  // The knowledge-base passages the answer was given: the [n] it cites.
  function showSources(el, sources) {
    const old = el.querySelector(".sources");
    if (old) old.remove();
    if (!sources || !sources.length) return;
    const list = element("ol", { className: "sources" });
    list.setAttribute("aria-label", "Sources");
    for (const s of sources) {
      const item = element("li", { value: s.n, title: s.excerpt });
      item.append(element("span", { className: "source-title", textContent: s.title }));
      if (s.heading) item.append(` — ${s.heading}`);
      list.append(item);
    }
    el.querySelector(".meta").before(list);
  }

  function rateButton(el, rating, label, iconName) {
    const button = iconButton(label, iconName, () => {
      send({ type: "feedback", message_id: Number(el.dataset.messageId), rating });
      if (rating === THUMBS_DOWN) askWhy(el);
    }, rating === THUMBS_UP ? "rate-up" : "rate-down");
    button.setAttribute("aria-pressed", "false");
    return button;
  }

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

  function showRating(el, rating) {
    el.dataset.rating = rating;
    for (const button of el.querySelectorAll(".rate-up, .rate-down")) {
      const pressed = button.classList.contains("rate-up") ? rating >= 4 : rating <= 2;
      button.setAttribute("aria-pressed", String(pressed));
    }
  }

  // A thumbs down may say why (optional): the same `feedback` frame with a comment.
  function askWhy(el) {
    if (el.querySelector(".why")) return;
    const field = element("input", { type: "text", maxLength: 2000, placeholder: "What was wrong? (optional)" });
    field.setAttribute("aria-label", "What was wrong with this answer");
    const why = element("form", { className: "why" }, [field, element("button", { type: "submit", textContent: "Send" })]);
    why.addEventListener("submit", (event) => {
      event.preventDefault();
      const comment = field.value.trim();
      if (comment) send({ type: "feedback", message_id: Number(el.dataset.messageId), rating: THUMBS_DOWN, comment });
      why.remove();
    });
    el.append(why);
    field.focus();
  }

  // Only the last question can be edited or retried, only the last answer regenerated.
  function markLast() {
    for (const el of log.querySelectorAll(".last")) el.classList.remove("last");
    const messages = log.querySelectorAll(".msg.user, .msg.assistant:not(.greeting)");
    const last = messages[messages.length - 1];
    if (!last) return;
    last.classList.add("last");
    const before = messages[messages.length - 2];
    if (last.classList.contains("assistant") && before) before.classList.add("last");
  }

  function setStreaming(on) {
    sendButton.disabled = on;
    stopButton.hidden = !on;
    root.classList.toggle("streaming", on);
  }

  function setStatus(text, kind) {
    statusLine.textContent = text || "";
    statusLine.className = `status ${kind || ""}`;
  }

  function currentAnswer(messageId) {
    if (!answer || answer.messageId !== messageId) {
      const el = bubble("assistant", "", null);
      answer = { el, body: el.querySelector(".body"), text: "", seq: 0, timer: null, messageId };
    }
    return answer;
  }

  // Tokens arrive every ~40 ms; re-rendering markdown at most every 50 ms keeps the page smooth.
  function scheduleRender(a) {
    if (a.timer) return;
    a.timer = setTimeout(() => {
      a.timer = null;
      renderMarkdown(a.body, a.text, false);
      log.scrollTop = log.scrollHeight;
    }, RENDER_INTERVAL_MS);
  }

  function finishAnswer(a, frame) {
    clearTimeout(a.timer);
    a.timer = null;
    renderMarkdown(a.body, a.text, true);
    answerFooter(a.el, { ...frame, messageId: frame.message_id, text: a.text, curated: a.curated });
    answer = null;
  }

  function settle() {
    pending = null;
    save();
    root.classList.remove("typing");
    setStreaming(false);
  }

  // -- sending -------------------------------------------------------------------------------

  function ask(content, files, regenerate) {
    pending = { content, clientId: uuid4(), files: files || [], regenerate: Boolean(regenerate) };
    save();
    userBubble(content, undefined, pending.files);
    setStatus("");
    setStreaming(true);
    sendPending();
  }

  function sendPending() {
    const frame = { type: "message", content: pending.content, client_id: pending.clientId };
    if (pending.files && pending.files.length) frame.attachments = pending.files.map((f) => f.id);
    if (pending.regenerate) frame.regenerate = true;
    send(frame);
  }

  // -- attachments: uploaded first (REST), then named by the message --------------------------

  async function attach(files) {
    for (const file of files) {
      setStatus(`Uploading ${file.name}…`);
      const body = new FormData();
      body.append("file", file);
      const response = await fetch("/api/v1/attachments/", {
        method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken }, body,
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        const errors = Object.values(answer.errors || {}).flat();
        setStatus(`${file.name}: ${errors.join(" ") || answer.detail || "the upload failed"}`, "error");
        continue;
      }
      attached.push({ id: answer.id, filename: answer.filename });
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
      return element("li", {}, [element("span", { textContent: f.filename }), remove]);
    }));
  }

  // Regenerate, retry, edit: always a new turn (a new client_id); what was said stays in the
  // history, as it was.
  function resend(content, regenerate) {
    if (sendButton.disabled || !content) return;
    ask(content, [], regenerate);
  }

  // The last question again, answered anew by the tenant's default model (never from a cache).
  function regenerate() {
    const questions = log.querySelectorAll(".msg.user");
    const last = questions[questions.length - 1];
    if (last) resend(last.dataset.content, true);
  }

  function editLast(el) {
    input.value = el.dataset.content;
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  function send(frame) {
    if (ready && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
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
      sendPending();
    }
  }

  // -- frames --------------------------------------------------------------------------------

  function onFrame(frame) {
    switch (frame.type) {
      case "ready":
        conversationId = frame.conversation_id;
        showUsage = Boolean(frame.show_usage);
        save();
        ready = true;
        attempts = 0;
        setStatus("");
        if (frame.greeting && !greeting) {
          greeting = frame.greeting;
          const el = bubble("assistant greeting", frame.greeting, null);
          log.prepend(el);
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
        a.curated = Boolean(frame.curated);
        break;
      }
      case "done":
        finishAnswer(currentAnswer(frame.message_id), frame);
        settle();
        refreshList();
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
        showTool(currentAnswer(frame.message_id).el, frame);
        break;
      case "rated": {
        const el = log.querySelector(`.msg[data-message-id="${frame.message_id}"]`);
        if (el) showRating(el, frame.rating);
        break;
      }
      case "resolved":
        showSupport({ resolved: true });
        setStatus("Glad it is solved. Thanks for letting us know!", "info");
        break;
      case "escalated":
        showSupport({ escalated: true });
        setStatus(
          frame.notified
            ? "A member of our team has been notified and will get back to you."
            : "Your request for a human is recorded: the team will see it in this conversation.",
          "info",
        );
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
    // Refused (a limit, a blocked topic, a bad message): it will not be answered; it can be retried.
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

  // -- the socket ----------------------------------------------------------------------------

  // Reconnect after 1, 2, 4, 8 … 30 s, each drawn between half and all of it (jitter), so that
  // a restarted server is not hit by every page at once.
  function backoff() {
    const ceiling = Math.min(MAX_BACKOFF_S, 2 ** attempts);
    attempts += 1;
    return (ceiling / 2 + Math.random() * ceiling / 2) * 1000;
  }

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
    const delay = backoff();
    setStatus(`Connection lost, reconnecting in ${Math.ceil(delay / 1000)} s…`, "warn");
    setTimeout(() => { if (!socket || socket.readyState === WebSocket.CLOSED) connect(); }, delay);
  }

  // -- conversations -------------------------------------------------------------------------

  // The conversation's stored messages (REST), then its title and support state.
  async function restore() {
    if (!conversationId) return;
    const id = conversationId;
    try {
      const [page, detail] = await Promise.all([
        api(`/api/v1/conversations/${id}/messages/?page_size=500`),
        api(`/api/v1/conversations/${id}/`),
      ]);
      if (id !== conversationId) return;
      for (const m of page.results) {
        // The pending message was answered before the reload: nothing to pick up.
        if (pending && m.client_id === pending.clientId) { pending = null; save(); }
        if (m.role === "user") {
          userBubble(m.content, m.created_at, m.attachments);
        } else {
          const el = bubble("assistant", m.content, m.created_at);
          for (const call of m.tool_calls || []) showTool(el, call);
          answerFooter(el, {
            when: m.created_at, model: m.model, cost_usd: m.cost_usd, finish_reason: m.finish_reason,
            usage: { input_tokens: m.input_tokens, output_tokens: m.output_tokens },
            messageId: m.id, rating: m.rating, text: m.content, sources: m.sources, curated: Boolean(m.curated_answer),
          });
        }
      }
      showTitle(detail.title);
      showSupport({ resolved: detail.resolved, escalated: detail.escalated });
    } catch (e) {
      // 404: a pending conversation (no message yet) or one deleted meanwhile: the socket
      // says which. Offline: the socket's reconnects will bring the page back.
    }
  }

  function showTitle(title) {
    titleHeading.textContent = title || (conversationId ? "Untitled conversation" : "New chat");
    for (const item of list.querySelectorAll("li")) {
      item.classList.toggle("current", Number(item.dataset.id) === conversationId);
      const open = item.querySelector(".conv-open");
      if (Number(item.dataset.id) === conversationId) open.setAttribute("aria-current", "true");
      else open.removeAttribute("aria-current");
    }
  }

  async function openConversation(id) {
    disconnect();
    if (answer) { clearTimeout(answer.timer); answer = null; }
    conversationId = id;
    pending = null;
    greeting = "";
    save();
    log.replaceChildren();
    setStatus("");
    setStreaming(false);
    showSupport({ resolved: false, escalated: false });
    showTitle("");
    closeDrawer();
    await restore();
    connect();
  }

  function conversationItem(c) {
    const item = element("li", { className: "conv" });
    item.dataset.id = c.id;
    const label = c.title || "Untitled conversation";
    const open = element("button", { type: "button", className: "conv-open", textContent: label, title: label });
    open.addEventListener("click", () => { if (c.id !== conversationId) openConversation(c.id); else closeDrawer(); });
    item.append(
      open,
      iconButton(`Rename “${label}”`, "edit", () => renameInline(item, c), "rename"),
      iconButton(`Delete “${label}”`, "trash", () => remove(item, c), "delete"),
    );
    if (c.id === conversationId) { item.classList.add("current"); open.setAttribute("aria-current", "true"); }
    return item;
  }

  function renameInline(item, c) {
    const field = element("input", { type: "text", value: c.title || "", maxLength: 200, className: "rename-field" });
    field.setAttribute("aria-label", "New title");
    const open = item.querySelector(".conv-open");
    open.hidden = true;
    item.prepend(field);
    field.focus();
    field.select();
    let done = false;
    const finish = async (keep) => {
      if (done) return;
      done = true;
      const title = field.value.trim();
      field.remove();
      open.hidden = false;
      if (!keep || !title || title === c.title) return;
      try {
        const updated = await api(`/api/v1/conversations/${c.id}/`, { method: "PATCH", body: { title } });
        item.replaceWith(conversationItem(updated));
        if (c.id === conversationId) showTitle(updated.title);
      } catch (e) {
        setStatus("The conversation could not be renamed.", "error");
      }
    };
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); finish(true); }
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); finish(false); }
    });
    field.addEventListener("blur", () => finish(true));
  }

  async function remove(item, c) {
    if (!window.confirm(`Delete “${c.title || "Untitled conversation"}”? It disappears from your list.`)) return;
    if (c.id === conversationId) await openConversation(null);
    try {
      await api(`/api/v1/conversations/${c.id}/`, { method: "DELETE" });
      item.remove();
      emptyList.hidden = list.children.length > 0;
    } catch (e) {
      setStatus("The conversation could not be deleted.", "error");
    }
  }

  async function loadConversations(reset) {
    let url = nextPage;
    if (reset) {
      const params = new URLSearchParams({ mine: "true", ordering: "-last_message_at", page_size: PAGE_SIZE });
      if (search.value.trim()) params.set("q", search.value.trim());
      url = `/api/v1/conversations/?${params}`;
    }
    if (!url) return;
    try {
      const page = await api(url);
      if (reset) list.replaceChildren();
      for (const c of page.results) list.append(conversationItem(c));
      nextPage = page.next;
      moreButton.hidden = !nextPage;
      emptyList.hidden = list.children.length > 0;
      emptyList.textContent = search.value.trim() ? "No conversation matches." : "No conversation yet.";
    } catch (e) {
      // Offline: the list stays as it is.
    }
  }

  // The member's own monthly allowance, when the tenant gives members one (REST usage/me/).
  async function showAllowance() {
    try {
      const usage = await api("/api/v1/usage/me/");
      const line = $("allowance");
      line.hidden = usage.monthly_token_budget === null;
      if (!line.hidden) {
        line.textContent = `This month: ${usage.tokens_used.toLocaleString()} of ` +
          `${usage.monthly_token_budget.toLocaleString()} tokens (resets ${usage.resets_on})`;
      }
    } catch (e) {
      // Offline: the line stays as it was.
    }
  }

  // After an answer: the list again (this conversation moves to the top), and once more a bit
  // later for the title the server writes in the background.
  let titleTimer = null;
  function refreshList() {
    loadConversations(true);
    showAllowance();
    clearTimeout(titleTimer);
    titleTimer = setTimeout(async () => {
      await loadConversations(true);
      const current = list.querySelector(`li[data-id="${conversationId}"] .conv-open`);
      if (current && titleHeading.textContent !== current.textContent) showTitle(current.textContent);
    }, 3000);
  }

  // -- the drawer (narrow screens) -----------------------------------------------------------

  function openDrawer() {
    sidebar.classList.add("open");
    backdrop.hidden = false;
    openSidebar.setAttribute("aria-expanded", "true");
    search.focus();
  }

  function closeDrawer() {
    if (!sidebar.classList.contains("open")) return;
    sidebar.classList.remove("open");
    backdrop.hidden = true;
    openSidebar.setAttribute("aria-expanded", "false");
  }

  // -- wiring --------------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content || sendButton.disabled) return;
    input.value = "";
    const files = attached;
    attached = [];
    showAttached();
    ask(content, files);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (sidebar.classList.contains("open")) closeDrawer();
    else if (!stopButton.hidden) send({ type: "cancel" });
  });

  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadConversations(true), SEARCH_DELAY_MS);
  });
  moreButton.addEventListener("click", () => loadConversations(false));
  $("new-chat").addEventListener("click", () => openConversation(null));
  openSidebar.addEventListener("click", openDrawer);
  $("close-sidebar").addEventListener("click", closeDrawer);
  backdrop.addEventListener("click", closeDrawer);
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

  loadConversations(true);
  showAllowance();
  restore().then(() => {
    if (pending) userBubble(pending.content, undefined, pending.files);
    connect();
  });
})();
