// What is printed on the paper, taken out before the number reader looks for ink: the browser twin of
// reading/imaging/paper.py, step by step as docs/preprocessing.md ("Numbers on printed paper") writes it.
// Images are row-major Float32Arrays of width x height; masks are Uint8Arrays.

const RUN = 0.05, LONG = 0.6, TALL = 0.8, THIN = 0.025, PEN_SHARE = 0.7, DOTS = 6;
const PEN_OVER_LINE = 1.6, PEN_LEVEL = 0.5, SLIVER = 0.3, LINE_LEVEL = 0.1;
const BACKGROUND_SIDE = 128, BACKGROUND_WINDOW = 0.12, PAPER_PERCENTILE = 90, STANDS_OUT = 0.15;
const MAX_TILT = 0.07, TILT_SPAN = 0.3;

// ---- NumPy and SciPy, as far as paper.py uses them ----

function sortedCopy(values) { return Float64Array.from(values).sort(); }

// np.percentile (linear interpolation between the two nearest ranks).
function percentile(values, q) {
  const sorted = sortedCopy(values), n = sorted.length;
  if (!n) return 0;
  const at = (q / 100) * (n - 1), low = Math.floor(at), high = Math.min(n - 1, low + 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

const median = (values) => percentile(values, 50);

// np.polyfit(x, y, 1): [slope, offset] by least squares.
function lineFit(xs, ys) {
  const n = xs.length;
  let sx = 0, sy = 0;
  for (let i = 0; i < n; i++) { sx += xs[i]; sy += ys[i]; }
  const mx = sx / n, my = sy / n;
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) { sxx += (xs[i] - mx) ** 2; sxy += (xs[i] - mx) * (ys[i] - my); }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return [slope, my - slope * mx];
}

// scipy's "reflect" border: d c b a | a b c d | d c b a.
function reflect(i, n) {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
  return i;
}

// ndimage.rank_filter over size x size windows (centred as SciPy centres them), "reflect" borders.
function rankFilter(values, width, height, size, rankOf) {
  const out = new Float32Array(values.length), window = new Float64Array(size * size);
  const rank = rankOf(size * size), before = Math.floor(size / 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let k = 0;
      for (let dy = 0; dy < size; dy++) {
        const yy = reflect(y + dy - before, height) * width;
        for (let dx = 0; dx < size; dx++) window[k++] = values[yy + reflect(x + dx - before, width)];
      }
      window.sort();
      out[y * width + x] = window[rank];
    }
  }
  return out;
}

const percentileFilter = (values, width, height, size, q) => rankFilter(values, width, height, size, (n) => {
  const rank = Math.floor(n * q / 100);
  return rank === n ? n - 1 : rank;
});
const medianFilter = (values, width, height, size) => rankFilter(values, width, height, size, (n) => Math.floor(n / 2));

// ndimage.minimum_filter / maximum_filter (separable), "reflect" borders.
function extremeFilter(values, width, height, size, pick) {
  const before = Math.floor(size / 2), rows = new Float32Array(values.length), out = new Float32Array(values.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let best = values[y * width + reflect(x - before, width)];
      for (let d = 1; d < size; d++) best = pick(best, values[y * width + reflect(x + d - before, width)]);
      rows[y * width + x] = best;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let best = rows[reflect(y - before, height) * width + x];
      for (let d = 1; d < size; d++) best = pick(best, rows[reflect(y + d - before, height) * width + x]);
      out[y * width + x] = best;
    }
  }
  return out;
}

// ndimage.zoom(order=1) to width x height: the corners map onto the corners.
function zoomLinear(values, w, h, width, height) {
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const fy = height > 1 ? y * (h - 1) / (height - 1) : 0, y0 = Math.floor(fy), y1 = Math.min(h - 1, y0 + 1);
    for (let x = 0; x < width; x++) {
      const fx = width > 1 ? x * (w - 1) / (width - 1) : 0, x0 = Math.floor(fx), x1 = Math.min(w - 1, x0 + 1);
      const top = values[y0 * w + x0] + (values[y0 * w + x1] - values[y0 * w + x0]) * (fx - x0);
      const bottom = values[y1 * w + x0] + (values[y1 * w + x1] - values[y1 * w + x0]) * (fx - x0);
      out[y * width + x] = top + (bottom - top) * (fy - y0);
    }
  }
  return out;
}

