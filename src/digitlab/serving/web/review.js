// The review queue: GET /v1/review lists corrections of one status, POST /v1/review decides. Identical
// inputs are shown as one group (the same 28x28 the model saw, sent with different labels).
const STATUS = document.getElementById("review-status");
const QUEUE = document.getElementById("queue");
const TOKEN = document.getElementById("token");
const FILTER = document.getElementById("status-filter");
const APPROVE_ALL = document.getElementById("approve-all");
let entries = [];
let current = 0;
let typed = "";

TOKEN.value = sessionStorage.getItem("digitlab-reviewer") || "";

async function call(method, body) {
  const response = await fetch(method === "GET" ? `/v1/review?status=${FILTER.value}&limit=200` : "/v1/review", {
    method, headers: {Authorization: `Bearer ${TOKEN.value.trim()}`,
                      ...(body ? {"Content-Type": "application/json"} : {})},
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error ? answer.error.message : `HTTP ${response.status}`);
  return answer;
}

function card(entry, index, groups) {
  const item = document.createElement("li");
  item.dataset.id = entry.id;
  const inputs = Object.assign(document.createElement("img"), {className: "inputs", alt: "what the model saw",
                                                               src: `data:image/png;base64,${entry.inputs_png}`});
  const upload = entry.upload_base64 ?
    Object.assign(document.createElement("img"), {className: "upload", alt: "the upload",
                                                  src: `data:image;base64,${entry.upload_base64}`}) :
    Object.assign(document.createElement("span"), {className: "upload muted", textContent: "(no upload kept)"});
  const facts = document.createElement("div");
  facts.className = "facts";
  const same = groups.get(entry.inputs_png).length;
  const reading = entry.submitted_by === "unsure" ? `withheld as not sure, likeliest ${entry.prediction ?? "?"}` :
    `read ${entry.prediction ?? "?"}`;
  facts.textContent = `${reading} → proposed ${entry.proposed_label}` +
    (entry.label !== entry.proposed_label ? ` (now ${entry.label})` : "") +
    ` · by ${entry.submitted_by ?? "unknown"} · ${entry.created_at}`;
  if (same > 1) {
    const group = Object.assign(document.createElement("span"), {className: "group",
                                                                 textContent: ` · same input as ${same - 1} more`});
    facts.append(group);
  }
  item.append(inputs, upload, facts);
  item.addEventListener("click", () => select(index));
  return item;
}

function select(index) {
  current = Math.max(0, Math.min(entries.length - 1, index));
  QUEUE.querySelectorAll("li").forEach((item, i) => item.classList.toggle("current", i === current));
  QUEUE.children[current]?.scrollIntoView({block: "nearest"});
}

async function load() {
  sessionStorage.setItem("digitlab-reviewer", TOKEN.value.trim());
  try {
    entries = (await call("GET")).corrections;
  } catch (error) {
    STATUS.textContent = `cannot open the queue: ${error.message}`;
    return;
  }
  const groups = new Map();
  for (const entry of entries) groups.set(entry.inputs_png, [...(groups.get(entry.inputs_png) || []), entry.id]);
  QUEUE.replaceChildren(...entries.map((entry, index) => card(entry, index, groups)));
  APPROVE_ALL.hidden = FILTER.value !== "pending" || !entries.length;
  STATUS.textContent = `${entries.length} ${FILTER.value} correction${entries.length === 1 ? "" : "s"}`;
  document.body.dataset.ready = "true";
  select(0);
}

async function decide(body, ids, what) {
  try {
    const {decided} = await call("POST", body);
    for (const id of ids) QUEUE.querySelector(`li[data-id="${id}"]`)?.setAttribute("data-decided", what);
    STATUS.textContent = `${what}: ${decided}`;
    select(current + 1);
  } catch (error) {
    STATUS.textContent = `not decided: ${error.message}`;
  }
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
FILTER.addEventListener("change", load);
APPROVE_ALL.addEventListener("click", () => {
  const ids = entries.map((entry) => entry.id);
  decide({approve: ids}, ids, "approved");
});
document.addEventListener("keydown", (event) => {
  if (event.target === TOKEN || !entries.length) return;
  const entry = entries[current];
  if (event.key === "j") select(current + 1);
  else if (event.key === "k") select(current - 1);
  else if (event.key === "a") decide({approve: [entry.id]}, [entry.id], "approved");
  else if (event.key === "r") decide({reject: [entry.id]}, [entry.id], "rejected");
  else if (event.key === "A") APPROVE_ALL.click();
  else if (/^[0-9]$/.test(event.key)) {
    typed += event.key;
    STATUS.textContent = `relabel as ${typed}? Enter to decide, Escape to drop`;
  } else if (event.key === "Enter" && typed) {
    const label = typed;
    typed = "";
    decide({relabel: {[entry.id]: label}}, [entry.id], `relabelled ${label}`);
  } else if (event.key === "Escape") {
    typed = "";
    STATUS.textContent = "";
  }
});
