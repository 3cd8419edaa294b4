// The workspace form goes to the workspace's sign-in by a script's navigation, not by submitting:
// the pages' CSP lets forms post only here ("form-action 'self'"), which browsers also hold the
// redirects after a submission to, and the provider is elsewhere.
const form = document.getElementById("sso-find");
form.addEventListener("submit", (event) => {
  event.preventDefault();
  const workspace = form.elements.workspace.value.trim().toLowerCase();
  const next = new URLSearchParams(window.location.search).get("next");
  const query = next ? `?next=${encodeURIComponent(next)}` : "";
  window.location.assign(`/sso/${encodeURIComponent(workspace)}/${query}`);
});
