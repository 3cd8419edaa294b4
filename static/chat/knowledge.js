// The console's knowledge base: the tenant's documents and their ingestion state, upload and
// delete, and reading a failed one again (owners and admins), all through the REST API (/api/v1/knowledge/documents/).
import { errorText, restClient } from "./api.js";
import { cell, textButton } from "./dom.js";

const POLL_MS = 2000;
const root = document.getElementById("knowledge");
const body = document.getElementById("knowledge-documents");
const statusLine = document.getElementById("knowledge-status");
const form = document.getElementById("knowledge-upload");
const manage = root.dataset.manage === "true";
const api = restClient(root.dataset.csrf);
let poll = null;
let watched = null; // the document just uploaded or read again: its end is told on the status line

function size(bytes) {
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

function row(d) {
  const tr = document.createElement("tr");
  tr.dataset.id = d.id;
  tr.dataset.status = d.status;
  const state = cell(d.status === "failed" ? `failed: ${d.error}` : d.status);
  state.className = `doc-status ${d.status}`;
  tr.append(cell(d.title), state, cell(d.status === "ready" ? d.chunk_count : "–"), cell(size(d.size_bytes)),
    cell(new Date(d.created_at).toLocaleString()));
  if (manage) {
    const td = document.createElement("td");
    if (d.status === "failed") td.append(textButton("Read again", `Read ${d.title} again`, () => reingest(d)));
    td.append(textButton("Delete", `Delete ${d.title}`, () => removeDocument(d)));
    tr.append(td);
  }
  return tr;
}

async function refresh() {
  const response = await api("/api/v1/knowledge/documents/");
  if (!response.ok) return;
  const documents = response.body;
  body.replaceChildren(...documents.map(row));
  const followed = watched && documents.find((d) => d.id === watched);
  if (followed && followed.status !== "pending") {
    watched = null;
    statusLine.textContent = followed.status === "ready"
      ? `“${followed.title}” is ready: ${followed.chunk_count} passages the assistant can cite.`
      : `“${followed.title}” could not be read: ${followed.error}`;
    statusLine.className = `status ${followed.status === "ready" ? "info" : "error"}`;
  }
  clearTimeout(poll);
  if (documents.some((d) => d.status === "pending")) poll = setTimeout(refresh, POLL_MS);
}

async function reingest(d) {
  const response = await api(`/api/v1/knowledge/documents/${d.id}/reingest/`, { method: "POST" });
  statusLine.textContent = response.ok ? `“${d.title}” is being read again…` : errorText(response.body, "It could not be read again.");
  if (response.ok) watched = d.id;
  refresh();
}

async function removeDocument(d) {
  if (!window.confirm(`Delete “${d.title}”? The assistant stops answering from it at once.`)) return;
  const response = await api(`/api/v1/knowledge/documents/${d.id}/`, { method: "DELETE" });
  statusLine.textContent = response.ok ? `“${d.title}” deleted.` : "It could not be deleted.";
  refresh();
}

if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    statusLine.textContent = "Uploading…";
    const response = await api("/api/v1/knowledge/documents/", { method: "POST", form: new FormData(form) });
    if (response.ok) {
      statusLine.textContent = `“${response.body.title}” uploaded; it is being read…`;
      statusLine.className = "status";
      watched = response.body.id;
      form.reset();
    } else {
      statusLine.textContent = errorText(response.body, "The upload failed.");
    }
    refresh();
  });
}
refresh();
