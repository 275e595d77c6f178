// Reading whole numbers in the browser: the JavaScript twin of src/digitlab/reading/numbers.py (marks,
// specks dropped, the strokes of one digit merged, low fragments joined to the nearer digit, touching
// digits split where the classifier is surest, with the run's mark model when it has one, one pen width
// for the whole number, left to right).
"use strict";

import {digitToMnist, inkMap, NoDigitFound, strokeWidth} from "./imaging.js";

const READ_SIDE = 512, MAX_COMPONENTS = 40, SPECK_FRACTION = 0.3, MERGE_OVERLAP = 0.5, WIDE_FRACTION = 1.0;
const MAYBE_WIDE_FRACTION = 0.55, SURE = 0.9, MAX_DIGITS_PER_MARK = 4, SPLIT_PENALTY = 0.5, STROKE_FRACTION = 0.12;
const FRAGMENT_FRACTION = 0.55, FRAGMENT_GAP = 0.3, SEVERAL = 0.9;

function roundHalfEven(value) {
  const floor = Math.floor(value), rest = value - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b), middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// 8-connected components of ink > 0: a label per pixel (0: none) and each label's box.
function label(ink, width, height) {
  const labels = new Int32Array(width * height), boxes = [];
  const stack = [];
  for (let start = 0; start < ink.length; start++) {
    if (ink[start] <= 0 || labels[start]) continue;
    const id = boxes.length + 1, box = {top: height, bottom: 0, left: width, right: 0, labels: [id]};
    labels[start] = id;
    stack.push(start);
    while (stack.length) {
      const at = stack.pop(), y = Math.floor(at / width), x = at % width;
      box.top = Math.min(box.top, y); box.bottom = Math.max(box.bottom, y + 1);
      box.left = Math.min(box.left, x); box.right = Math.max(box.right, x + 1);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= height || xx >= width) continue;
          const next = yy * width + xx;
          if (ink[next] > 0 && !labels[next]) { labels[next] = id; stack.push(next); }
        }
      }
    }
    boxes.push(box);
  }
  return {labels, boxes};
}

const heightOf = (mark) => mark.bottom - mark.top, widthOf = (mark) => mark.right - mark.left;

export function findMarks(ink, width, height) {
  const {labels, boxes} = label(ink, width, height);
  if (!boxes.length) throw new NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)");
  const tallest = Math.max(...boxes.map(heightOf));
  const typical = median(boxes.map(heightOf).filter((h) => h >= 0.3 * tallest));
  let marks = boxes.filter((m) => Math.max(heightOf(m), widthOf(m)) >= SPECK_FRACTION * typical);
  marks = marks.filter((m) => !(heightOf(m) < 0.2 * typical && widthOf(m) > 0.8 * typical));
  if (marks.length > MAX_COMPONENTS) {
    throw new Error(`${marks.length} separate marks: more than the ${MAX_COMPONENTS} a number may have (text or noise?)`);
  }
  marks.sort((a, b) => a.left - b.left);  // stable, as Python's sort
  const merged = [];
  for (const mark of marks) {
    const last = merged[merged.length - 1];
    if (last) {
      const overlap = Math.min(last.right, mark.right) - Math.max(last.left, mark.left);
      if (overlap >= MERGE_OVERLAP * Math.min(widthOf(last), widthOf(mark))) {
        absorb(last, mark);
        continue;
      }
    }
    merged.push({...mark, labels: [...mark.labels]});
  }
  if (!merged.length) throw new NoDigitFound("no digit found: only specks");
  return {marks: joinFragments(merged, typical), labels};
}

function absorb(mark, other) {
  mark.top = Math.min(mark.top, other.top); mark.bottom = Math.max(mark.bottom, other.bottom);
  mark.left = Math.min(mark.left, other.left); mark.right = Math.max(mark.right, other.right);
  mark.labels.push(...other.labels);
}

// Marks much less tall than a digit (a 5's flag drawn apart, a broken stroke) join the nearer neighbour.
function joinFragments(marks, typical) {
  for (;;) {
    if (marks.length < 2) return marks;
    const low = marks.map((_, i) => i).filter((i) => heightOf(marks[i]) < FRAGMENT_FRACTION * typical);
    low.sort((a, b) => heightOf(marks[a]) - heightOf(marks[b]));  // stable, as Python's sorted
    let joined = false;
    for (const index of low) {
      const gaps = [];
      for (const other of [index - 1, index + 1]) {
        if (other < 0 || other >= marks.length) continue;
        gaps.push([other < index ? marks[index].left - marks[other].right : marks[other].left - marks[index].right, other]);
      }
      gaps.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const [gap, other] = gaps[0];
      if (gap <= FRAGMENT_GAP * typical) {
        const [first, second] = [Math.min(index, other), Math.max(index, other)];
        absorb(marks[first], marks[second]);
        marks.splice(second, 1);
        joined = true;
        break;
      }
    }
    if (!joined) return marks;
  }
}

// The ink of a mark's own components within its box (a neighbour reaching in is left out).
function inkOfMark(mark, labels, ink, width) {
  const w = widthOf(mark), h = heightOf(mark), piece = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const at = (mark.top + y) * width + mark.left + x;
      if (mark.labels.includes(labels[at])) piece[y * w + x] = ink[at];
    }
  }
  return piece;
}