// 8-connected components: labels (from 1, in raster order of their first pixel) and bounding boxes
// {top, bottom, left, right} (end-exclusive), as ndimage.label and find_objects give them.
function components(mask, width, height) {
  const labels = new Int32Array(width * height), boxes = [], stack = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    const id = boxes.length + 1, box = {top: height, bottom: 0, left: width, right: 0, label: id};
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
          if (mask[next] && !labels[next]) { labels[next] = id; stack.push(next); }
        }
      }
    }
    boxes.push(box);
  }
  return {labels, boxes};
}

// ndimage.binary_dilation: with the cross (iterations times), or a 3-long bar across (axis 0: up and down).
function dilateCross(mask, width, height, iterations) {
  let current = mask;
  for (let i = 0; i < iterations; i++) {
    const next = Uint8Array.from(current);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!current[y * width + x]) continue;
        if (y > 0) next[(y - 1) * width + x] = 1;
        if (y < height - 1) next[(y + 1) * width + x] = 1;
        if (x > 0) next[y * width + x - 1] = 1;
        if (x < width - 1) next[y * width + x + 1] = 1;
      }
    }
    current = next;
  }
  return current;
}

function dilateBar(mask, width, height, vertical) {
  const out = Uint8Array.from(mask);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      if (vertical) {
        if (y > 0) out[(y - 1) * width + x] = 1;
        if (y < height - 1) out[(y + 1) * width + x] = 1;
      } else {
        if (x > 0) out[y * width + x - 1] = 1;
        if (x < width - 1) out[y * width + x + 1] = 1;
      }
    }
  }
  return out;
}

// Chessboard distance of each set pixel to the nearest unset one in the array (distance_transform_cdt).
function chessboardDepth(mask, width, height) {
  const big = width + height, depth = new Float32Array(width * height);
  for (let i = 0; i < mask.length; i++) depth[i] = mask[i] ? big : 0;
  const at = (x, y) => (x < 0 || y < 0 || x >= width || y >= height) ? big : depth[y * width + x];
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

// ---- P1: the paper's brightness, and which way the writing stands out ----

function smallCopy(brightness, width, height) {
  const shrink = Math.max(1, Math.floor(Math.max(width, height) / BACKGROUND_SIDE));
  const w = Math.ceil(width / shrink), h = Math.ceil(height / shrink), small = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) small[y * w + x] = brightness[y * shrink * width + x * shrink];
  return {small, w, h, window: Math.max(3, Math.round(BACKGROUND_WINDOW * Math.max(w, h)))};
}

export function paperIsLighter(brightness, width, height) {
  const {small, w, h, window} = smallCopy(brightness, width, height);
  const around = medianFilter(small, w, h, window);
  let low = Infinity, high = -Infinity;
  for (const v of small) { low = Math.min(low, v); high = Math.max(high, v); }
  const step = STANDS_OUT * Math.max(high - low, 1);
  let darker = 0, lighter = 0;
  for (let i = 0; i < small.length; i++) {
    const deviation = small[i] - around[i];
    if (deviation < -step) darker++;
    else if (deviation > step) lighter++;
  }
  return darker >= lighter;
}

export function paperDarkness(brightness, width, height) {
  const {small, w, h, window} = smallCopy(brightness, width, height);
  const paper = extremeFilter(percentileFilter(small, w, h, window, PAPER_PERCENTILE), w, h, window, Math.min);
  const full = zoomLinear(paper, w, h, width, height);
  const darkness = new Float32Array(width * height);
  for (let i = 0; i < darkness.length; i++) {
    darkness[i] = Math.min(1, Math.max(0, 1 - brightness[i] / Math.max(full[i], 1))) * 255;
  }
  return darkness;
}

// ---- P2-P4: printed lines ----

const runLength = (width, height) => Math.max(9, Math.round(RUN * Math.max(width, height)));

// Binary opening with a line of `run` pixels along the axis (1: horizontal): every straight run at least
// that long, labelled.
function straightRuns(mask, width, height, axis) {
  const run = runLength(width, height), out = new Uint8Array(mask.length);
  const [outer, inner] = axis === 1 ? [height, width] : [width, height];
  const index = axis === 1 ? (o, i) => o * width + i : (o, i) => i * width + o;
  for (let o = 0; o < outer; o++) {
    let start = -1;
    for (let i = 0; i <= inner; i++) {
      const on = i < inner && mask[index(o, i)];
      if (on && start < 0) start = i;
      if (!on && start >= 0) {
        if (i - start >= run) for (let k = start; k < i; k++) out[index(o, k)] = 1;
        start = -1;
      }
    }
  }
  return components(out, width, height);
}

