// The panel's theme, before the first paint: the site's setting (light or dark), or with "auto"
// the visitor's own preference (prefers-color-scheme), followed as it changes.
(function () {
  "use strict";
  const root = document.documentElement;
  const setting = root.dataset.themeSetting;
  const system = window.matchMedia("(prefers-color-scheme: dark)");
  function apply() {
    root.dataset.theme = setting === "light" || setting === "dark" ? setting : system.matches ? "dark" : "light";
  }
  apply();
  system.addEventListener("change", apply);
})();
