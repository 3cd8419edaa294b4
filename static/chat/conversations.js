// The chat page's sidebar: the member's own conversations (REST, searchable, paged), each
// renamed or deleted in place, the month's allowance, and the drawer it becomes on narrow screens.
import { $, drawer, element, iconButton } from "./dom.js";

const PAGE_SIZE = 30;
const SEARCH_DELAY_MS = 250;

// `api`: the page's REST call (throws on an HTTP error); `current()`: the open conversation's
// id; `open(id)`: open another (null: a new chat); `setStatus(text, kind)`: the status line.
export function conversationList({ api, current, open, setStatus }) {
  const list = $("conversations");
  const emptyList = $("conversations-empty");
  const moreButton = $("more");
  const search = $("search");
  const sidebarDrawer = drawer(search);
  const titleHeading = $("conversation-title");
  let nextPage = null; // the list's next page (REST `next`)
  let titleTimer = null;

  function showTitle(title) {
    const id = current();
    titleHeading.textContent = title || (id ? "Untitled conversation" : "New chat");
    for (const item of list.querySelectorAll("li")) {
      item.classList.toggle("current", Number(item.dataset.id) === id);
      const button = item.querySelector(".conv-open");
      if (Number(item.dataset.id) === id) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  function conversationItem(c) {
    const item = element("li", { className: "conv" });
    item.dataset.id = c.id;
    const label = c.title || "Untitled conversation";
    const button = element("button", { type: "button", className: "conv-open", textContent: label, title: label });
    button.addEventListener("click", () => { if (c.id !== current()) open(c.id); else sidebarDrawer.close(); });
    item.append(
      button,
      iconButton(`Rename “${label}”`, "edit", () => renameInline(item, c), "rename"),
      iconButton(`Delete “${label}”`, "trash", () => remove(item, c), "delete"),
    );
    if (c.id === current()) { item.classList.add("current"); button.setAttribute("aria-current", "true"); }
    return item;
  }

  function renameInline(item, c) {
    const field = element("input", { type: "text", value: c.title || "", maxLength: 200, className: "rename-field" });
    field.setAttribute("aria-label", "New title");
    const button = item.querySelector(".conv-open");
    button.hidden = true;
    item.prepend(field);
    field.focus();
    field.select();
    let done = false;
    const finish = async (keep) => {
      if (done) return;
      done = true;
      const title = field.value.trim();
      field.remove();
      button.hidden = false;
      if (!keep || !title || title === c.title) return;
      try {
        const updated = await api(`/api/v1/conversations/${c.id}/`, { method: "PATCH", body: { title } });
        item.replaceWith(conversationItem(updated));
        if (c.id === current()) showTitle(updated.title);
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
    if (c.id === current()) await open(null);
    try {
      await api(`/api/v1/conversations/${c.id}/`, { method: "DELETE" });
      item.remove();
      emptyList.hidden = list.children.length > 0;
    } catch (e) {
      setStatus("The conversation could not be deleted.", "error");
    }
  }

  async function load(reset) {
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
  function refresh() {
    load(true);
    showAllowance();
    clearTimeout(titleTimer);
    titleTimer = setTimeout(async () => {
      await load(true);
      const shown = list.querySelector(`li[data-id="${current()}"] .conv-open`);
      if (shown && titleHeading.textContent !== shown.textContent) showTitle(shown.textContent);
    }, 3000);
  }

  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => load(true), SEARCH_DELAY_MS);
  });
  moreButton.addEventListener("click", () => load(false));
  load(true);
  showAllowance();

  // The search box, on screen (the drawer opened on a phone) and focused.
  function focusSearch() {
    if (getComputedStyle($("open-sidebar")).display !== "none") sidebarDrawer.open();
    else search.focus();
  }

  return { showTitle, refresh, closeDrawer: sidebarDrawer.close, search: focusSearch };
}
