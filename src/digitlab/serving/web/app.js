// The page, for both readers: pen strokes on a canvas, read after each stroke, or an uploaded picture.
// "One digit" shows the bars and the 28x28 the model saw (with "why?" ticked, where the reader can explain,
// its saliency map over it: red where the ink is evidence for the digit, blue against); "A number" gives a
// wide canvas and draws a box over each digit found with its digit and confidence. Where the reader takes
// corrections, "Wrong? It was:" sends the right digit or number.
// The reader is the body's data-reader: "server" (server.js, the drawing page at /) or "device" (device.js,
// the on-device app); a service worker keeps the app's files, so that it works offline after one visit.
import {attachPad, buildBars, clearPad as blankPad, showBars, showSeen} from "./drawing.js";

const DEVICE = document.body.dataset.reader === "device";
const {openReader, ReadingError} = await import(DEVICE ? "./device.js" : "./server.js");
const MODES = {
  digit: {width: 280, label: "digit", hint: DEVICE ?
    "Draw a digit, or take a photo of one. Everything happens on this device, offline too." :
    "Draw one digit with the mouse or a finger; it is read after each stroke."},
  number: {width: 840, label: "number", hint: DEVICE ?
    "Write a number, digits side by side, or take a photo of one." :
    "Write a number, digits side by side; it is read after each stroke."},
};
const STATUS = document.getElementById(DEVICE ? "status" : "model-info");
const pad = document.getElementById("pad");
const boxes = document.getElementById("boxes");
const context = pad.getContext("2d", {willReadFrequently: true});
const seen = document.getElementById("seen");
const bars = document.getElementById("bars");
const message = document.getElementById("message");
const explainToggle = document.getElementById("explain");
const paperToggle = document.getElementById("paper");  // numbers on printed paper: lines taken out first
const opening = openReader();  // started at once: a stroke drawn while it loads is read once it has
let reader = null;
let mode = "digit";
let placement = {scale: 1, left: 0, top: 0};  // where the picture read lies on the pad (uploads are fitted in)
let lastAsked = null;  // the last input read and its answer, so that ticking "why?" or a correction can use it
let lastResult = null;

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
  message.textContent = "";
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
}

// The uploaded picture, fitted into the pad, so that the boxes of a number land on what was read.
async function showUpload(file) {
  clearPad();  // the previous answer stays until the new one comes
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    placement = {scale, left: (pad.width - bitmap.width * scale) / 2, top: (pad.height - bitmap.height * scale) / 2};
    context.drawImage(bitmap, placement.left, placement.top, bitmap.width * scale, bitmap.height * scale);
  } catch (error) {
    placement = {scale: 1, left: 0, top: 0};  // not an image the browser reads: the reader will say why
  }
}

// Read an input ({canvas}, {file} or {picture, isJpeg}) in the current mode; returns how long the reader took (ms).
async function ask(input, options = {}) {
  try {
    reader = await opening;
  } catch (error) {
    return null;  // the status line says why
  }
  const askedIn = mode;
  lastAsked = input;
  const started = performance.now();
  try {
    const explain = askedIn === "digit" && reader.canExplain && explainToggle.checked;
    const result = askedIn === "number" ? await reader.readNumber(input, {paper: paperToggle.checked, ...options}) :
      await reader.readDigit(input, {...options, explain});
    const took = performance.now() - started;
    if (askedIn !== mode) return took;  // the mode changed while the reading was out
    message.textContent = "";
    showResult(result);
    return took;
  } catch (error) {
    if (askedIn !== mode) return null;
    showResult(null);
    document.getElementById("digit").dataset.status = error.code === "no_digit" ? "no-digit-found" : "error";
    message.textContent = error instanceof ReadingError ? error.message : `cannot read the image (${error})`;
    return null;
  }
}

function percent(probability) {
  return `${(100 * probability).toFixed(1)}%`;
}

function showResult(result) {
  lastResult = result;
  document.getElementById("correct").hidden = !(reader && reader.canCorrect && result);
  document.getElementById("writer-token-row").hidden = !(reader && reader.correctNeedsToken);
  const status = document.getElementById("correct-status");
  status.textContent = "";
  delete status.dataset.saved;
  document.getElementById("correct-input").value = "";
  document.getElementById("digit").textContent = answerText(result);
  document.getElementById("digit").dataset.status = result ? (result.status || "ok") : "";
  showCandidates(result);
  document.getElementById("confidence").textContent = result ? `${percent(result.confidence)} sure` : "\u00a0";
  if (mode === "number") {
    showDigits(result ? result.digits : []);
  } else {
    showBars(bars, result && result.probabilities, result && result.digit);
    showSeen(seen, result && result.input, result && explainToggle.checked ? result.saliency : null);
  }
}

