// Any digit image -> the 28x28 MNIST-style input, in the browser: the JavaScript twin of
// src/digitlab/reading/imaging.py, step for step (docs/preprocessing.md is the one specification of both;
// a parity test in Chromium keeps them together). Pixels come from a canvas as RGBA bytes.
"use strict";

import {cleanPaper, paperDarkness, paperIsLighter} from "./paper.js";

const WORK_SIDE = 96, DIGIT_SIDE = 40, DRAFT_SIDE = 192, DENOISE_MIN_SIDE = 56, PAPER_DRAFT_SIDE = 1024;
const DIGIT_BOX = 20, CANVAS = 28, STROKE_FRACTION = 0.12, MIN_INK_FRACTION = 0.0005;

export class NoDigitFound extends Error {}

// Python's round(): halves go to the even neighbour.
function roundHalfEven(value) {
  const floor = Math.floor(value), rest = value - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// An RGBA picture: {width, height, data: Uint8ClampedArray | Float32Array (4 per pixel)}.
// Pillow's reduce(): the mean of each factor x factor block (the last blocks may be smaller). Colour is
// averaged weighted by alpha, so that fully transparent pixels (which a canvas stores without colour)
// do not darken the strokes, as their stored colour does not in a PNG.
function reduce(picture, factor) {
  if (factor <= 1) return picture;
  const width = Math.ceil(picture.width / factor), height = Math.ceil(picture.height / factor);
  const out = new Float32Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0, a = 0, weight = 0, count = 0;
      for (let yy = y * factor; yy < Math.min(picture.height, (y + 1) * factor); yy++) {
        for (let xx = x * factor; xx < Math.min(picture.width, (x + 1) * factor); xx++) {
          const i = (yy * picture.width + xx) * 4, alpha = picture.data[i + 3];
          r += picture.data[i] * alpha; g += picture.data[i + 1] * alpha; b += picture.data[i + 2] * alpha;
          a += alpha; weight += alpha; count++;
        }
      }
      const o = (y * width + x) * 4;
      out[o] = weight ? r / weight : 0; out[o + 1] = weight ? g / weight : 0; out[o + 2] = weight ? b / weight : 0;
      out[o + 3] = a / count;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.round(out[i]);
  return {width, height, data: out};
}

function crop(picture, left, top, right, bottom) {
  const width = right - left, height = bottom - top, out = new Float32Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    out.set(picture.data.subarray(((top + y) * picture.width + left) * 4, ((top + y) * picture.width + right) * 4),
            y * width * 4);
  }
  return {width, height, data: out};
}

function opaque(picture) {
  for (let i = 3; i < picture.data.length; i += 4) if (picture.data[i] !== 255) return false;
  return true;
}

// RGB floats in [0, 255] (3 per pixel), transparent pixels put on a background that contrasts with the
// opaque ones (or on the given one): imaging.py's _as_rgb.
function asRgb(picture, hasAlpha, background) {
  const count = picture.width * picture.height, rgb = new Float32Array(count * 3);
  if (!hasAlpha) {
    for (let p = 0; p < count; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = picture.data[p * 4 + c];
    return {rgb, background};
  }
  if (background === null) {
    let sum = 0, opaqueCount = 0;
    for (let p = 0; p < count; p++) {
      if (picture.data[p * 4 + 3] / 255 > 0.5) {
        sum += picture.data[p * 4] + picture.data[p * 4 + 1] + picture.data[p * 4 + 2];
        opaqueCount++;
      }
    }
    if (opaqueCount === count) return asRgb(picture, false, null);
    const inkLevel = opaqueCount ? sum / (3 * opaqueCount) : 0;
    background = inkLevel < 128 ? 255 : 0;
  }
  for (let p = 0; p < count; p++) {
    const alpha = picture.data[p * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = picture.data[p * 4 + c] * alpha + background * (1 - alpha);
  }
  return {rgb, background};
}

// The paper's colour: the (upper) median colour of a frame a 20th of the image wide, corners counted twice.
function border(rgb, width, height) {
  const frame = Math.max(1, Math.floor(Math.min(width, height) / 20));
  const channels = [[], [], []];
  const add = (x, y) => { for (let c = 0; c < 3; c++) channels[c].push(rgb[(y * width + x) * 3 + c]); };
  for (let y = 0; y < frame; y++) for (let x = 0; x < width; x++) add(x, y);
  for (let y = height - frame; y < height; y++) for (let x = 0; x < width; x++) add(x, y);
  for (let y = 0; y < height; y++) for (let x = 0; x < frame; x++) add(x, y);
  for (let y = 0; y < height; y++) for (let x = width - frame; x < width; x++) add(x, y);
  return channels.map((values) => {
    values.sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)];
  });
}

