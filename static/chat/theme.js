// Light or dark: the system's choice (prefers-color-scheme) until the user picks one with the
// toggle; the pick is kept in localStorage. Runs in <head>, before the first paint.
(function () {
  "use strict";
  const KEY = "chatplatform:theme";
  const root = document.documentElement;
  const system = window.matchMedia("(prefers-color-scheme: dark)");
  let picked = null;
  try {
    picked = localStorage.getItem(KEY);
  } catch (e) {
    // Private mode: follow the system.
  }

  function apply() {
    const theme = picked || (system.matches ? "dark" : "light");
    root.dataset.theme = theme;
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.setAttribute("aria-label", theme === "dark" ? "Switch to light mode" : "Switch to dark mode");
  }

  apply();
  system.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", () => {
    apply();
    document.getElementById("theme-toggle").addEventListener("click", () => {
      picked = root.dataset.theme === "dark" ? "light" : "dark";
      try {
        localStorage.setItem(KEY, picked);
      } catch (e) {
        // Private mode: the pick lasts until the page is left.
      }
      apply();
    });
  });
})();