// A run's straight band (the line fitted through its centres where it is alone, its typical thickness
// either side), or null when that typical thickness is over `limit`. `mine(x, y)` in the run's own box.
function lineBand(mine, boxWidth, boxHeight, axis, limit) {
  const along = axis === 1 ? boxWidth : boxHeight, across = axis === 1 ? boxHeight : boxWidth;
  const at = axis === 1 ? (a, c) => mine(a, c) : (a, c) => mine(c, a);
  const thickness = new Float64Array(along), centres = new Float64Array(along);
  for (let a = 0; a < along; a++) {
    let count = 0, sum = 0;
    for (let c = 0; c < across; c++) if (at(a, c)) { count++; sum += c; }
    thickness[a] = count;
    centres[a] = sum / Math.max(count, 1);
  }
  const present = [...thickness].filter((t) => t > 0);
  const typical = median(present);
  if (typical > limit) return null;
  const steps = [], fitCentres = [];
  for (let a = 0; a < along; a++) {
    if (thickness[a] > 0 && thickness[a] <= 1.5 * typical) { steps.push(a); fitCentres.push(centres[a]); }
  }
  let slope = 0, offset;
  if (steps.length >= 2) [slope, offset] = lineFit(steps, fitCentres);
  else {
    let sum = 0, n = 0;
    for (let a = 0; a < along; a++) if (thickness[a] > 0) { sum += centres[a]; n++; }
    offset = sum / n;
  }
  const band = new Uint8Array(boxWidth * boxHeight);
  for (let a = 0; a < along; a++) {
    const fitted = slope * a + offset;
    for (let c = 0; c < across; c++) {
      if (at(a, c) && Math.abs(c - fitted) <= typical / 2 + 1) band[axis === 1 ? c * boxWidth + a : a * boxWidth + c] = 1;
    }
  }
  return band;
}

function thinRuns(found, width, axis, length, limit) {
  const runs = [];
  for (const box of found.boxes) {
    const w = box.right - box.left, h = box.bottom - box.top;
    if ((axis === 1 ? w : h) < length) continue;
    const mine = (x, y) => found.labels[(box.top + y) * width + box.left + x] === box.label;
    const band = lineBand(mine, w, h, axis, limit);
    if (band === null) continue;
    // The row (column) the band's middle sits on: the mean of the rows (columns) the band has pixels on.
    let sum = 0, n = 0;
    const occupied = new Set();
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (band[y * w + x]) occupied.add(axis === 1 ? y : x);
    for (const value of occupied) { sum += value; n++; }
    runs.push({box, band, w, h, centre: (axis === 1 ? box.top : box.left) + sum / n});
  }
  return runs;
}

function predicted(positions, middles, at, span) {
  const mean = positions.reduce((a, b) => a + b, 0) / positions.length;
  if (positions.length < 2 || Math.max(...middles) - Math.min(...middles) < span) return mean;
  const [slope] = lineFit(middles, positions);
  const meanMiddle = middles.reduce((a, b) => a + b, 0) / middles.length;
  return mean + Math.min(MAX_TILT, Math.max(-MAX_TILT, slope)) * (at - meanMiddle);
}

function onOneLine(positions, middles, thin, extent) {
  const groups = [];
  const order = [...positions.keys()].sort((a, b) => middles[a] - middles[b] || a - b);
  for (const index of order) {
    let best = null, distance = thin;
    for (const group of groups) {
      const away = Math.abs(positions[index] - predicted(group.map((i) => positions[i]), group.map((i) => middles[i]),
                                                         middles[index], TILT_SPAN * extent));
      if (away <= distance) { best = group; distance = away; }
    }
    if (best === null) groups.push([index]);
    else best.push(index);
  }
  return groups;
}

// One printed line through a group of collinear runs: the ink within half its typical thickness (plus a
// pixel) of the line fitted through the runs' bands, from the first run's start to the last one's end.
function wholeLine(group, axis, inked, width, height, line) {
  const along = [], across = [], thickness = [];
  for (const {box, band, w, h} of group) {
    let count = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (!band[y * w + x]) continue;
        count++;
        along.push(axis === 1 ? box.left + x : box.top + y);
        across.push(axis === 1 ? box.top + y : box.left + x);
      }
    }
    thickness.push(count / Math.max(1, axis === 1 ? w : h));
  }
  const low = Math.min(...along), high = Math.max(...along);
  const [slope, offset] = high > low ? lineFit(along, across) : [0, across.reduce((a, b) => a + b, 0) / across.length];
  const half = median(thickness) / 2 + 1, size = axis === 1 ? height : width;
  for (let a = low; a <= high; a++) {
    const fitted = slope * a + offset;
    for (let c = Math.max(0, Math.ceil(fitted - half)); c <= Math.min(size - 1, Math.floor(fitted + half)); c++) {
      const i = axis === 1 ? c * width + a : a * width + c;
      if (inked[i] && Math.abs(c - fitted) <= half) line[i] = 1;
    }
  }
}

