// The reader that runs on this device: the run's model.onnx in ONNX Runtime Web (wasm, one thread), after the
// same preprocessing as the server's (imaging.js, numbers.js). One of the two readers behind app.js (the
// other, server.js, asks the server); it answers in the API's shapes, so the page shows both the same way.
"use strict";
import * as ort from "./vendor/ort.wasm.bundle.min.mjs";
import {decode, NoDigitFound, toMnist} from "./imaging.js";
import {readNumber} from "./numbers.js";

export class ReadingError extends Error {
  constructor(message, code = null) {
    super(message);
    this.code = code;  // as the API's: "no_digit" when the image holds no ink
  }
}

// 28x28 inputs -> the float32 tensor a model takes, in the given shape.
function tensorOf(inputs, shape) {
  const pixels = new Float32Array(inputs.length * 784);
  inputs.forEach((input, i) => input.forEach((v, j) => { pixels[i * 784 + j] = v / 255; }));
  return new ort.Tensor("float32", pixels, shape);
}

// The picture (RGBA pixels) of an input, and whether it came from a JPEG (imaging.js treats those as photos).
async function pictureOf(input) {
  if (input.file) {
    try {
      return await decode(input.file);
    } catch (error) {
      throw new ReadingError(`not an image this browser can read (${error.message || error})`);
    }
  }
  const {width, height} = input.canvas;
  const {data} = input.canvas.getContext("2d", {willReadFrequently: true}).getImageData(0, 0, width, height);
  return {picture: {width, height, data}, isJpeg: false};
}

function refused(error) {
  return error instanceof NoDigitFound ? new ReadingError(error.message, "no_digit") :
    new ReadingError(`cannot read the image (${error})`);
}

// A model file's bytes, once their SHA-256 is the one model.json gives: a damaged or swapped file is
// never run (as the server's Predictor checks its model.onnx).
async function verified(file, sha256) {
  const bytes = new Uint8Array(await (await fetch(file)).arrayBuffer());
  const digest = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
    (byte) => byte.toString(16).padStart(2, "0")).join("");
  if (digest !== sha256) throw new Error(`${file} is not the model this app was built with (its SHA-256 differs)`);
  return bytes;
}

export async function openReader() {
  const model = await (await fetch("model.json")).json();
  ort.env.wasm.wasmPaths = new URL("vendor/", location.href).href;
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(await verified("model.onnx", model.sha256),
                                                   {executionProviders: ["wasm"]});
  const marks = model.marks ? await ort.InferenceSession.create(await verified("marks.onnx", model.marks.sha256),
                                                                {executionProviders: ["wasm"]}) : null;

  const {temperature, threshold} = model.calibration;

  // 28x28 inputs -> their probabilities, in one model call: scores normalised to sum to 1, then calibrated
  // with the run's temperature (softmax(log p / T)), as the server's Predictor does.
  async function classifyMany(inputs) {
    const shape = model.flatten ? [inputs.length, 784] : [inputs.length, 28, 28];
    const outputs = await session.run({[session.inputNames[0]]: tensorOf(inputs, shape)});
    const scores = outputs[session.outputNames[0]].data;
    return inputs.map((_, i) => {
      const row = Array.from(scores.subarray(i * 10, i * 10 + 10));
      const total = row.reduce((a, b) => a + b, 0) || 1;
      const probabilities = row.map((s) => s / total);
      if (temperature === 1) return probabilities;
      const tempered = probabilities.map((p) => Math.exp(Math.log(Math.max(p, 1e-12)) / temperature));
      const sum = tempered.reduce((a, b) => a + b, 0);
      return tempered.map((p) => p / sum);
    });
  }

  // A reading's status, as inputs/calibration.py decides it: given when its confidence reaches the threshold;
  // else "not-a-digit" when its three likeliest digits hold little of the probability, "unsure" when they do.
  function judged(probabilities) {
    const order = [...probabilities.keys()].sort((a, b) => probabilities[b] - probabilities[a]);
    const confidence = probabilities[order[0]];
    const mass = order.slice(0, 3).reduce((sum, digit) => sum + probabilities[digit], 0);
    const status = confidence >= threshold ? "ok" : mass < model.candidate_mass ? "not-a-digit" : "unsure";
    return {status, candidates: order.slice(0, 3), top: order.slice(0, 3).map((d) => [d, probabilities[d]])};
  }

  // 28x28 inputs -> each one's log-probability of being one whole digit, by the run's mark model (its output is
  // the log-odds of "not": log(1 - sigmoid(z)) = -softplus(z), computed so that it never rounds to -Infinity).
  async function oneDigitMany(inputs) {
    const outputs = await marks.run({[marks.inputNames[0]]: tensorOf(inputs, [inputs.length, 28, 28, 1])});
    return Array.from(outputs[marks.outputNames[0]].data,
                      (z) => -(Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)))));
  }

  const accuracy = model.test_accuracy ? `, ${(100 * model.test_accuracy).toFixed(2)}% on MNIST test` : "";
  return {
    status: `model ${model.model} (${model.run}) on this device${accuracy}`,
    canExplain: false,
    canCorrect: false,
    usesMarkModel: marks !== null,
    async readDigit(input, options = {}) {
      const {picture, isJpeg} = input.picture ? input : await pictureOf(input);
      let pixels;
      try {
        pixels = toMnist(picture, {...options, isJpeg: options.isJpeg ?? isJpeg});
      } catch (error) {
        throw refused(error);
      }
      const [probabilities] = await classifyMany([pixels]);
      const digit = probabilities.indexOf(Math.max(...probabilities));
      const {status, candidates} = judged(probabilities);
      return {digit: status === "ok" ? digit : null, status, confidence: probabilities[digit], probabilities,
              input: pixels, ...(status === "ok" ? {} : {candidates})};
    },
    async readNumber(input, options = {}) {
      const {picture, isJpeg} = input.picture ? input : await pictureOf(input);
      let reading;
      try {
        reading = await readNumber(picture, classifyMany,
                                   {isJpeg, ...options, ...(marks ? {oneDigit: oneDigitMany} : {})});
      } catch (error) {
        throw refused(error);
      }
      // Each digit judged as the server judges it, from its probabilities (one more call, for the digits kept).
      const rows = await classifyMany(reading.digits.map((found) => found.input));
      const digits = reading.digits.map((found, index) => {
        const {status, top} = judged(rows[index]);
        return {...found, digit: status === "ok" ? found.digit : null, status, top};
      });
      const withheld = digits.flatMap((found, index) => (found.status === "ok" ? [] : [index]));
      return {...reading, number: withheld.length ? null : reading.number, withheld, digits};
    },
  };
}
