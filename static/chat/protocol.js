// What every chat client of protocol v1 does the same way (the chat page, the widget's panel):
// client ids, their state across reloads, reconnect delays, following the answer to a pending
// message after a reconnect, and re-rendering a streaming answer at a steady pace.

export const MAX_BACKOFF_S = 30;
const RENDER_INTERVAL_MS = 50;

export function uuid4() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// The wait before reconnect number `attempts` (from 0): 1, 2, 4 … 30 s, each drawn between half
// and all of it (jitter), so that a restarted server is not hit by every client at once.
export function reconnectDelay(attempts) {
  const ceiling = Math.min(MAX_BACKOFF_S, 2 ** attempts);
  return (ceiling / 2 + Math.random() * ceiling / 2) * 1000;
}

// After (re)connecting, the answer to the pending message (`pending.clientId`), among the
// `ready` frame's `resumable`: still streaming, the `resume` frame that gets only what `shown`
// (the answer on screen, {messageId, seq}) lacks; null when it never started or is over (the
// message is sent again: the server answers each client_id once, or replays the stored answer).
export function resumeFrame(pending, shown, resumable) {
  const listed = (resumable || []).find((g) => g.client_id === pending.clientId);
  if (!listed || listed.finished) return null;
  const after = shown && shown.messageId === listed.message_id ? shown.seq : 0;
  return { type: "resume", message_id: listed.message_id, after };
}

// Tokens arrive every ~40 ms; re-rendering the markdown at most every 50 ms keeps a page smooth.
// `answer`: {body, text, timer}; `render`: markdown.js's; `log`: scrolled to the end.
export function renderSoon(answer, render, log) {
  if (answer.timer) return;
  answer.timer = setTimeout(() => {
    answer.timer = null;
    render(answer.body, answer.text, false);
    log.scrollTop = log.scrollHeight;
  }, RENDER_INTERVAL_MS);
}

// A client's state across reloads (its conversation, the message not yet answered), as JSON in
// localStorage: {} when there is none or storage is refused (private mode: the page still works,
// it forgets on reload).
export function recall(key) {
  try {
    return JSON.parse(localStorage.getItem(key)) || {};
  } catch (e) {
    return {};
  }
}

// False when storage refuses it (a full quota, private mode, a blocked third-party frame).
export function keep(key, state) {
  try {
    localStorage.setItem(key, JSON.stringify(state));
    return true;
  } catch (e) {
    return false;
  }
}

// While a person of the team follows the conversation (`enabled`), the user's typing is told to
// them: a `typing` frame at most every 2 s while keys come, and a stop 3 s after the last one or
// when the message is sent. The server drops it otherwise; the client does not even send it.
export const TYPING_EVERY_MS = 2000;
const TYPING_IDLE_MS = 3000;

export function typingTeller(sendFrame) {
  let typing = false;
  let lastSent = 0;
  let idle = null;
  const teller = {
    enabled: false,
    stop() {
      clearTimeout(idle);
      if (!typing) return;
      typing = false;
      sendFrame({ active: false });
    },
    keyed() {
      if (!teller.enabled) return;
      const now = Date.now();
      if (!typing || now - lastSent >= TYPING_EVERY_MS) {
        typing = true;
        lastSent = now;
        sendFrame({ active: true });
      }
      clearTimeout(idle);
      idle = setTimeout(teller.stop, TYPING_IDLE_MS);
    },
  };
  return teller;
}
