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

// A file sent with the page's session, its progress told as it goes (`onProgress(fraction)`):
// fetch cannot say how much of a body went, XMLHttpRequest can. The same answer as `request`.
export function upload(url, form, csrfToken, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: an empty answer */ }
      resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, body });
    });
    xhr.addEventListener("error", () => resolve({ ok: false, status: 0, body: { detail: "the connection failed" } }));
    xhr.send(form);
  });
}
