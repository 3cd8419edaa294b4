// The conversation as the chat page shows it: questions, answers (markdown), their footers
// (time, model and usage when shown to this role, why an answer stopped, its actions), the tools
// an answer called, the knowledge-base sources it cites, and ratings.
import { clock, copyButton, element, iconButton, usd } from "./dom.js";

export const THUMBS_UP = 5;
export const THUMBS_DOWN = 1;

// `log`: the element the messages go in; `render`: markdown.js's renderer; `showUsage()`: whether
// this user sees models and usage (`ready.show_usage`); `canCurate`: owners and admins save
// answers as curated; `actions`: what the buttons do ({send, resend, editLast, regenerate,
// saveCurated}).
export function transcript({ log, render, showUsage, canCurate, actions }) {
  function bubble(role, text, when) {
    const el = element("div", { className: `msg ${role}` });
    const body = element("div", { className: "body" });
    if (role === "user") body.textContent = text;
    else render(body, text, true);
    const meta = element("div", { className: "meta" });
    if (when !== null) meta.append(clock(when));
    el.append(body, meta);
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  // An image attachment's thumbnail (the platform serves it: the page's CSP allows it), or none.
  function thumbnail(f) {
    if (!(f.content_type || "").startsWith("image/")) return [];
    return [element("img", { src: `/api/v1/attachments/${f.id}/download/`, alt: "", className: "thumb", loading: "lazy" })];
  }

  function userBubble(content, when, files) {
    const el = bubble("user", content, when);
    if (files && files.length) {
      const list = element("ul", { className: "files" });
      for (const f of files) {
        const link = element("a", { href: `/api/v1/attachments/${f.id}/download/` }, [...thumbnail(f), element("span", { textContent: f.filename })]);
        list.append(element("li", {}, [link]));
      }
      el.querySelector(".body").after(list);
    }
    el.dataset.content = content;
    el.querySelector(".meta").append(
      iconButton("Edit and resend", "edit", () => actions.editLast(el), "edit"),
      iconButton("Retry", "again", () => actions.resend(el.dataset.content), "retry"),
    );
    markLast();
    return el;
  }

  function answerFooter(el, info) {
    const meta = el.querySelector(".meta");
    meta.replaceChildren(clock(info.when));
    if (showUsage() && info.model) {
      const u = info.usage || {};
      meta.append(element("span", {
        className: "usage",
        textContent: `${info.model} · ${u.input_tokens ?? 0}→${u.output_tokens ?? 0} tokens · ${usd(info.cost_usd)}`,
      }));
    }
    if (info.finish_reason && info.finish_reason !== "stop") {
      meta.append(element("span", { className: "finish", textContent: info.finish_reason === "cancelled" ? "stopped (cancelled)" : info.finish_reason }));
    }
    // Which answers are curated is the team's business, not the members'.
    if (info.curated && canCurate) meta.append(element("span", { className: "curated", textContent: "curated answer" }));
    el.dataset.finishReason = info.finish_reason || "stop";
    showSources(el, info.sources);
    if (info.messageId) {
      el.dataset.messageId = info.messageId;
      const buttons = element("span", { className: "actions" });
      const text = info.text;
      buttons.append(
        copyButton("Copy answer", () => text, "copy-answer"),
        rateButton(el, THUMBS_UP, "Good answer", "up"),
        rateButton(el, THUMBS_DOWN, "Bad answer", "down"),
        iconButton("Regenerate", "again", actions.regenerate, "regenerate"),
      );
      if (canCurate && !info.curated && !info.savedAsCurated) {
        buttons.append(iconButton("Save as a curated answer", "star", () => actions.saveCurated(el), "curate"));
      }
      meta.append(buttons);
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
      actions.send({ type: "feedback", message_id: Number(el.dataset.messageId), rating });
      if (rating === THUMBS_DOWN) askWhy(el);
    }, rating === THUMBS_UP ? "rate-up" : "rate-down");
    button.setAttribute("aria-pressed", "false");
    return button;
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
      if (comment) actions.send({ type: "feedback", message_id: Number(el.dataset.messageId), rating: THUMBS_DOWN, comment });
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

  // -- versions: Regenerate and edit replace the last turn in place (docs/protocol.md "Versions")
  //
  // A turn is its question and what follows it up to the next question. The versions of one turn
  // share a set: {questions: [question elements, oldest first], shown: the one in the log}; a
  // version not shown keeps its other elements in `rest` (detached). Earlier versions are read
  // only (`earlier`: no edit, retry or regenerate).

  // What follows a question in the log up to the next question: its answer, an agent's replies.
  function following(question) {
    const rest = [];
    for (let next = question.nextElementSibling; next && !next.classList.contains("user"); next = next.nextElementSibling) {
      rest.push(next);
    }
    return rest;
  }

  // The shown version's elements leave the log; returns the node they stood before.
  function detach(question) {
    question.rest = following(question);
    const before = (question.rest[question.rest.length - 1] || question).nextElementSibling;
    question.remove();
    for (const el of question.rest) el.remove();
    return before;
  }

  // `focus`: the class of the pager button pressed, which keeps the focus on the new version's.
  function show(set, question, focus) {
    const before = detach(set.shown);
    log.insertBefore(question, before);
    for (const el of question.rest || []) log.insertBefore(el, before);
    set.shown = question;
    drawPagers(set);
    markLast();
    if (focus) question.querySelector(`.${focus}:not(:disabled)`)?.focus();
  }

  function drawPagers(set) {
    const count = set.questions.length;
    set.questions.forEach((question, index) => {
      const earlier = index < count - 1;
      for (const el of [question, ...(question === set.shown ? following(question) : question.rest || [])]) {
        el.classList.toggle("earlier", earlier);
      }
      question.querySelector(".versions")?.remove();
      if (count < 2) return;
      const step = (by, focus) => () => show(set, set.questions[index + by], focus);
      const back = iconButton("Previous version", "left", step(-1, "version-back"), "version-back");
      const forward = iconButton("Next version", "right", step(1, "version-next"), "version-next");
      back.disabled = index === 0;
      forward.disabled = index === count - 1;
      const where = element("span", {}, [
        element("span", { className: "visually-hidden", textContent: "version " }), `${index + 1}/${count}`,
      ]);
      question.querySelector(".meta").prepend(element("span", { className: "versions" }, [back, where, forward]));
    });
  }

  // Stored versions (the REST messages with ?versions=true): `earlier`, the detached elements of
  // each earlier version, oldest first, question first; `question`: the current one, in the log.
  function keepVersions(earlier, question) {
    const questions = earlier.map(([first, ...rest]) => Object.assign(first, { rest }));
    const set = { questions: [...questions, question], shown: question };
    for (const q of set.questions) q.versions = set;
    drawPagers(set);
  }

  // A new version of the last turn: the shown one leaves the log, `question` (just drawn, last)
  // is the newest; `undo()` takes it back (the replacement was refused).
  function replaceLast(question) {
    const questions = log.querySelectorAll(".msg.user");
    const old = questions[questions.length - 2];
    if (!old) return () => {};
    const set = old.versions || { questions: [old], shown: old };
    old.versions = set;
    detach(set.shown);
    set.questions.push(question);
    set.shown = question;
    question.versions = set;
    drawPagers(set);
    markLast();
    return () => {
      if (set.shown !== question) show(set, question);
      const before = detach(question);
      set.questions.pop();
      const last = set.questions[set.questions.length - 1];
      for (const el of [last, ...(last.rest || [])]) log.insertBefore(el, before);
      set.shown = last;
      drawPagers(set);
      markLast();
    };
  }

  return { thumbnail, bubble, userBubble, answerFooter, showTool, showRating, keepVersions, replaceLast };
}
