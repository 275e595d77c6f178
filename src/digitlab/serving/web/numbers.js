// Reading whole numbers in the browser: the JavaScript twin of src/digitlab/reading/numbers.py (marks,
// specks dropped, the strokes of one digit merged, low fragments joined to the nearer digit, touching
// digits cut where the classifier, and the run's mark model when it has one, read the pieces best, one pen width
// for the whole number, left to right).
"use strict";

import {digitToMnist, inkMap, NoDigitFound, strokeWidth} from "./imaging.js";

const READ_SIDE = 512, MAX_COMPONENTS = 40, SPECK_FRACTION = 0.3, MERGE_OVERLAP = 0.5, WIDE_FRACTION = 1.0;
const MAYBE_WIDE_FRACTION = 0.55, SURE = 0.9, MAX_DIGITS_PER_MARK = 6, SPLIT_PENALTY = 0.5, STROKE_FRACTION = 0.12;
const FRAGMENT_FRACTION = 0.55, FRAGMENT_GAP = 0.3;
const MINUS_ASPECT = 1.6, MINUS_WIDTH = [0.2, 0.9], MINUS_HEIGHT = 0.3;  // signs: see numbers.py
const POINT_SIZE = [0.06, 0.3], POINT_BASELINE = 0.15, POINT_ALONE = 0.4, POINT_FILL = 0.45;
const CUTS_PER_MARK = 12, CUT_RADIUS = 0.04, CUT_SPACING = 0.06, CUT_EDGE = 0.12, GRID_STEP = 0.1, FILLED_CUTS_PER_MARK = 20;

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
  const {rest, minus, point} = signsOf(boxes, labels, width, typical);
  let marks = rest.filter((m) => Math.max(heightOf(m), widthOf(m)) >= SPECK_FRACTION * typical);
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
  const joined = joinFragments(merged, typical);
  let pointAfter = point === null ? null : joined.filter((m) => m.right <= point.left).length;
  if (pointAfter === 0 || pointAfter === joined.length) pointAfter = null;
  return {marks: joined, labels, signs: {minus: minus !== null && joined.length > 0, point: pointAfter}};
}

// A leading minus and a decimal point among the marks, told by shape and place against the digit-sized ones.
function signsOf(marks, labels, width, typical) {
  const digits = marks.filter((m) => heightOf(m) >= FRAGMENT_FRACTION * typical);
  if (!digits.length) return {rest: marks, minus: null, point: null};
  const top = median(digits.map((m) => m.top)), bottom = median(digits.map((m) => m.bottom));
  const first = Math.min(...digits.map((m) => m.left)), last = Math.max(...digits.map((m) => m.right));
  const middle = (top + bottom) / 2;
  const isMinus = (m) => m.right <= first && widthOf(m) >= MINUS_ASPECT * heightOf(m)
    && widthOf(m) >= MINUS_WIDTH[0] * typical && widthOf(m) <= MINUS_WIDTH[1] * typical
    && heightOf(m) <= MINUS_HEIGHT * typical && Math.abs((m.top + m.bottom) / 2 - middle) <= 0.25 * (bottom - top);
  const isPoint = (m) => {
    const size = Math.max(heightOf(m), widthOf(m)), aspect = heightOf(m) / Math.max(widthOf(m), 1);
    if (!(size >= POINT_SIZE[0] * typical && size <= POINT_SIZE[1] * typical && first < m.left && m.right < last
          && aspect >= 0.5 && aspect <= 2.0)) return false;
    if (Math.abs(m.bottom - bottom) > POINT_BASELINE * typical) return false;
    if (marks.some((o) => o !== m && Math.min(o.right, m.right) - Math.max(o.left, m.left) > POINT_ALONE * widthOf(m))) {
      return false;  // another mark spans its columns: a speck under a digit's foot, or the lower dot of a colon
    }
    let own = 0;
    for (let y = m.top; y < m.bottom; y++) for (let x = m.left; x < m.right; x++) own += labels[y * width + x] === m.labels[0];
    return own >= POINT_FILL * heightOf(m) * widthOf(m);
  };
  const minus = [...marks].sort((a, b) => a.left - b.left).find((m) => m.right <= first && isMinus(m)) ?? null;
  const points = marks.filter(isPoint);
  const point = points.length ? points.reduce((a, b) => (heightOf(b) * widthOf(b) > heightOf(a) * widthOf(a) ? b : a))
    : null;
  return {rest: marks.filter((m) => m !== minus && m !== point), minus, point};
}