function collinear(runs, axis, length, thin, inked, width, height) {
  const line = new Uint8Array(width * height);
  const middles = runs.map(({box}) => axis === 1 ? (box.left + box.right) / 2 : (box.top + box.bottom) / 2);
  for (const group of onOneLine(runs.map((run) => run.centre), middles, thin, axis === 1 ? width : height)) {
    const total = group.reduce((sum, i) => sum + (axis === 1 ? runs[i].w : runs[i].h), 0);
    if (total >= length) wholeLine(group.map((i) => runs[i]), axis, inked, width, height, line);
  }
  return line;
}

function endingOn(runs, rules, width) {
  const sides = new Uint8Array(rules.length);
  for (const {box, band, w} of runs) {
    let top = false, bottom = false;
    for (let x = box.left; x < box.right; x++) {
      top ||= rules[box.top * width + x] === 1;
      bottom ||= rules[(box.bottom - 1) * width + x] === 1;
    }
    if (!(top && bottom)) continue;
    for (let y = 0; y < box.bottom - box.top; y++) {
      for (let x = 0; x < w; x++) if (band[y * w + x]) sides[(box.top + y) * width + box.left + x] = 1;
    }
  }
  return sides;
}

function dottedLines(inked, width, height, thin) {
  const found = components(inked, width, height), lines = new Uint8Array(inked.length);
  const dots = found.boxes.filter((b) => Math.max(b.bottom - b.top, b.right - b.left) <= 3 * thin);
  const groups = onOneLine(dots.map((d) => (d.top + d.bottom) / 2), dots.map((d) => (d.left + d.right) / 2), thin, width);
  for (const indices of groups) {
    const group = indices.map((i) => dots[i]);
    const spread = Math.max(...group.map((d) => d.right)) - Math.min(...group.map((d) => d.left));
    if (group.length < DOTS || spread < LONG * width) continue;
    const sizes = group.map((d) => Math.max(d.bottom - d.top, d.right - d.left)), typical = median(sizes);
    const plain = group.filter((_, i) => sizes[i] <= 1.5 * typical);
    const written = new Set(group.filter((_, i) => sizes[i] > 1.5 * typical).map((d) => d.label));
    const runs = plain.map((box) => {
      const w = box.right - box.left, h = box.bottom - box.top, band = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) band[y * w + x] = found.labels[(box.top + y) * width + box.left + x] === box.label ? 1 : 0;
      return {box, band, w, h};
    });
    const line = new Uint8Array(inked.length);
    wholeLine(runs, 1, inked, width, height, line);
    for (let i = 0; i < line.length; i++) if (line[i] && !written.has(found.labels[i])) lines[i] = 1;
  }
  return lines;
}

function printedLines(inked, width, height, thin) {
  const run = runLength(width, height);
  const across = thinRuns(straightRuns(inked, width, height, 1), width, 1, run, thin);
  const horizontal = collinear(across, 1, LONG * width, thin, inked, width, height);
  const verticalRuns = straightRuns(inked, width, height, 0);
  const vertical = collinear(thinRuns(verticalRuns, width, 0, run, thin), 0, TALL * height, thin, inked, width, height);
  let sides = new Uint8Array(inked.length);
  if (horizontal.some((v) => v)) {
    sides = endingOn(thinRuns(verticalRuns, width, 0, run, 2 * thin), dilateCross(horizontal, width, height, Math.ceil(thin)), width);
  }
  const dotted = dottedLines(inked, width, height, thin);
  for (let i = 0; i < inked.length; i++) { horizontal[i] |= dotted[i]; vertical[i] |= sides[i]; }
  return {horizontal, vertical, sides};
}

// ---- P5-P7: take them out, keep the crossings and the pen ----

function penWidth(inked, width, height) {
  const depth = chessboardDepth(inked, width, height), depths = [];
  for (let i = 0; i < inked.length; i++) if (inked[i]) depths.push(depth[i]);
  return depths.length ? 2 * percentile(depths, 97) : 0;
}

