// The console's curated answers: the tenant's answers to frequent questions, most given first,
// with what each saved; owners and admins add, edit, switch off and delete them, all through the
// REST API (/api/v1/knowledge/curated/). Answers are shown rendered, as the chat shows them.
import { errorText, restClient } from "./api.js";
import { cell, element, textButton, usd } from "./dom.js";
import { markdownRenderer } from "./markdown.js";

const root = document.getElementById("curated");
const body = document.getElementById("curated-answers");
const statusLine = document.getElementById("curated-status");
const form = document.getElementById("curated-form");
const suggested = document.getElementById("curated-suggestions");
const manage = root.dataset.manage === "true";
const api = restClient(root.dataset.csrf);
let editing = null; // the entry the form is editing; null: it adds one
const render = markdownRenderer([]);

// The answer as the chat shows it (markdown, sanitized), cut to a few lines here.
function answerCell(answer) {
  const shown = element("div", { className: "curated-text" });
  render(shown, answer.length > 300 ? `${answer.slice(0, 300)}…` : answer, true);
  return cell(shown);
}

function row(entry) {
  const tr = document.createElement("tr");
  tr.dataset.id = entry.id;
  const others = entry.questions.length - 1;
  tr.append(
    cell(others ? `${entry.questions[0]} (+${others} phrasing${others > 1 ? "s" : ""})` : entry.questions[0]),
    answerCell(entry.answer),
    cell(entry.hits, "hits"),
    cell(usd(entry.saved_usd)),
    cell(entry.last_hit_at ? new Date(entry.last_hit_at).toLocaleString() : "–"),
    cell(entry.enabled ? "on" : "off"),
  );
  if (manage) {
    const td = document.createElement("td");
    const first = entry.questions[0];
    td.append(
      textButton("Edit", `Edit the answer to ${first}`, () => edit(entry)),
      textButton(entry.enabled ? "Turn off" : "Turn on", `${entry.enabled ? "Turn off" : "Turn on"} the answer to ${first}`,
        () => save(entry.id, { enabled: !entry.enabled })),
      textButton("Delete", `Delete the answer to ${first}`, () => remove(entry)),
    );
    tr.append(td);
  }
  return tr;
}

// The entries; with ``suggestions``, the suggested phrasings too (the server embeds the week's
// questions for them: once when the page opens, not after every save).
async function refresh(suggestions) {
  const response = await api("/api/v1/knowledge/curated/");
  if (!response.ok) return;
  const entries = response.body;
  body.replaceChildren(...entries.map(row));
  if (manage && suggestions) suggest(new Map(entries.map((e) => [e.id, e])));
}

// Questions that came close to an entry without matching it: one click adds the phrasing, or
// declines it (it asks something else: not suggested for that entry again).
async function suggest(entries) {
  const response = await api("/api/v1/knowledge/curated/suggestions/");
  if (!response.ok) return;
  const items = response.body.filter((s) => entries.has(s.entry_id));
  suggested.replaceChildren(...items.map((s) => {
    const entry = entries.get(s.entry_id);
    const li = document.createElement("li");
    // Saves the entry's list ``field`` with the question added; the next suggestion keeps it.
    const settle = (field) => async () => {
      if (!(await save(entry.id, { [field]: [...entry[field], s.question] }))) return;
      entry[field].push(s.question);
      li.remove();
      suggested.hidden = !suggested.children.length;
    };
    li.append(
      `“${s.question}” (${Math.round(s.similarity * 100)} % alike) `,
      textButton(`Add to “${entry.questions[0]}”`, `Add “${s.question}” to the answer to ${entry.questions[0]}`,
        settle("questions")),
      textButton("Not this one", `Not this one: “${s.question}” asks something else than ${entry.questions[0]}`,
        settle("declined_questions")),
    );
    return li;
  }));
  suggested.hidden = !items.length;
}

async function save(id, changes) {
  const response = await api(id ? `/api/v1/knowledge/curated/${id}/` : "/api/v1/knowledge/curated/", {
    method: id ? "PATCH" : "POST", json: changes,
  });
  if (response.ok) {
    statusLine.textContent = id ? "Saved: the next question sees it." : "Added: the next question like it is answered from it.";
  } else {
    statusLine.textContent = errorText(response.body, "It could not be saved.");
  }
  refresh();
  return response.ok;
}

async function remove(entry) {
  if (!window.confirm(`Delete the answer to “${entry.questions[0]}”? The questions go to the model again.`)) return;
  const response = await api(`/api/v1/knowledge/curated/${entry.id}/`, { method: "DELETE" });
  statusLine.textContent = response.ok ? "Deleted." : "It could not be deleted.";
  refresh();
}

function edit(entry) {
  editing = entry.id;
  form.elements.questions.value = entry.questions.join("\n");
  form.elements.answer.value = entry.answer;
  form.querySelector("button[type=submit]").textContent = "Save";
  form.elements.questions.focus();
}

if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const questions = form.elements.questions.value.split("\n").map((q) => q.trim()).filter(Boolean);
    if (await save(editing, { questions, answer: form.elements.answer.value })) {
      editing = null;
      form.reset();
      form.querySelector("button[type=submit]").textContent = "Add";
    }
  });
}
refresh(true);
