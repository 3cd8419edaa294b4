/* chatplatform website widget. Paste on any page of an allowed domain:
 *   <script async src="https://PLATFORM/widget.js" data-site="site_…"></script>
 * Verified visitors: data-identity="<JWT your server signed>", or later
 *   window.chatplatform("identify", "<JWT>")
 * It adds a launcher button and, when opened, an iframe of the platform's panel page: the page's
 * own CSS and scripts can neither style nor read the chat. No dependencies; nothing is loaded
 * from anyone but the platform. Styles are set through the CSSOM (allowed under a strict CSP). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.chatplatform) return;
  var site = script.getAttribute("data-site") || "";
  var platform = new URL(script.src).origin;
  var identity = script.getAttribute("data-identity") || null;
  var queued = [];
  window.chatplatform = function (command, value) { queued.push([command, value]); };
  if (!/^site_[\w-]+$/.test(site)) { console.warn("chatplatform widget: data-site is missing"); return; }

  var PHONE = window.matchMedia("(max-width: 480px)");
  var frame = null, panel = null, launcher = null, settings = null, ready = false, open = false;

  function css(el, styles) { for (var k in styles) el.style.setProperty(k, styles[k], "important"); }

  function place() {
    var side = settings.position === "left" ? "left" : "right";
    var phone = PHONE.matches;
    var common = { position: "fixed", "z-index": "2147483000" };
    css(launcher, Object.assign({}, common, { bottom: "20px", display: open && phone ? "none" : "flex" }));
    launcher.style.setProperty(side, "20px", "important");
    launcher.style.removeProperty(side === "left" ? "right" : "left");
    if (!panel) return;
    var box = phone
      ? { top: "0", left: "0", right: "0", bottom: "0", width: "100%", height: "100%", "border-radius": "0" }
      : { bottom: "88px", width: "380px", height: "min(600px, calc(100vh - 108px))", "border-radius": "14px", top: "auto" };
    css(panel, Object.assign({}, common, box, {
      display: open ? "block" : "none", overflow: "hidden", border: "0",
      "box-shadow": phone ? "none" : "0 12px 40px rgba(0,0,0,.28)", background: "#fff",
    }));
    if (!phone) {
      panel.style.setProperty(side, "20px", "important");
      panel.style.removeProperty(side === "left" ? "right" : "left");
    }
  }

  function post(message) { if (frame && ready) frame.contentWindow.postMessage(message, platform); }

  // Where the browser gives the panel no storage of its own, it asks this page to keep its state.
  var storageKey = "chatplatform:" + site;
  function stored() {
    try { return JSON.parse(localStorage.getItem(storageKey)); } catch (e) { return null; }
  }
  function store(state) {
    try { localStorage.setItem(storageKey, JSON.stringify(state)); } catch (e) { /* no storage: forgets on reload */ }
  }

  function identify(token) {
    identity = token;
    post({ type: "chatplatform:identify", identity: token });
  }

  function build() {
    panel = document.createElement("div");
    frame = document.createElement("iframe");
    var query = "?origin=" + encodeURIComponent(location.origin);
    frame.src = platform + "/widget/" + encodeURIComponent(site) + "/" + query;
    frame.title = settings.title;
    frame.setAttribute("allow", "clipboard-write");
    css(frame, { width: "100%", height: "100%", border: "0", display: "block" });
    panel.appendChild(frame);
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", settings.title);
    panel.id = "chatplatform-panel";
    document.body.appendChild(panel);
    launcher.setAttribute("aria-controls", panel.id);
  }

  function toggle(show) {
    open = show;
    if (open && !panel) build();
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", open ? settings.close_label : settings.open_label);
    place();
    if (open) { post({ type: "chatplatform:opened" }); frame.focus(); } else launcher.focus();
  }

  window.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== platform) return;
    var type = event.data && event.data.type;
    if (type === "chatplatform:ready") {
      ready = true;
      post({ type: "chatplatform:init", identity: identity, state: stored() });
      if (open) post({ type: "chatplatform:opened" });
    } else if (type === "chatplatform:store" && event.data.state && typeof event.data.state === "object") {
      store(event.data.state);
    } else if (type === "chatplatform:close") {
      toggle(false);
    }
  });

  function show(loaded) {
    settings = loaded;
    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.id = "chatplatform-launcher";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", settings.open_label);
    css(launcher, {
      "align-items": "center", gap: "8px", padding: settings.launcher_text ? "0 18px" : "0", height: "56px",
      "min-width": "56px", "justify-content": "center", "border-radius": "28px", border: "0", cursor: "pointer",
      background: settings.color, color: settings.color_fg, font: "600 15px/1 system-ui, sans-serif",
      "box-shadow": "0 6px 20px rgba(0,0,0,.25)",
    });
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "26");
    svg.setAttribute("height", "26");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z");
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    launcher.appendChild(svg);
    if (settings.launcher_text) launcher.appendChild(document.createTextNode(settings.launcher_text));
    launcher.addEventListener("click", function () { toggle(!open); });
    document.body.appendChild(launcher);
    place();
    PHONE.addEventListener("change", place);
    window.chatplatform = function (command, value) {
      if (command === "identify" && typeof value === "string") identify(value);
      else if (command === "open") toggle(true);
      else if (command === "close") toggle(false);
    };
    queued.forEach(function (c) { window.chatplatform(c[0], c[1]); });
  }

  fetch(platform + "/widget/" + encodeURIComponent(site) + "/settings", { credentials: "omit" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (loaded) {
      if (document.body) show(loaded);
      else document.addEventListener("DOMContentLoaded", function () { show(loaded); });
    })
    .catch(function (e) {
      console.warn("chatplatform widget: not shown here (" + e.message + "): is this domain one of the site's allowed domains?");
    });
})();