// Separable 3x3 median (rows, then columns; edges repeated).
function median3(values, width, height) {
  const medianOf3 = (a, b, c) => Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
  const rows = new Float32Array(values.length), out = new Float32Array(values.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width;
      rows[i + x] = medianOf3(values[i + Math.max(0, x - 1)], values[i + x], values[i + Math.min(width - 1, x + 1)]);
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      out[y * width + x] = medianOf3(rows[Math.max(0, y - 1) * width + x], rows[y * width + x],
                                     rows[Math.min(height - 1, y + 1) * width + x]);
    }
  }
  return out;
}

function distanceFrom(rgb, paper, count, width, height, denoise) {
  const distance = new Float32Array(count);
  for (let p = 0; p < count; p++) {
    let sum = 0;
    for (let c = 0; c < 3; c++) { const d = rgb[p * 3 + c] - paper[c]; sum += d * d; }
    distance[p] = Math.sqrt(sum / 3);
  }
  return denoise ? median3(distance, width, height) : distance;
}

// The 99.9th percentile of the distances, to the grey level below (a histogram count).
function peakOf(distance) {
  const counts = new Float64Array(256);
  for (const value of distance) counts[Math.min(255, Math.floor(value))]++;
  const target = 0.999 * distance.length;
  let total = 0;
  for (let level = 0; level < 256; level++) {
    total += counts[level];
    if (total >= target) return level;
  }
  return 256;
}

function inkOf(distance, peak) {
  const ink = new Float32Array(distance.length);
  for (let i = 0; i < distance.length; i++) {
    const value = Math.min(1, Math.max(0, distance[i] / peak));
    ink[i] = value < 0.25 ? 0 : value;
  }
  return ink;
}

// The smallest box [top, bottom) x [left, right) holding every pixel where test(value) is true.
function bounds(values, width, height, test) {
  let top = height, bottom = -1, left = width, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (test(values[y * width + x])) {
        top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x);
      }
    }
  }
  return bottom < 0 ? null : {top, bottom: bottom + 1, left, right: right + 1};
}

function cut(values, width, box, pad = 0) {
  const w = box.right - box.left + 2 * pad, h = box.bottom - box.top + 2 * pad, out = new Float32Array(w * h);
  for (let y = box.top; y < box.bottom; y++) {
    for (let x = box.left; x < box.right; x++) out[(y - box.top + pad) * w + x - box.left + pad] = values[y * width + x];
  }
  return {values: out, width: w, height: h};
}

// Chessboard distance of each ink pixel to the nearest non-ink pixel (outside counts as non-ink).
function chessboardDepth(mask, width, height) {
  const big = width + height, depth = new Float32Array(width * height);
  for (let i = 0; i < mask.length; i++) depth[i] = mask[i] ? big : 0;
  const at = (x, y) => (x < 0 || y < 0 || x >= width || y >= height) ? 0 : depth[y * width + x];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (depth[i]) depth[i] = Math.min(depth[i], at(x - 1, y) + 1, at(x - 1, y - 1) + 1, at(x, y - 1) + 1, at(x + 1, y - 1) + 1);
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      if (depth[i]) depth[i] = Math.min(depth[i], at(x + 1, y) + 1, at(x + 1, y + 1) + 1, at(x, y + 1) + 1, at(x - 1, y + 1) + 1);
    }
  }
  return depth;
}

export function strokeWidth(ink, width, height) {
  const mask = ink.map((v) => (v > 0.5 ? 1 : 0));
  const depth = chessboardDepth(mask, width, height);
  const depths = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) depths.push(depth[i]);
  if (depths.length < 4) return null;
  depths.sort((a, b) => a - b);
  return 2 * depths[Math.floor(0.9 * (depths.length - 1))];
}