// What the answer says: the digit or number; "not a digit"; "not sure: 4 or 9?"; a number with a withheld
// digit shows it as "?".
function answerText(result) {
  if (!result) return "–";
  if (mode === "number") {
    return result.number ?? result.digits.map((found) => (found.digit === null ? "?" : String(found.digit))).join("");
  }
  if (result.status === "not-a-digit") return "not a digit";
  if (result.status === "unsure") return `not sure: ${result.candidates.slice(0, 2).join(" or ")}?`;
  return String(result.digit);
}

// A withheld reading's candidates, to tap: where the reader takes corrections, a tap sends the one meant.
function showCandidates(result) {
  const box = document.getElementById("candidates");
  box.innerHTML = "";
  const withheld = result && mode === "digit" && result.status === "unsure";
  box.hidden = !withheld;
  if (!withheld) return;
  for (const digit of result.candidates) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = String(digit);
    button.dataset.digit = String(digit);
    button.addEventListener("click", () => {
      if (reader.canCorrect) sendCorrection(String(digit));
      document.getElementById("digit").textContent = `${digit} (your choice)`;
    });
    box.appendChild(button);
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
    const given = found.digit !== null && found.digit !== undefined;
    overlay.strokeStyle = overlay.fillStyle = given && found.confidence >= 0.8 ? "#1a7f37" : "#b35900";
    overlay.strokeRect(left, top, width * placement.scale, height * placement.scale);
    overlay.fillText(`${given ? found.digit : "?"} ${Math.round(100 * found.confidence)}%`, left, Math.max(18, top - 6));
    const item = document.createElement("li");
    item.className = "found";
    item.dataset.digit = given ? String(found.digit) : "";
    item.dataset.status = found.status || "ok";
    const others = (found.top || []).slice(1).map(([digit, probability]) => `${digit}: ${percent(probability)}`);
    const said = given ? String(found.digit) : found.status === "not-a-digit" ? "not a digit" :
      `not sure: ${(found.top || []).slice(0, 2).map(([digit]) => digit).join(" or ")}?`;
    item.innerHTML = `<strong>${said}</strong> <span class="value">${percent(found.confidence)}</span>` +
      (others.length ? `<span class="muted"> (then ${others.join(", ")})</span>` : "");
    list.appendChild(item);
  }
}

async function sendCorrection(label) {
  const status = document.getElementById("correct-status");
  if (!lastAsked || !lastResult) return;
  status.textContent = "saving…";
  status.dataset.saved = "pending";
  try {
    const read = mode === "number" ? lastResult.digits.map((found) => found.digit ?? "?").join("") :
      String(lastResult.digit ?? "");
    const token = WRITER_TOKEN.value.trim();
    sessionStorage.setItem("digitlab-writer", token);
    const saved = await reader.correct(lastAsked, label, read, token);
    status.textContent = `Saved: it was ${label}. Thank you.`;
    status.dataset.saved = "true";
    status.dataset.id = saved.id;
  } catch (error) {
    status.textContent = error.message || String(error);
    status.dataset.saved = "false";
  }
}

// With tokens required (serve --feedback without --open-feedback), a writer gives theirs once per tab.
const WRITER_TOKEN = document.getElementById("writer-token");
WRITER_TOKEN.value = sessionStorage.getItem("digitlab-writer") || "";

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

attachPad(pad, () => {
  placement = {scale: 1, left: 0, top: 0};
  ask({canvas: pad});
});
for (const button of document.querySelectorAll("[data-mode]")) {
  button.addEventListener("click", () => setMode(button.dataset.mode));
}
document.getElementById("clear").addEventListener("click", resetPad);
document.querySelector("input.file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  await showUpload(file);
  ask({file});
});
explainToggle.addEventListener("change", () => {
  if (explainToggle.checked && lastAsked && lastResult && !lastResult.saliency) {
    ask(lastAsked);  // the answer came without the map: ask for it
  } else if (lastResult) {
    showSeen(seen, lastResult.input, explainToggle.checked ? lastResult.saliency : null);
  }
});

// For benchmarks and tests: read RGBA pixels as a stroke does, and say how long the reader took (ms).
window.digitlabApp = {
  get usesMarkModel() { return Boolean(reader && reader.usesMarkModel); },
  readPixels: (picture, options = {}) => ask({picture, isJpeg: Boolean(options.isJpeg)}, options),
};

buildBars(bars);
buildCorrections();
setMode(location.hash === "#number" ? "number" : "digit");
if (DEVICE && "serviceWorker" in navigator) navigator.serviceWorker.register("sw.js");
try {
  reader = await opening;
  STATUS.textContent = reader.status;
  document.getElementById("explain-toggle").hidden = !reader.canExplain;
  document.body.dataset.ready = "true";
} catch (error) {
  STATUS.textContent = DEVICE ? `the model could not be loaded (${error.message || error})` :
    "model information unavailable";
}