function continuesAcross(kept, line, width, height, vertical, reach) {
  const out = new Uint8Array(line.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!line[y * width + x]) continue;
      let before = false, after = false;
      for (let step = 1; step <= reach && !(before && after); step++) {
        if (vertical) {  // across a vertical line: left and right
          before ||= x - step >= 0 && kept[y * width + x - step] === 1;
          after ||= x + step < width && kept[y * width + x + step] === 1;
        } else {
          before ||= y - step >= 0 && kept[(y - step) * width + x] === 1;
          after ||= y + step < height && kept[(y + step) * width + x] === 1;
        }
      }
      if (before && after) out[y * width + x] = 1;
    }
  }
  return out;
}

function strayRules(distance, level, width, height, thin, penLevel, sliver) {
  const inked = distance.map((v) => (v >= level ? 1 : 0)), found = components(inked, width, height);
  const run = runLength(width, height), stray = new Uint8Array(inked.length);
  for (const box of found.boxes) {
    const h = box.bottom - box.top, w = box.right - box.left;
    if (Math.max(h, w) < 0.5 * run || Math.min(h, w) > thin + 2 || (h < w && w < 3 * run)) continue;
    const mine = (x, y) => found.labels[(box.top + y) * width + box.left + x] === box.label;
    const axis = w > h ? 1 : 0;
    if (lineBand(mine, w, h, axis, thin) === null) continue;
    const values = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (mine(x, y)) values.push(distance[(box.top + y) * width + box.left + x]);
    if (percentile(values, 90) < penLevel || lineBand(mine, w, h, axis, sliver) !== null) {
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (mine(x, y)) stray[(box.top + y) * width + box.left + x] = 1;
    }
  }
  return stray;
}

function cornerCrumbs(inked, taken, width, height, pen) {
  const near = dilateCross(taken, width, height, 2), found = components(inked, width, height);
  const crumbs = new Uint8Array(inked.length);
  for (const box of found.boxes) {
    if (Math.max(box.bottom - box.top, box.right - box.left) > 1.5 * pen) continue;
    let touches = false;
    for (let y = box.top; y < box.bottom && !touches; y++) {
      for (let x = box.left; x < box.right; x++) {
        const i = y * width + x;
        if (found.labels[i] === box.label && near[i]) { touches = true; break; }
      }
    }
    if (!touches) continue;
    for (let y = box.top; y < box.bottom; y++) for (let x = box.left; x < box.right; x++) if (found.labels[y * width + x] === box.label) crumbs[y * width + x] = 1;
  }
  return crumbs;
}

// The darkness with printed lines taken out (the writing that crosses or lies on them kept): clean_paper.
export function cleanPaper(distance, width, height, peak) {
  const inked = distance.map((v) => (v >= 0.25 * peak ? 1 : 0)), faint = distance.map((v) => (v >= LINE_LEVEL * peak ? 1 : 0));
  const pen = penWidth(faint, width, height);
  const thin = Math.max(2.5, Math.min(Math.max(4, THIN * Math.max(width, height)), PEN_SHARE * pen));
  let {horizontal, vertical, sides} = printedLines(faint, width, height, thin);
  if (!horizontal.some((v) => v) && !vertical.some((v) => v)) return distance;
  const lineValues = [];
  for (let i = 0; i < distance.length; i++) if (horizontal[i] || vertical[i]) lineValues.push(distance[i]);
  const penLevel = Math.max(PEN_OVER_LINE * median(lineValues), PEN_LEVEL * peak);
  horizontal = dilateBar(horizontal, width, height, true);
  vertical = dilateBar(vertical, width, height, false);
  const printed = horizontal.map((v, i) => v | vertical[i]);
  const clear = dilateCross(printed, width, height, 2);
  const kept = inked.map((v, i) => (v && !clear[i] ? 1 : 0));
  const reach = Math.ceil(2 * thin) + 4;
  const acrossRules = continuesAcross(kept, horizontal, width, height, false, reach);
  const acrossSides = continuesAcross(kept, vertical, width, height, true, reach);
  const cleaned = Float32Array.from(distance), taken = new Uint8Array(distance.length);
  for (let i = 0; i < cleaned.length; i++) {
    if (printed[i] && !acrossRules[i] && !acrossSides[i] && distance[i] < penLevel) { cleaned[i] = 0; taken[i] = 1; }
  }
  const stray = strayRules(cleaned, 0.25 * peak, width, height, thin, penLevel, SLIVER * pen);
  for (let i = 0; i < cleaned.length; i++) if (stray[i]) cleaned[i] = 0;
  const left = cleaned.map((v) => (v >= 0.25 * peak ? 1 : 0));
  const crumbs = cornerCrumbs(left, taken.map((v, i) => v & sides[i]), width, height, pen);
  for (let i = 0; i < cleaned.length; i++) if (crumbs[i]) cleaned[i] = 0;
  return cleaned;
}