// Grey dilation (max) or erosion (min) over a disk of the given radius; pixels outside are ignored.
function morph(values, width, height, radius, pick) {
  const out = new Float32Array(values.length), offsets = [];
  for (let dy = -radius; dy <= radius; dy++) for (let dx = -radius; dx <= radius; dx++) {
    if (dx * dx + dy * dy <= radius * radius) offsets.push([dx, dy]);
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let best = pick === "max" ? -Infinity : Infinity;
      for (const [dx, dy] of offsets) {
        const xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
        const value = values[yy * width + xx];
        best = pick === "max" ? Math.max(best, value) : Math.min(best, value);
      }
      out[y * width + x] = best;
    }
  }
  return out;
}

function normaliseStroke(ink, width, height, thickness, target) {
  thickness = thickness ?? strokeWidth(ink, width, height);
  if (thickness === null) return ink;
  target = target ?? STROKE_FRACTION * Math.max(width, height);
  if (thickness < 0.6 * target) return morph(ink, width, height, Math.max(1, roundHalfEven((target - thickness) / 2)), "max");
  if (thickness > 1.8 * target) {
    const thinned = morph(ink, width, height, Math.max(1, roundHalfEven((thickness - target) / 2)), "min");
    const kept = thinned.reduce((n, v) => n + (v > 0.5), 0), before = ink.reduce((n, v) => n + (v > 0.5), 0);
    return kept > 0.2 * before ? thinned : ink;
  }
  return ink;
}

// Pillow's resize with the Lanczos filter (a = 3), horizontal pass then vertical, 8-bit between passes.
function lanczos(x) {
  const sinc = (v) => (v === 0 ? 1 : Math.sin(Math.PI * v) / (Math.PI * v));
  return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

function coefficients(inSize, outSize) {
  const scale = inSize / outSize, filterScale = Math.max(scale, 1), support = 3 * filterScale;
  const result = [];
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(centre - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(centre + support + 0.5), inSize) - xmin;
    const weights = [];
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = lanczos((x + xmin - centre + 0.5) / filterScale);
      weights.push(w);
      total += w;
    }
    result.push({xmin, weights: weights.map((w) => (total ? w / total : 0))});
  }
  return result;
}

function resizeLanczos(values, width, height, newWidth, newHeight) {
  const clip8 = (v) => Math.min(255, Math.max(0, Math.floor(v + 0.5)));
  let current = values, currentWidth = width;
  if (newWidth !== width) {
    const table = coefficients(width, newWidth), out = new Float32Array(newWidth * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < newWidth; x++) {
        const {xmin, weights} = table[x];
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += current[y * width + xmin + k] * weights[k];
        out[y * newWidth + x] = clip8(sum);
      }
    }
    current = out;
    currentWidth = newWidth;
  }
  if (newHeight !== height) {
    const table = coefficients(height, newHeight), out = new Float32Array(currentWidth * newHeight);
    for (let y = 0; y < newHeight; y++) {
      const {xmin, weights} = table[y];
      for (let x = 0; x < currentWidth; x++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += current[(xmin + k) * currentWidth + x] * weights[k];
        out[y * currentWidth + x] = clip8(sum);
      }
    }
    current = out;
  }
  return current;
}

function centreOfMassShift(canvas) {
  let total = 0, rows = 0, columns = 0;
  for (let y = 0; y < CANVAS; y++) {
    for (let x = 0; x < CANVAS; x++) {
      const v = canvas[y * CANVAS + x];
      total += v; rows += v * y; columns += v * x;
    }
  }
  if (total <= 0) return canvas;
  const down = roundHalfEven((CANVAS - 1) / 2 - rows / total), right = roundHalfEven((CANVAS - 1) / 2 - columns / total);
  const shifted = new Float32Array(CANVAS * CANVAS);
  for (let y = 0; y < CANVAS; y++) {
    for (let x = 0; x < CANVAS; x++) {
      const from = [y - down, x - right];
      if (from[0] >= 0 && from[0] < CANVAS && from[1] >= 0 && from[1] < CANVAS) {
        shifted[y * CANVAS + x] = canvas[from[0] * CANVAS + from[1]];
      }
    }
  }
  return shifted;
}