// The number as written: a leading "-" and the decimal separator after ``point`` digits.
export function writeNumber(digits, signs, separator = ".") {
  const text = signs.point === null ? digits : digits.slice(0, signs.point) + separator + digits.slice(signs.point);
  return (signs.minus ? "-" : "") + text;
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

// Where a mark may be cut: its column profile's deepest local minima (the profile summed over 3 columns),
// apart from each other and from the ends. scipy's minimum_filter1d, mode "reflect", for the local minima.
// With fill, columns on an even grid are added between them (touching digits need not meet at a minimum).
function cutColumns(profile, typical, fill = false) {
  const n = profile.length, at = (i) => profile[Math.min(n - 1, Math.max(0, i))];
  const smooth = Array.from(profile, (_, i) => at(i - 1) + at(i) + at(i + 1));
  const radius = Math.max(1, roundHalfEven(CUT_RADIUS * typical));
  const reflect = (i) => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i);
  const edge = Math.max(2, roundHalfEven(CUT_EDGE * typical)), spacing = Math.max(2, CUT_SPACING * typical);
  const minima = [];
  for (let column = edge; column <= n - edge; column++) {
    let lowest = Infinity;
    for (let k = column - radius; k <= column + radius; k++) lowest = Math.min(lowest, smooth[reflect(k)]);
    if (smooth[column] <= lowest) minima.push(column);
  }
  minima.sort((a, b) => smooth[a] - smooth[b] || a - b);
  const chosen = [];
  for (const column of minima) {
    if (chosen.length < CUTS_PER_MARK && chosen.every((other) => Math.abs(column - other) >= spacing)) chosen.push(column);
  }
  const step = Math.max(2, GRID_STEP * typical);
  for (let i = 0; fill && edge + i * step < n - edge + 1; i++) {
    const column = roundHalfEven(edge + i * step);
    if (chosen.length < FILLED_CUTS_PER_MARK && chosen.every((other) => Math.abs(column - other) >= spacing)) chosen.push(column);
  }
  return chosen.sort((a, b) => a - b);
}

// Every span between two candidate cuts (or the ends) that holds ink; the whole mark is one of them.
function pieceSpans(piece, w, h, typical, fill) {
  const profile = new Float32Array(w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) profile[x] += piece[y * w + x];
  const edges = [0, ...cutColumns(profile, typical, fill), w], spans = [];
  for (let i = 0; i < edges.length; i++) {
    for (let j = i + 1; j < edges.length; j++) {
      if (profile.subarray(edges[i], edges[j]).some((v) => v > 0)) spans.push([edges[i], edges[j]]);
    }
  }
  return spans;
}

// The spans (their indices) that tile [0, width) with the highest total score, at most MAX_DIGITS_PER_MARK
// of them, each cut costing cutCost.
function bestSegmentation(spans, scores, width, cutCost) {
  const best = new Map([["0,0", [0, -1]]]);
  const order = spans.map((_, i) => i).sort((a, b) => spans[a][1] - spans[b][1] || a - b);
  for (const index of order) {
    const [start, stop] = spans[index];
    for (let pieces = 0; pieces < MAX_DIGITS_PER_MARK; pieces++) {
      const from = best.get(`${start},${pieces}`);
      if (!from) continue;
      const score = from[0] + scores[index] + (pieces ? cutCost : 0), key = `${stop},${pieces + 1}`;
      if (!best.has(key) || score > best.get(key)[0]) best.set(key, [score, index]);
    }
  }
  let end = null, top = -Infinity;
  for (const [key, [score]] of best) {
    const [stop, pieces] = key.split(",").map(Number);
    if (stop === width && (end === null || score > top)) [end, top] = [[stop, pieces], score];
  }
  const path = [];
  while (end[1]) {
    const index = best.get(`${end[0]},${end[1]}`)[1];
    path.push(index);
    end = [spans[index][0], end[1] - 1];
  }
  return path.reverse();
}

function columns(piece, w, h, start, stop) {
  const part = new Float32Array((stop - start) * h);
  for (let y = 0; y < h; y++) for (let x = start; x < stop; x++) part[y * (stop - start) + x - start] = piece[y * w + x];
  return part;
}

