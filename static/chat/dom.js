// Small DOM helpers the pages share: elements, table cells, text and icon buttons, a copy button,
// Enter that sends, a clock, a cost for people, the side list that is a drawer on a phone.

export const $ = (id) => document.getElementById(id);

export function element(tag, props, children) {
  const el = document.createElement(tag);
  Object.assign(el, props || {});
  for (const child of children || []) el.append(child);
  return el;
}

// A table cell holding `content` (text, or a node), with an optional class.
export function cell(content, className) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (className) td.className = className;
  return td;
}

// A quiet text button; `label` is what a screen reader says (the row it acts on).
export function textButton(text, label, onClick) {
  const button = element("button", { type: "button", className: "quiet", textContent: text });
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

// Line icons (after Feather, MIT), drawn inline: no font needs to have the glyphs.
const ICONS = {
  copy: '<rect x="9" y="9" width="13" height="13" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>',
  check: '<polyline points="20 6 9 17 4 12"/>',
  cross: '<path d="M18 6 6 18M6 6l12 12"/>',
  up: '<path d="M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3"/>',
  down: '<path d="M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17"/>',
  left: '<polyline points="15 18 9 12 15 6"/>',
  right: '<polyline points="9 18 15 12 9 6"/>',
  again: '<polyline points="23 4 23 10 17 10"/><polyline points="1 20 1 14 7 14"/><path d="M3.51 9a9 9 0 0 1 14.85-3.36L23 10M1 14l4.64 4.36A9 9 0 0 0 20.49 15"/>',
  edit: '<path d="M17 3a2.83 2.83 0 1 1 4 4L7.5 20.5 2 22l1.5-5.5L17 3z"/>',
  clip: '<path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/>',
  star: '<polygon points="12 2 15.09 8.26 22 9.27 17 14.14 18.18 21.02 12 17.77 5.82 21.02 7 14.14 2 9.27 8.91 8.26 12 2"/>',
  trash: '<polyline points="3 6 5 6 21 6"/><path d="M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6m3 0V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2"/>',
};

export function icon(name) {
  const inert = document.createElement("template");
  inert.innerHTML =
    '<svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" ' +
    `stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${ICONS[name]}</svg>`;
  return inert.content.firstChild;
}

export function iconButton(label, iconName, onClick, className) {
  const button = element("button", { type: "button", className: `icon ${className || ""}`, title: label });
  button.append(icon(iconName));
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

// `text`: a function, so the button copies what is there when it is pressed.
export function copyButton(label, text, className) {
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

// Enter sends `form`, Shift+Enter starts a new line in `input`.
export function enterSubmits(input, form) {
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

// A cost as people read it: "$0.0021", "$1.25"; "< $0.0001" for less, "$0" for none.
export function usd(value) {
  const n = Number(value);
  if (!n) return "$0";
  if (n < 0.0001) return "< $0.0001";
  return n < 1 ? `$${Number(n.toPrecision(2))}` : `$${n.toFixed(2)}`;
}

// A page's status line: `set(text, kind)` says `text` ("" clears it), styled by `kind`
// (info, warn, error).
export function statusLine(el) {
  return (text, kind) => {
    el.textContent = text || "";
    el.className = `status ${kind || ""}`;
  };
}

export function clock(when) {
  const date = when ? new Date(when) : new Date();
  return element("time", {
    dateTime: date.toISOString(),
    textContent: date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    title: date.toLocaleString(),
  });
}

// The page's side list (#sidebar), a drawer on a phone: #open-sidebar opens it (and focuses
// `focus`), #close-sidebar and the #backdrop close it. `close()` is false when it was not open.
export function drawer(focus) {
  const sidebar = $("sidebar");
  const backdrop = $("backdrop");
  const openButton = $("open-sidebar");
  function open() {
    sidebar.classList.add("open");
    backdrop.hidden = false;
    openButton.setAttribute("aria-expanded", "true");
    focus.focus();
  }
  function close() {
    if (!sidebar.classList.contains("open")) return false;
    sidebar.classList.remove("open");
    backdrop.hidden = true;
    openButton.setAttribute("aria-expanded", "false");
    return true;
  }
  openButton.addEventListener("click", open);
  $("close-sidebar").addEventListener("click", close);
  backdrop.addEventListener("click", close);
  return { open, close };
}
