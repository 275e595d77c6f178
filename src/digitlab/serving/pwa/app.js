// The on-device app: draw or photograph a digit; it is read here, by the run's model.onnx in ONNX Runtime
// Web (wasm, one thread), after the same preprocessing as the server's (imaging.js). A service worker keeps
// every file, so after one visit the app works offline.
import * as ort from "./vendor/ort.wasm.bundle.min.mjs";
import {decode, NoDigitFound, toMnist} from "./imaging.js";

const pad = document.getElementById("pad");
const context = pad.getContext("2d", {willReadFrequently: true});
const bars = document.getElementById("bars");
const message = document.getElementById("message");
let session = null, model = null, drawing = false;

function clearPad() {
  context.fillStyle = "white";
  context.fillRect(0, 0, pad.width, pad.height);
  context.strokeStyle = "black";
  context.lineWidth = 18;
  context.lineCap = "round";
  context.lineJoin = "round";
}

function buildBars() {
  for (let digit = 0; digit < 10; digit++) {
    const row = document.createElement("div");
    row.className = "bar";
    row.dataset.digit = String(digit);
    row.innerHTML = `<span>${digit}</span><div class="track"><div class="fill"></div></div><span class="value">0%</span>`;
    bars.appendChild(row);
  }
}

async function loadModel() {
  model = await (await fetch("model.json")).json();
  ort.env.wasm.wasmPaths = new URL("vendor/", location.href).href;
  ort.env.wasm.numThreads = 1;
  session = await ort.InferenceSession.create("model.onnx", {executionProviders: ["wasm"]});
  const accuracy = model.test_accuracy ? `, ${(100 * model.test_accuracy).toFixed(2)}% on MNIST test` : "";
  document.getElementById("status").textContent = `model ${model.model} (${model.run}) on this device${accuracy}`;
  document.body.dataset.ready = "true";
}

// For benchmarks and tests: read RGBA pixels as a stroke does, and say how long it took (ms).
window.digitlabApp = {
  async readPixels(picture, options = {}) {
    await read(picture, options);
    return window.lastReadingMs;
  },
};

// The 28x28 input -> probabilities (scores normalised to sum to 1, as the server's Predictor does).
async function classify(input) {
  const pixels = Float32Array.from(input, (v) => v / 255);
  const shape = model.flatten ? [1, 784] : [1, 28, 28];
  const outputs = await session.run({[session.inputNames[0]]: new ort.Tensor("float32", pixels, shape)});
  const scores = Array.from(outputs[session.outputNames[0]].data);
  const total = scores.reduce((a, b) => a + b, 0) || 1;
  return scores.map((s) => s / total);
}

async function read(picture, options) {
  if (!session) return;
  const started = performance.now();
  let input;
  try {
    input = toMnist(picture, options);
  } catch (error) {
    show(null, null);
    message.textContent = error instanceof NoDigitFound ? error.message : `cannot read the image (${error})`;
    return;
  }
  const probabilities = await classify(input);
  window.lastReadingMs = performance.now() - started;  // the benchmark reads this
  message.textContent = "";
  show(probabilities, input);
}

function show(probabilities, input) {
  const digit = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : null;
  document.getElementById("digit").textContent = digit === null ? "–" : String(digit);
  document.getElementById("confidence").textContent = digit === null ? "\u00a0" :
    `${(100 * probabilities[digit]).toFixed(1)}% sure`;
  for (const row of bars.children) {
    const p = probabilities ? probabilities[Number(row.dataset.digit)] : 0;
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".value").textContent = `${Math.round(100 * p)}%`;
    row.classList.toggle("top", digit !== null && Number(row.dataset.digit) === digit);
  }
  const seen = document.getElementById("seen").getContext("2d");
  seen.fillStyle = "black";
  seen.fillRect(0, 0, 112, 112);
  if (!input) return;
  const image = new ImageData(28, 28);
  input.forEach((v, i) => image.data.set([v, v, v, 255], i * 4));
  const small = new OffscreenCanvas(28, 28);
  small.getContext("2d").putImageData(image, 0, 0);
  seen.imageSmoothingEnabled = false;
  seen.drawImage(small, 0, 0, 112, 112);
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
  const {data} = context.getImageData(0, 0, pad.width, pad.height);
  read({width: pad.width, height: pad.height, data});
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
document.getElementById("clear").addEventListener("click", () => { clearPad(); show(null, null); message.textContent = ""; });

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

clearPad();
buildBars();
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js");
loadModel().catch((error) => {
  document.getElementById("status").textContent = `the model could not be loaded (${error.message || error})`;
});