function cutCandidates(profile, pieces) {
  const width = profile.length, choices = [];
  for (let index = 1; index < pieces; index++) {
    const centre = width * index / pieces;
    const low = Math.trunc(centre - 0.25 * width / pieces), high = Math.trunc(centre + 0.25 * width / pieces) + 1;
    const window = [];
    for (let x = Math.max(1, low); x < Math.min(width - 1, high); x++) window.push(x);
    if (!window.length) return [];
    const ranked = [...window].sort((a, b) => profile[a] - profile[b] || a - b).slice(0, 3);
    choices.push([...new Set(ranked)].sort((a, b) => a - b));
  }
  let combinations = [[]];
  for (const options of choices) {
    const next = [];
    for (const cut of combinations) {
      for (const option of options) if (!cut.length || option > cut[cut.length - 1] + 1) next.push([...cut, option]);
    }
    combinations = next;
  }
  return combinations;
}

function columns(piece, w, h, start, stop) {
  const part = new Float32Array((stop - start) * h);
  for (let y = 0; y < h; y++) for (let x = start; x < stop; x++) part[y * (stop - start) + x - start] = piece[y * w + x];
  return part;
}

// RGBA pixels -> {number, confidence, digits: [{digit, confidence, box: [x, y, w, h], input}]};
// classify(inputs) gives each 28x28 input's probabilities (one model call for many); options.several, when
// the run has a mark model, gives each input's probability of holding several digits.
export async function readNumber(picture, classify, options = {}) {
  const found = inkMap(picture, READ_SIDE, options);
  const {ink, width, height, reduction} = found;
  const {marks, labels} = findMarks(ink, width, height);
  const typical = median(marks.map(heightOf));
  const pieces = marks.map((mark) => inkOfMark(mark, labels, ink, width));
  const widths = pieces.map((piece, i) => strokeWidth(piece, widthOf(marks[i]), heightOf(marks[i]))).filter((w) => w !== null);
  const thickness = widths.length ? median(widths) : null;
  const target = STROKE_FRACTION * typical;
  const digits = [];
  for (let i = 0; i < marks.length; i++) {
    const mark = marks[i], piece = pieces[i], w = widthOf(mark), h = heightOf(mark);
    if (w > MAYBE_WIDE_FRACTION * typical) {
      digits.push(...await split(mark, piece, typical, thickness, target, classify, options.several));
    } else {
      digits.push({mark, input: digitToMnist(piece, w, h, thickness, target), span: [0, w]});
    }
  }
  const probabilities = await classify(digits.map((d) => d.input));
  const readings = digits.map(({mark, input, span: [start, stop]}, i) => {
    const row = probabilities[i], digit = row.indexOf(Math.max(...row));
    const box = [mark.left + start, mark.top, stop - start, heightOf(mark)].map((v) => roundHalfEven(v * reduction));
    return {digit, confidence: row[digit], box, input};
  });
  return {number: readings.map((r) => r.digit).join(""), confidence: readings.reduce((p, r) => p * r.confidence, 1),
          digits: readings};
}

async function split(mark, piece, typical, thickness, target, classify, severalOf) {
  const w = widthOf(mark), h = heightOf(mark);
  const profile = new Float32Array(w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) profile[x] += piece[y * w + x];
  const wide = w > WIDE_FRACTION * typical;
  const most = Math.min(MAX_DIGITS_PER_MARK, Math.max(2, roundHalfEven(w / (0.6 * typical))));
  const options = [{spans: [[0, w]], inputs: [digitToMnist(piece, w, h, thickness, target)]}];
  for (let count = 2; count <= most; count++) {
    for (const cuts of cutCandidates(profile, count)) {
      const edges = [0, ...cuts, w], spans = [];
      for (let k = 0; k < edges.length - 1; k++) spans.push([edges[k], edges[k + 1]]);
      const parts = spans.map(([start, stop]) => columns(piece, w, h, start, stop));
      if (parts.every((part) => part.some((v) => v > 0))) {
        options.push({spans, inputs: parts.map((part, k) => digitToMnist(part, spans[k][1] - spans[k][0], h, thickness, target))});
      }
    }
  }
  const inputs = options.flatMap((option) => option.inputs);
  const probabilities = await classify(inputs);
  const several = severalOf ? await severalOf(inputs) : null;
  const scores = [];
  let at = 0;
  for (const option of options) {
    let score = 1;
    for (let k = 0; k < option.inputs.length; k++) score *= Math.max(...probabilities[at + k]);
    if (several && at) for (let k = 0; k < option.inputs.length; k++) score *= 1 - several[at + k];
    if (!wide) score *= SPLIT_PENALTY ** (option.inputs.length - 1);
    scores.push(score);
    at += option.inputs.length;
  }
  if (several && several[0] >= SEVERAL) scores[0] = 0;
  else if (scores[0] >= SURE && !wide) scores[0] = Infinity;
  const best = options[scores.indexOf(Math.max(...scores))];
  return best.inputs.map((input, k) => ({mark, input, span: best.spans[k]}));
}
