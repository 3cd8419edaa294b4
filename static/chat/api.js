// The pages' one way to call the REST API: the page's session (same-origin credentials) and
// CSRF token, JSON in (``json``) or a form (``form``), the answer's JSON out, never a throw for
// an HTTP error: ``{ ok, status, body }``.
export function restClient(csrfToken) {
  return async function request(url, { method = "GET", json, form } = {}) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    const response = await fetch(url, { method, credentials: "same-origin", headers, body });
    const answer = response.status === 204 ? {} : await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, body: answer };
  };
}

// What an error answer says, for the page's status line: the fields' errors, else its detail.
export function errorText(answer, fallback) {
  const errors = Object.values(answer.errors || {}).flat();
  return errors.length ? errors.join(" ") : answer.detail || fallback;
}
