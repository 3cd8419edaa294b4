// Markdown from the model is untrusted: marked renders it, DOMPurify strips anything active
// (forms too: an answer must not ask for input). Images load only from this origin and the
// hosts the tenant allows (the page's CSP says the same); any other is shown as a link, so an
// answer cannot make the browser fetch a URL by itself (a prompt-injected model could leak the
// conversation in it). The HTML is parsed in an inert <template> first: nothing is fetched
// before the images are checked. (marked, DOMPurify and hljs are the page's vendored scripts.)
import { copyButton, element } from "./dom.js";

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["form", "input", "button", "textarea", "select", "option", "style"],
};

function asLink(img) {
  const link = document.createElement("a");
  link.href = img.getAttribute("src") || "";
  link.rel = "noopener noreferrer nofollow";
  link.target = "_blank";
  link.className = "blocked-image";
  link.textContent = `[image: ${img.getAttribute("alt") || link.href}]`;
  return link;
}

// `render(el, text, final)` for a page whose tenant allows images from `imageHosts`. `final`:
// the answer is complete: code is highlighted and gets its copy button (not while streaming,
// where each render would redo both).
export function markdownRenderer(imageHosts) {
  marked.setOptions({ gfm: true, breaks: true });

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

  return function render(el, text, final) {
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
  };
}
