// What the drawing page and the on-device app share: the pad (pen strokes from mouse, touch or pen), the
// probability bars, and "what the model saw" (the 28x28 input, optionally tinted with its saliency map).
// The page loads it from /static/; `digitlab app` copies it into the app, as every file of this folder.
"use strict";

// A blank white pad of the given width, with an 18 px round black pen.
export function clearPad(pad, width) {
  const context = pad.getContext("2d", {willReadFrequently: true});
  pad.width = width;
  context.fillStyle = "white";
  context.fillRect(0, 0, pad.width, pad.height);
  context.strokeStyle = "black";
  context.lineWidth = 18;
  context.lineCap = "round";
  context.lineJoin = "round";
}

// Pen strokes on the pad; onStroke() is called when each stroke ends.
export function attachPad(pad, onStroke) {
  const context = pad.getContext("2d", {willReadFrequently: true});
  let drawing = false;
  const point = (event) => {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
  };
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
  const end = () => {
    if (!drawing) return;
    drawing = false;
    onStroke();
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
}

export function buildBars(bars) {
  bars.innerHTML = "";
  for (let digit = 0; digit < 10; digit++) {
    const row = document.createElement("div");
    row.className = "bar";
    row.dataset.digit = String(digit);
    row.innerHTML = `<span>${digit}</span><div class="track"><div class="fill"></div></div><span class="value">0%</span>`;
    bars.appendChild(row);
  }
}

// Each digit's probability as a bar; the read digit's in green. null clears them.
export function showBars(bars, probabilities, digit) {
  for (const row of bars.children) {
    const probability = probabilities ? probabilities[Number(row.dataset.digit)] : 0;
    row.querySelector(".fill").style.width = `${(100 * probability).toFixed(1)}%`;
    row.querySelector(".value").textContent = `${Math.round(100 * probability)}%`;
    row.classList.toggle("top", Boolean(probabilities) && Number(row.dataset.digit) === digit);
  }
}

// The 28x28 input (rows of 0-255, or a flat array) in grey; with a saliency map, each pixel tinted red
// (evidence for the digit) or blue (against), as strongly as its share of the map's largest value.
export function showSeen(seen, input, saliency = null) {
  const context = seen.getContext("2d");
  context.fillStyle = "black";
  context.fillRect(0, 0, seen.width, seen.height);
  seen.dataset.explained = String(Boolean(input && saliency));
  if (!input) return;
  const pixels = Array.isArray(input[0]) ? input.flat() : Array.from(input);
  const image = context.createImageData(28, 28);
  const evidence = saliency ? saliency.flat() : null;
  const largest = evidence ? Math.max(...evidence.map(Math.abs)) || 1 : 1;
  pixels.forEach((value, index) => {
    const grey = evidence ? value * 0.5 : value;
    const share = evidence ? evidence[index] / largest : 0;
    const tint = Math.min(1, Math.abs(share) * 1.5);
    const target = share > 0 ? [255, 40, 40] : [60, 120, 255];
    image.data.set([0, 1, 2].map((c) => grey + (target[c] - grey) * tint).concat(255), index * 4);
  });
  const small = document.createElement("canvas");
  small.width = small.height = 28;
  small.getContext("2d").putImageData(image, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(small, 0, 0, seen.width, seen.height);
}