// One digit's ink (white on black, [0, 1]) -> the 28x28 input (Uint8Array): imaging.py's digit_to_mnist.
export function digitToMnist(ink, width, height, thickness = null, target = null) {
  const first = cut(ink, width, bounds(ink, width, height, (v) => v > 0), 1);
  const normalised = normaliseStroke(first.values, first.width, first.height, thickness, target);
  const box = bounds(normalised, first.width, first.height, (v) => v > 0);
  const digit = cut(normalised, first.width, box);
  const scale = DIGIT_BOX / Math.max(digit.width, digit.height);
  const newWidth = Math.max(1, roundHalfEven(digit.width * scale)), newHeight = Math.max(1, roundHalfEven(digit.height * scale));
  const bytes = digit.values.map((v) => Math.floor(v * 255));
  const resized = resizeLanczos(bytes, digit.width, digit.height, newWidth, newHeight);
  const canvas = new Float32Array(CANVAS * CANVAS);
  const top = Math.floor((CANVAS - newHeight) / 2), left = Math.floor((CANVAS - newWidth) / 2);
  for (let y = 0; y < newHeight; y++) {
    for (let x = 0; x < newWidth; x++) canvas[(top + y) * CANVAS + left + x] = resized[y * newWidth + x];
  }
  const shifted = centreOfMassShift(canvas);
  return Uint8Array.from(shifted, (v) => Math.min(255, Math.max(0, roundHalfEven(v))));
}

function looksLikeMnist(gray) {
  let frame = 0;
  for (let y = 0; y < CANVAS; y++) {
    for (let x = 0; x < CANVAS; x++) if (y === 0 || x === 0 || y === CANVAS - 1 || x === CANVAS - 1) frame += gray[y * CANVAS + x];
  }
  if (frame / (4 * CANVAS - 4) > 64) return false;
  const box = bounds(gray, CANVAS, CANVAS, (v) => v > 0);
  return box !== null && box.bottom - 1 - box.top < DIGIT_BOX + 4 && box.right - 1 - box.left < DIGIT_BOX + 4;
}

// Stage 1: paper colour, polarity, colour distance and ink strength on a copy at most workSide a side.
function findInk(picture, hasAlpha, workSide = WORK_SIDE, clean = false) {
  const reduction = Math.max(1, Math.ceil(Math.max(picture.width, picture.height) / workSide));
  const working = reduce(picture, reduction);
  const {rgb, background} = asRgb(working, hasAlpha, null);
  const paper = border(rgb, working.width, working.height);
  const denoise = Math.min(picture.width, picture.height) >= DENOISE_MIN_SIDE;
  const count = working.width * working.height;
  let distance = distanceFrom(rgb, paper, count, working.width, working.height, denoise && reduction === 1);
  let peak = peakOf(distance);
  if (clean) {  // printed paper: its darkness against the paper around it, the printed lines taken out (paper.js)
    let brightness = new Float32Array(count);
    for (let p = 0; p < count; p++) brightness[p] = (rgb[p * 3] + rgb[p * 3 + 1] + rgb[p * 3 + 2]) / 3;
    if (denoise && reduction === 1) brightness = median3(brightness, working.width, working.height);
    if (paperIsLighter(brightness, working.width, working.height)) {
      const darkness = paperDarkness(brightness, working.width, working.height);
      distance = cleanPaper(darkness, working.width, working.height, peakOf(darkness));
      peak = peakOf(distance);
    }
  }
  const inked = distance.reduce((n, v) => n + (v >= 0.25 * peak), 0);
  if (peak < 24 || inked < Math.max(3, MIN_INK_FRACTION * count)) {
    throw new NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)");
  }
  let paperMean = (paper[0] + paper[1] + paper[2]) / 3, rgbMean = 0;
  for (const value of rgb) rgbMean += value;
  rgbMean /= rgb.length;
  return {reduction, working, paper, background, inverted: paperMean > rgbMean, denoise, distance, peak};
}

