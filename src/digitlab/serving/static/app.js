// The drawing page: pointer strokes on a canvas, read after each stroke by POST /v1/predict.
"use strict";

const pad = document.getElementById("pad");
const context = pad.getContext("2d");
const seen = document.getElementById("seen");
const bars = document.getElementById("bars");
const message = document.getElementById("message");
let drawing = false;
let hasInk = false;

function resetPad() {
  context.fillStyle = "white";
  context.fillRect(0, 0, pad.width, pad.height);
  context.strokeStyle = "black";
  context.lineWidth = 18;
  context.lineCap = "round";
  context.lineJoin = "round";
  hasInk = false;
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
  hasInk = true;
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
  pad.toBlob((blob) => predict(blob, "drawing.png"), "image/png");
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

document.getElementById("clear").addEventListener("click", () => {
  resetPad();
  showResult(null);
  message.textContent = "";
});

document.getElementById("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) predict(file, file.name);
  event.target.value = "";
});

async function predict(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  try {
    const response = await fetch("/v1/predict?include_input=true", { method: "POST", body: form });
    const body = await response.json();
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

function showResult(result) {
  document.getElementById("digit").textContent = result ? result.digit : "–";
  document.getElementById("confidence").textContent = result ? `${(100 * result.confidence).toFixed(1)}% sure` : "\u00a0";
  for (const row of bars.children) {
    const digit = Number(row.dataset.digit);
    const probability = result ? result.probabilities[digit] : 0;
    row.querySelector(".fill").style.width = `${(100 * probability).toFixed(1)}%`;
    row.querySelector(".value").textContent = `${Math.round(100 * probability)}%`;
    row.classList.toggle("top", Boolean(result) && digit === result.digit);
  }
  const seenContext = seen.getContext("2d");
  seenContext.fillStyle = "black";
  seenContext.fillRect(0, 0, seen.width, seen.height);
  if (result && result.input) {
    const image = seenContext.createImageData(28, 28);
    result.input.flat().forEach((value, index) => {
      image.data.set([value, value, value, 255], index * 4);
    });
    const small = document.createElement("canvas");
    small.width = small.height = 28;
    small.getContext("2d").putImageData(image, 0, 0);
    seenContext.imageSmoothingEnabled = false;
    seenContext.drawImage(small, 0, 0, seen.width, seen.height);
  }
}

async function loadModelInfo() {
  try {
    const info = await (await fetch("/v1/model")).json();
    const accuracy = info.test_accuracy ? `, ${(100 * info.test_accuracy).toFixed(2)}% on the MNIST test set` : "";
    document.getElementById("model-info").textContent = `model ${info.model} (${info.run}) via ${info.engine}${accuracy}`;
  } catch (error) {
    document.getElementById("model-info").textContent = "model information unavailable";
  }
}

resetPad();
buildBars();
showResult(null);
loadModelInfo();
