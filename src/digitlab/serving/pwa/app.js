// The on-device app: draw or photograph a digit or a whole number; it is read here, by the run's model.onnx in ONNX Runtime
// Web (wasm, one thread), after the same preprocessing as the server's (imaging.js). A service worker keeps
// every file, so after one visit the app works offline.
import * as ort from "./vendor/ort.wasm.bundle.min.mjs";
import {attachPad, buildBars, clearPad as blankPad, showBars, showSeen} from "./drawing.js";
import {decode, NoDigitFound, toMnist} from "./imaging.js";
import {readNumber} from "./numbers.js";

const pad = document.getElementById("pad");
const context = pad.getContext("2d", {willReadFrequently: true});
const bars = document.getElementById("bars");
const message = document.getElementById("message");
let session = null, marksSession = null, model = null, mode = "digit";
const WIDTHS = {digit: 280, number: 840};

function clearPad() {
  blankPad(pad, WIDTHS[mode]);
}

async function loadModel() {
  model = await (await fetch("model.json")).json();
  ort.env.wasm.wasmPaths = new URL("vendor/", location.href).href;
  ort.env.wasm.numThreads = 1;
  session = await ort.InferenceSession.create("model.onnx", {executionProviders: ["wasm"]});
  if (model.marks) marksSession = await ort.InferenceSession.create("marks.onnx", {executionProviders: ["wasm"]});
  const accuracy = model.test_accuracy ? `, ${(100 * model.test_accuracy).toFixed(2)}% on MNIST test` : "";
  document.getElementById("status").textContent = `model ${model.model} (${model.run}) on this device${accuracy}`;
  document.body.dataset.ready = "true";
}

// For benchmarks and tests: read RGBA pixels as a stroke does, and say how long it took (ms).
window.digitlabApp = {
  get usesMarkModel() { return marksSession !== null; },
  async readPixels(picture, options = {}) {
    await read(picture, options);
    return window.lastReadingMs;
  },
};

// 28x28 inputs -> their probabilities, in one model call (scores normalised to sum to 1, as the server's
// Predictor does).
async function classifyMany(inputs) {
  const pixels = new Float32Array(inputs.length * 784);
  inputs.forEach((input, i) => input.forEach((v, j) => { pixels[i * 784 + j] = v / 255; }));
  const shape = model.flatten ? [inputs.length, 784] : [inputs.length, 28, 28];
  const outputs = await session.run({[session.inputNames[0]]: new ort.Tensor("float32", pixels, shape)});
  const scores = outputs[session.outputNames[0]].data;
  return inputs.map((_, i) => {
    const row = Array.from(scores.subarray(i * 10, i * 10 + 10));
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return row.map((s) => s / total);
  });
}

// 28x28 inputs -> each one's log-probability of being one whole digit, by the run's mark model (its output
// is the log-odds of "not": log(1 - sigmoid(z)) = -softplus(z), computed so that it never rounds to -Infinity).
async function oneDigitMany(inputs) {
  const pixels = new Float32Array(inputs.length * 784);
  inputs.forEach((input, i) => input.forEach((v, j) => { pixels[i * 784 + j] = v / 255; }));
  const tensor = new ort.Tensor("float32", pixels, [inputs.length, 28, 28, 1]);
  const outputs = await marksSession.run({[marksSession.inputNames[0]]: tensor});
  return Array.from(outputs[marksSession.outputNames[0]].data, (z) => -(Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)))));
}

async function classify(input) {
  return (await classifyMany([input]))[0];
}

async function read(picture, options) {
  if (!session) return;
  const started = performance.now();
  let input;
  try {
    if (mode === "number") {
      const reading = await readNumber(picture, classifyMany, marksSession ? {...options, oneDigit: oneDigitMany} : options);
      window.lastReadingMs = performance.now() - started;
      message.textContent = "";
      showNumber(reading);
      return;
    }
    input = toMnist(picture, options);
  } catch (error) {
    show(null, null);
    showNumber(null);
    message.textContent = error instanceof NoDigitFound ? error.message : `cannot read the image (${error})`;
    return;
  }
  const probabilities = await classify(input);
  window.lastReadingMs = performance.now() - started;  // the benchmark reads this
  message.textContent = "";
  show(probabilities, input);
}

function showNumber(reading) {
  document.getElementById("digit").textContent = reading ? reading.number : "–";
  document.getElementById("confidence").textContent = reading ? `${(100 * reading.confidence).toFixed(1)}% sure` : "\u00a0";
  const list = document.getElementById("digits");
  list.innerHTML = "";
  for (const found of reading ? reading.digits : []) {
    const item = document.createElement("li");
    item.dataset.digit = String(found.digit);
    item.textContent = `${found.digit}: ${(100 * found.confidence).toFixed(1)}%`;
    list.appendChild(item);
  }
}

function setMode(next) {
  mode = next;
  document.body.classList.toggle("mode-number", mode === "number");
  for (const button of document.querySelectorAll("[data-mode]")) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
  }
  document.getElementById("answer-label").textContent = mode === "number" ? "number" : "digit";
  document.getElementById("hint").textContent = mode === "number" ?
    "Write a number, digits side by side, or take a photo of one." :
    "Draw a digit, or take a photo of one. Everything happens on this device, offline too.";
  clearPad();
  show(null, null);
  showNumber(null);
  message.textContent = "";
}

function show(probabilities, input) {
  const digit = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : null;
  document.getElementById("digit").textContent = digit === null ? "–" : String(digit);
  document.getElementById("confidence").textContent = digit === null ? "\u00a0" :
    `${(100 * probabilities[digit]).toFixed(1)}% sure`;
  showBars(bars, probabilities, digit);
  showSeen(document.getElementById("seen"), input);
}

attachPad(pad, () => {
  const {data} = context.getImageData(0, 0, pad.width, pad.height);
  read({width: pad.width, height: pad.height, data});
});
document.getElementById("clear").addEventListener("click", () => setMode(mode));
for (const button of document.querySelectorAll("[data-mode]")) {
  button.addEventListener("click", () => setMode(button.dataset.mode));
}

document.getElementById("photo").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  try {
    const {picture, isJpeg} = await decode(file);
    clearPad();
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    context.drawImage(bitmap, (pad.width - bitmap.width * scale) / 2, (pad.height - bitmap.height * scale) / 2,
                      bitmap.width * scale, bitmap.height * scale);
    await read(picture, {isJpeg});
  } catch (error) {
    show(null, null);
    message.textContent = `not an image this browser can read (${error.message || error})`;
  }
});

buildBars(bars);
setMode(location.hash === "#number" ? "number" : "digit");
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js");
loadModel().catch((error) => {
  document.getElementById("status").textContent = `the model could not be loaded (${error.message || error})`;
});
