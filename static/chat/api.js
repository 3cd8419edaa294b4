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

// A paged list of the API (``{results, next, count}``) drawn a page at a time: `show(url)` draws
// its first page anew into `body`, `more` (a button, shown while there is a next page) appends
// the next; each answer, drawn or not, goes to `told(answer, first)` (the page's status line).
export function pagedList({ api, body, more, row, told }) {
  let next = null;
  async function load(url, first) {
    const answer = await api(url);
    if (answer.ok) {
      const rows = answer.body.results.map(row);
      if (first) body.replaceChildren(...rows);
      else body.append(...rows);
      next = answer.body.next;
      more.hidden = !next;
    }
    told(answer, first);
  }
  more.addEventListener("click", () => { if (next) load(next, false); });
  return { show: (url) => load(url, true) };
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
