// The drawing page: pointer strokes on a canvas, read after each stroke.
// "One digit" mode asks POST /v1/predict (bars and the 28x28 the model saw; with "why?" ticked, the
// saliency map over it: red where the ink is evidence for the digit, blue against); "A number" mode gives a
// wide canvas, asks POST /v1/read, and draws a box over each digit found with its digit and confidence.
// When the server stores corrections, "Wrong? It was:" sends the right digit or number to POST /v1/feedback.
import {attachPad, buildBars, clearPad as blankPad, showBars, showSeen} from "./drawing.js";

const MODES = {
  digit: {width: 280, label: "prediction", endpoint: "/v1/predict?include_input=true",
          hint: "Draw one digit with the mouse or a finger; it is read after each stroke."},
  number: {width: 840, label: "number", endpoint: "/v1/read",
           hint: "Write a number, digits side by side; it is read after each stroke."},
};
const pad = document.getElementById("pad");
const boxes = document.getElementById("boxes");
const context = pad.getContext("2d");
const seen = document.getElementById("seen");
const bars = document.getElementById("bars");
const message = document.getElementById("message");
const explainToggle = document.getElementById("explain");
let mode = "digit";
let placement = {scale: 1, left: 0, top: 0};  // where the image sent lies on the pad (uploads are fitted in)
let lastAsked = null;  // the last image sent and its answer, so that ticking "why?" can ask again
let lastResult = null;
let feedbackOn = false;  // whether the server stores corrections (GET /v1/model says)

// A blank pad (and no boxes over it), in the mode's size.
function clearPad() {
  blankPad(pad, MODES[mode].width);
  boxes.width = MODES[mode].width;
  placement = {scale: 1, left: 0, top: 0};
}

function resetPad() {
  clearPad();
  showResult(null);
  lastAsked = null;
}

function setMode(next) {
  mode = next;
  document.body.classList.toggle("mode-number", mode === "number");
  for (const button of document.querySelectorAll("[data-mode]")) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
  }
  document.getElementById("hint").textContent = MODES[mode].hint;
  document.getElementById("answer-label").textContent = MODES[mode].label;
  history.replaceState(null, "", mode === "number" ? "#number" : "#");
  resetPad();
  message.textContent = "";
}

attachPad(pad, () => {
  placement = {scale: 1, left: 0, top: 0};
  pad.toBlob((blob) => ask(blob, "drawing.png"), "image/png");
});

for (const button of document.querySelectorAll("[data-mode]")) {
  button.addEventListener("click", () => setMode(button.dataset.mode));
}
document.getElementById("clear").addEventListener("click", () => {
  resetPad();
  message.textContent = "";
});

document.getElementById("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  await showUpload(file);
  ask(file, file.name);
});

// The uploaded picture, fitted into the pad, so that the boxes of a number land on what was read.
async function showUpload(file) {
  clearPad();  // the previous answer stays until the new one comes
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    placement = {scale, left: (pad.width - bitmap.width * scale) / 2, top: (pad.height - bitmap.height * scale) / 2};
    context.drawImage(bitmap, placement.left, placement.top, bitmap.width * scale, bitmap.height * scale);
  } catch (error) {
    placement = {scale: 1, left: 0, top: 0};  // not an image the browser reads: the server will say why
  }
}

explainToggle.addEventListener("change", () => {
  if (explainToggle.checked && lastAsked && lastResult && !lastResult.saliency) {
    ask(lastAsked.blob, lastAsked.name);  // the answer came without the map: ask for it
  } else if (lastResult) {
    showSeen(seen, lastResult.input, explainToggle.checked ? lastResult.saliency : null);
  }
});

function endpoint(askedIn) {
  const explain = askedIn === "digit" && explainToggle.checked ? "&explain=true" : "";
  return MODES[askedIn].endpoint + explain;
}

async function ask(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  const askedIn = mode;
  lastAsked = {blob, name};
  try {
    const response = await fetch(endpoint(askedIn), { method: "POST", body: form });
    const body = await response.json();
    if (askedIn !== mode) return;  // the mode changed while the request was out
    if (!response.ok) {
      showResult(null);
      message.textContent = body.error ? body.error.message : `error ${response.status}`;
      return;
    }
    message.textContent = "";
    showResult(body);
  } catch (error) {
    message.textContent = `cannot reach the server (${error})`;
  }
}