// RGBA pixels -> {number, confidence, digits: [{digit, confidence, box: [x, y, w, h], input}]};
// classify(inputs) gives each 28x28 input's probabilities (one model call for many); options.oneDigit, when
// the run has a mark model, gives each input's log-probability of being exactly one whole digit.
export async function readNumber(picture, classify, options = {}) {
  const found = inkMap(picture, READ_SIDE, options);
  const {ink, width, height, toSource} = found;
  const {marks, labels, signs: markSigns} = findMarks(ink, width, height);
  const typical = median(marks.map(heightOf));
  const pieces = marks.map((mark) => inkOfMark(mark, labels, ink, width));
  const widths = pieces.map((piece, i) => strokeWidth(piece, widthOf(marks[i]), heightOf(marks[i]))).filter((w) => w !== null);
  const thickness = widths.length ? median(widths) : null;
  const target = STROKE_FRACTION * typical;
  const digits = [];
  for (let i = 0; i < marks.length; i++) {
    const mark = marks[i], piece = pieces[i], w = widthOf(mark), h = heightOf(mark);
    if (w > MAYBE_WIDE_FRACTION * typical) {
      digits.push(...await split(mark, piece, typical, thickness, target, classify, options.oneDigit));
    } else {
      digits.push({mark, input: digitToMnist(piece, w, h, thickness, target), span: [0, w]});
    }
  }
  const probabilities = await classify(digits.map((d) => d.input));
  const readings = digits.map(({mark, input, span: [start, stop]}, i) => {
    const row = probabilities[i], digit = row.indexOf(Math.max(...row));
    const box = [mark.left + start, mark.top, stop - start, heightOf(mark)].map((v) => roundHalfEven(v * toSource));
    return {digit, confidence: row[digit], box, input};
  });
  const point = markSigns.point === null ? null : digits.filter((d) => marks.indexOf(d.mark) < markSigns.point).length;
  const signs = {minus: markSigns.minus, point};
  return {number: writeNumber(readings.map((r) => r.digit).join(""), signs, options.decimalComma ? "," : "."),
          confidence: readings.reduce((p, r) => p * r.confidence, 1), digits: readings, ...signs};
}

// Touching digits: read every piece between the mark's candidate cuts in one batch, and keep the reading
// whose pieces score best (the classifier's confidence, and the mark model's "one whole digit"); when the
// mark model says a piece of it is not one digit, again with cuts on a grid between the minima.
async function split(mark, piece, typical, thickness, target, classify, oneDigitOf) {
  const w = widthOf(mark), h = heightOf(mark), wide = w > WIDE_FRACTION * typical;
  const read = new Map();  // "start,stop" -> [input, confidence, one digit]: the grid pass reads only the pieces it adds
  let spans, inputs, chosen;
  for (const fill of [false, true]) {
    spans = pieceSpans(piece, w, h, typical, fill);
    const fresh = spans.filter((span) => !read.has(`${span}`));
    if (fresh.length) {
      const freshInputs = fresh.map(([start, stop]) => digitToMnist(columns(piece, w, h, start, stop), stop - start, h, thickness, target));
      const freshConfidences = (await classify(freshInputs)).map((row) => Math.max(...row));
      const freshOneDigit = oneDigitOf ? await oneDigitOf(freshInputs) : freshInputs.map(() => 0);
      fresh.forEach((span, i) => read.set(`${span}`, [freshInputs[i], freshConfidences[i], freshOneDigit[i]]));
    }
    const rows = spans.map((span) => read.get(`${span}`));
    inputs = rows.map((row) => row[0]);
    const confidences = rows.map((row) => row[1]), oneDigit = rows.map((row) => row[2]);
    const whole = spans.findIndex(([start, stop]) => start === 0 && stop === w);
    if (confidences[whole] >= SURE && !wide && oneDigit[whole] > Math.log(0.5)) chosen = [whole];
    else {
      const scores = confidences.map((c, i) => Math.log(Math.max(c, 1e-12)) + oneDigit[i]);
      chosen = bestSegmentation(spans, scores, w, wide ? 0 : Math.log(SPLIT_PENALTY));
    }
    if (!oneDigitOf || Math.min(...chosen.map((index) => oneDigit[index])) >= Math.log(0.5)) break;
  }
  return chosen.map((index) => ({mark, input: inputs[index], span: spans[index]}));
}