// A JPEG larger than twice DRAFT_SIDE is decoded by Pillow at 1/2, 1/4 or 1/8 scale (its DCT draft mode,
// the smallest still DRAFT_SIDE large); the browser decodes it whole, so it is reduced by that factor here.
export function draftFactor(width, height, draftSide = DRAFT_SIDE) {
  if (Math.max(width, height) <= 2 * draftSide) return 1;
  const scale = draftSide / Math.max(width, height);
  const wanted = [Math.ceil(width * scale), Math.ceil(height * scale)];
  let factor = 1;
  for (const candidate of [2, 4, 8]) {
    if (Math.ceil(width / candidate) >= wanted[0] && Math.ceil(height / candidate) >= wanted[1]) factor = candidate;
  }
  return factor;
}

// The ink of a whole image (white on black, [0, 1]) on a copy at most workSide a side: imaging.py's ink_map.
// toSource: how many of the file's own pixels one ink pixel spans (the reduction times a JPEG's draft factor).
// With paper, printed lines and uneven light are taken out first, and a JPEG is drafted no smaller than
// PAPER_DRAFT_SIDE (numbers.py's Reader(paper=True)).
export function inkMap(picture, workSide, {isJpeg = false, paper = false} = {}) {
  const draft = isJpeg ? draftFactor(picture.width, picture.height, paper ? PAPER_DRAFT_SIDE : DRAFT_SIDE) : 1;
  if (draft > 1) picture = reduce(picture, draft);
  const found = findInk(picture, !opaque(picture), workSide, paper);
  return {ink: inkOf(found.distance, found.peak), width: found.working.width, height: found.working.height,
          reduction: found.reduction, toSource: found.reduction * draft, inverted: found.inverted};
}

// The whole pipeline: RGBA pixels {width, height, data} -> the 28x28 Uint8Array input (imaging.py's to_mnist).
export function toMnist(picture, {isJpeg = false} = {}) {
  if (isJpeg) picture = reduce(picture, draftFactor(picture.width, picture.height));
  const hasAlpha = !opaque(picture);
  if (picture.width === CANVAS && picture.height === CANVAS && !hasAlpha) {
    const gray = new Float32Array(CANVAS * CANVAS);
    let isGray = true;
    for (let p = 0; p < gray.length; p++) {
      const [r, g, b] = [picture.data[p * 4], picture.data[p * 4 + 1], picture.data[p * 4 + 2]];
      if (r !== g || g !== b) isGray = false;
      gray[p] = r;
    }
    if (isGray && looksLikeMnist(gray)) return Uint8Array.from(gray);
  }
  const found = findInk(picture, hasAlpha);
  const {reduction, working, distance, peak} = found;
  const box = bounds(distance, working.width, working.height, (v) => v >= 0.25 * peak);
  const side = Math.max(box.bottom - box.top, box.right - box.left);
  let ink;
  if ((reduction === 1 || side >= DIGIT_SIDE) && side < 2 * DIGIT_SIDE) {
    const piece = cut(distance, working.width, box);
    return digitToMnist(inkOf(piece.values, peak), piece.width, piece.height);
  }
  const left = Math.max(0, (box.left - 1) * reduction), top = Math.max(0, (box.top - 1) * reduction);
  const right = Math.min(picture.width, (box.right + 1) * reduction), bottom = Math.min(picture.height, (box.bottom + 1) * reduction);
  const shrink = Math.max(1, Math.floor(Math.max(right - left, bottom - top) / DIGIT_SIDE));
  const region = reduce(crop(picture, left, top, right, bottom), shrink);
  const {rgb} = asRgb(region, hasAlpha, found.background !== null ? found.background : 255);
  const count = region.width * region.height;
  const regionDistance = distanceFrom(rgb, found.paper, count, region.width, region.height, found.denoise && shrink === 1);
  ink = inkOf(regionDistance, Math.max(peakOf(regionDistance), 24));
  if (!ink.some((v) => v > 0)) throw new NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)");
  return digitToMnist(ink, region.width, region.height);
}

// Decode an image file (a Blob) in the browser, EXIF orientation applied, to RGBA pixels.
export async function decode(blob) {
  const head = new Uint8Array(await blob.slice(0, 3).arrayBuffer());
  const isJpeg = head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
  const bitmap = await createImageBitmap(blob, {imageOrientation: "from-image", premultiplyAlpha: "none",
                                                colorSpaceConversion: "none"});
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", {willReadFrequently: true});
  context.drawImage(bitmap, 0, 0);
  const {data} = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return {picture: {width: bitmap.width, height: bitmap.height, data}, isJpeg};
}