function percent(probability) {
  return `${(100 * probability).toFixed(1)}%`;
}

function showResult(result) {
  lastResult = result;
  document.getElementById("correct").hidden = !(feedbackOn && result);
  document.getElementById("correct-status").textContent = "";
  delete document.getElementById("correct-status").dataset.saved;
  document.getElementById("correct-input").value = "";
  const answer = result ? (mode === "number" ? result.number : String(result.digit)) : "–";
  document.getElementById("digit").textContent = answer;
  document.getElementById("confidence").textContent = result ? `${percent(result.confidence)} sure` : "\u00a0";
  if (mode === "number") {
    showDigits(result ? result.digits : []);
  } else {
    showBars(bars, result && result.probabilities, result && result.digit);
    showSeen(seen, result && result.input, result && explainToggle.checked ? result.saliency : null);
  }
}

// Each digit of a number: a box over it on the pad, and a line in the list beside it.
function showDigits(digits) {
  const overlay = boxes.getContext("2d");
  overlay.clearRect(0, 0, boxes.width, boxes.height);
  const list = document.getElementById("digits");
  list.innerHTML = "";
  overlay.lineWidth = 3;
  overlay.font = "bold 20px system-ui, sans-serif";
  for (const found of digits) {
    const [x, y, width, height] = found.box;
    const left = placement.left + x * placement.scale, top = placement.top + y * placement.scale;
    overlay.strokeStyle = overlay.fillStyle = found.confidence >= 0.8 ? "#1a7f37" : "#b35900";
    overlay.strokeRect(left, top, width * placement.scale, height * placement.scale);
    overlay.fillText(`${found.digit} ${Math.round(100 * found.confidence)}%`, left, Math.max(18, top - 6));
    const item = document.createElement("li");
    item.className = "found";
    item.dataset.digit = String(found.digit);
    const others = found.top.slice(1).map(([digit, probability]) => `${digit}: ${percent(probability)}`).join(", ");
    item.innerHTML = `<strong>${found.digit}</strong> <span class="value">${percent(found.confidence)}</span>` +
      `<span class="muted"> (then ${others})</span>`;
    list.appendChild(item);
  }
}

// A correction: the image that was read, the right label and the reading it corrects. The client id makes
// a re-send (a retry after a lost answer) count once.
async function sendCorrection(label) {
  const status = document.getElementById("correct-status");
  if (!lastAsked || !lastResult) return;
  const form = new FormData();
  form.append("file", lastAsked.blob, lastAsked.name);
  form.append("label", label);
  form.append("prediction", mode === "number" ? lastResult.number : String(lastResult.digit));
  form.append("client_id", self.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);
  status.textContent = "saving…";
  status.dataset.saved = "pending";
  try {
    const response = await fetch("/v1/feedback", {method: "POST", body: form});
    const body = await response.json();
    status.textContent = response.ok ? `Saved: it was ${label}. Thank you.` :
      (body.error ? body.error.message : `error ${response.status}`);
    status.dataset.saved = String(response.ok);
    if (response.ok) status.dataset.id = body.id;
  } catch (error) {
    status.textContent = `cannot reach the server (${error})`;
  }
}

function buildCorrections() {
  const digits = document.getElementById("correct-digits");
  for (let digit = 0; digit < 10; digit++) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = String(digit);
    button.dataset.digit = String(digit);
    button.addEventListener("click", () => sendCorrection(String(digit)));
    digits.appendChild(button);
  }
  document.getElementById("correct-number").addEventListener("submit", (event) => {
    event.preventDefault();
    sendCorrection(document.getElementById("correct-input").value.trim());
  });
}

async function loadModelInfo() {
  try {
    const info = await (await fetch("/v1/model")).json();
    feedbackOn = Boolean(info.feedback);
    const accuracy = info.test_accuracy ? `, ${(100 * info.test_accuracy).toFixed(2)}% on the MNIST test set` : "";
    document.getElementById("model-info").textContent = `model ${info.model} (${info.run}) via ${info.engine}${accuracy}`;
  } catch (error) {
    document.getElementById("model-info").textContent = "model information unavailable";
  }
}

buildBars(bars);
buildCorrections();
setMode(location.hash === "#number" ? "number" : "digit");
loadModelInfo();
