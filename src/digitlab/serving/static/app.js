// The drawing page: pointer strokes on a canvas, read after each stroke.
// "One digit" mode asks POST /v1/predict (bars and the 28x28 the model saw; with "why?" ticked, the
// saliency map over it: red where the ink is evidence for the digit, blue against); "A number" mode gives a
// wide canvas, asks POST /v1/read, and draws a box over each digit found with its digit and confidence.
// When the server stores corrections, "Wrong? It was:" sends the right digit or number to POST /v1/feedback.
"use strict";

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
let drawing = false;
let placement = {scale: 1, left: 0, top: 0};  // where the image sent lies on the pad (uploads are fitted in)
let lastAsked = null;  // the last image sent and its answer, so that ticking "why?" can ask again
let lastResult = null;
let feedbackOn = false;  // whether the server stores corrections (GET /v1/model says)

// A blank pad (and no boxes over it), in the mode's size.
function clearPad() {
  pad.width = boxes.width = MODES[mode].width;
  context.fillStyle = "white";
  context.fillRect(0, 0, pad.width, pad.height);
  context.strokeStyle = "black";
  context.lineWidth = 18;
  context.lineCap = "round";
  context.lineJoin = "round";
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

function buildBars() {
  bars.innerHTML = "";
  for (let digit = 0; digit < 10; digit++) {
    const row = document.createElement("div");
    row.className = "bar";
    row.dataset.digit = String(digit);
    row.innerHTML = `<span>${digit}</span><div class="track"><div class="fill"></div></div><span class="value">0%</span>`;
    bars.appendChild(row);
  }
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  context.beginPath();
  context.moveTo(x, y);
  context.lineTo(x + 0.01, y);
  context.stroke();
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  context.lineTo(x, y);
  context.stroke();
});
function endStroke() {
  if (!drawing) return;
  drawing = false;
  placement = {scale: 1, left: 0, top: 0};
  pad.toBlob((blob) => ask(blob, "drawing.png"), "image/png");
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

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
    showSeen(lastResult.input, explainToggle.checked ? lastResult.saliency : null);
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
  document.getElementById("correct-input").value = "";
  const answer = result ? (mode === "number" ? result.number : String(result.digit)) : "–";
  document.getElementById("digit").textContent = answer;
  document.getElementById("confidence").textContent = result ? `${percent(result.confidence)} sure` : "\u00a0";
  if (mode === "number") {
    showDigits(result ? result.digits : []);
  } else {
    showBars(result);
    showSeen(result && result.input, result && explainToggle.checked ? result.saliency : null);
  }
}

function showBars(result) {
  for (const row of bars.children) {
    const digit = Number(row.dataset.digit);
    const probability = result ? result.probabilities[digit] : 0;
    row.querySelector(".fill").style.width = `${(100 * probability).toFixed(1)}%`;
    row.querySelector(".value").textContent = `${Math.round(100 * probability)}%`;
    row.classList.toggle("top", Boolean(result) && digit === result.digit);
  }
}

// The 28x28 input in grey; with a saliency map, each pixel tinted red (evidence for the digit) or blue
// (against), as strongly as its share of the map's largest value.
function showSeen(input, saliency) {
  const seenContext = seen.getContext("2d");
  seenContext.fillStyle = "black";
  seenContext.fillRect(0, 0, seen.width, seen.height);
  seen.dataset.explained = String(Boolean(input && saliency));
  if (!input) return;
  const image = seenContext.createImageData(28, 28);
  const evidence = saliency ? saliency.flat() : null;
  const largest = evidence ? Math.max(...evidence.map(Math.abs)) || 1 : 1;
  input.flat().forEach((value, index) => {
    const grey = evidence ? value * 0.5 : value;
    const share = evidence ? evidence[index] / largest : 0;
    const tint = Math.min(1, Math.abs(share) * 1.5);
    const target = share > 0 ? [255, 40, 40] : [60, 120, 255];
    image.data.set([0, 1, 2].map((c) => grey + (target[c] - grey) * tint).concat(255), index * 4);
  });
  const small = document.createElement("canvas");
  small.width = small.height = 28;
  small.getContext("2d").putImageData(image, 0, 0);
  seenContext.imageSmoothingEnabled = false;
  seenContext.drawImage(small, 0, 0, seen.width, seen.height);
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

buildBars();
buildCorrections();
setMode(location.hash === "#number" ? "number" : "digit");
loadModelInfo();
