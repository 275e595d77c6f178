// The reader that asks this server: POST /v1/predict, /v1/read and /v1/feedback (see ../app.py). One of the
// two readers behind app.js (the other, device.js, runs the model in the browser); both take an input
// ({canvas} for a drawing, {file} for an upload) and answer in the API's own shapes.
"use strict";

export class ReadingError extends Error {
  constructor(message, code = null) {
    super(message);
    this.code = code;  // the API's error code: "no_digit" when the image holds no ink
  }
}

async function blobOf(input) {
  if (input.file) return {blob: input.file, name: input.file.name};
  const blob = await new Promise((resolve) => input.canvas.toBlob(resolve, "image/png"));
  return {blob, name: "drawing.png"};
}

async function post(url, form, headers = {}) {
  let response;
  try {
    response = await fetch(url, {method: "POST", body: form, headers});
  } catch (error) {
    throw new ReadingError(`cannot reach the server (${error})`);
  }
  const body = await response.json();
  if (!response.ok) {
    throw new ReadingError(body.error ? body.error.message : `error ${response.status}`, body.error && body.error.code);
  }
  return body;
}

async function asked(url, input, fields = {}, headers = {}) {
  const {blob, name} = await blobOf(input);
  const form = new FormData();
  form.append("file", blob, name);
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  return post(url, form, headers);
}

export async function openReader() {
  const info = await (await fetch("/v1/model")).json();
  const accuracy = info.test_accuracy ? `, ${(100 * info.test_accuracy).toFixed(2)}% on the MNIST test set` : "";
  return {
    status: `model ${info.model} (${info.run}) via ${info.engine}${accuracy}`,
    canExplain: true,
    canCorrect: Boolean(info.feedback),
    correctNeedsToken: Boolean(info.feedback_needs_token),  // the writer gives it on the page (digitlab tokens add)
    // -> {digit, confidence, probabilities, input (28x28), saliency when explained}
    readDigit: (input, {explain = false} = {}) =>
      asked(`/v1/predict?include_input=true${explain ? "&explain=true" : ""}`, input),
    // -> {number, confidence, digits: [{digit, confidence, box: [x, y, w, h], top}]}
    readNumber: (input, {paper = false} = {}) => asked(`/v1/read${paper ? "?paper=true" : ""}`, input),
    // A correction: the image that was read, the right label and the reading it corrects. The client id makes a
    // re-send (a retry after a lost answer) count once; a writer's token, when given, goes as a Bearer token.
    // -> {id, stored}
    correct: (input, label, prediction, token = "") => asked("/v1/feedback", input, {
      label, prediction,
      client_id: self.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`,
    }, token ? {Authorization: `Bearer ${token}`} : {}),
  };
}
