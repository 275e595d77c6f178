"""What is printed on the paper, taken out before imaging looks for ink (docs/preprocessing.md, "Paper").

On the working copy's colour distance from the paper (ink.py):

1. Uneven light. A shadow or light falling off across a photo moves whole regions away from the paper's
   colour. Where the 10th percentile of the distance over windows much wider than a pen stroke (on a copy
   about 128 pixels a side) is high somewhere, the light is uneven (some paper shows in every window,
   however dense the writing); only then the 40th percentile over the same windows, which follows a
   shadow, is subtracted. Where the light is even, nothing changes.
2. Printed lines. Straight runs, found by opening the ink with a line ``RUN`` of the image's side long
   (horizontal, then vertical), and kept as printed when they are thin (at most ``THIN`` of the image's
   side, at least 4 px: a pen stroke is a tenth of a digit's height) and long: horizontal runs at least
   ``LONG`` of the width (ruled lines, grids, rows of boxes); vertical runs at least ``TALL`` of the height
   (grids, margins) or from one printed horizontal line to another (the sides of boxes); and the four
   sides of a box standing alone (a component framed on every side).
3. Crossings. A printed line's pixel is given back when the writing continues on both sides of it (ink
   within the line's thickness above and below a horizontal line, left and right of a vertical one), so
   a stroke that crosses a rule is not cut in two.
4. Stubs. What is left that is nothing but a thin straight mark (a box side's stub, a piece of a rule) goes
   too: a pen's stroke is thicker.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

RUN = 0.05  # a straight run this share of the larger side (at least 9 px), which printed lines have
LONG = 0.6  # a horizontal printed line spans at least this share of the width
TALL = 0.8  # a vertical printed line with no box around it spans this share of the height
THIN = 0.025  # a printed line is at most this share of the image's larger side thick (at least 4 px)
PEN_SHARE = 0.7  # ... and at most this share of the pen's width
DOTS = 6  # a dotted rule has at least this many dots in a row
PEN_OVER_LINE = 1.6  # a pixel of a printed line this much darker than the lines' median ...
PEN_LEVEL = 0.5  # ... and at least this share of the ink's peak is the pen's, lying on the line
SLIVER = 0.3  # a straight mark no thicker than this share of the pen's width is no writing
LINE_LEVEL = 0.1  # printed lines are looked for among pixels this far from the paper (of the ink's peak)
BACKGROUND_SIDE = 128  # the paper's brightness is estimated on a copy about this many pixels a side ...
BACKGROUND_WINDOW = 0.12  # ... over windows this share of the side (much wider than a stroke) ...
PAPER_PERCENTILE = 90  # ... as this percentile of the brightness (some paper shows in every window)
STANDS_OUT = 0.15  # writing differs from the brightness around it by this share of the brightness range
MAX_TILT = 0.07  # a printed line runs at most this steeply across the photo (4 degrees) ...
TILT_SPAN = 0.3  # ... as its pieces found so far tell once they spread over this share of the image
_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity


def _small_copy(brightness: np.ndarray) -> tuple[np.ndarray, int]:
    """Every s-th row and column, about BACKGROUND_SIDE a side, and the window (much wider than a stroke)
    that the paper is judged over on it."""
    shrink = max(1, max(brightness.shape) // BACKGROUND_SIDE)
    small = brightness[::shrink, ::shrink]
    return small, max(3, round(BACKGROUND_WINDOW * max(small.shape)))


def paper_is_lighter(brightness: np.ndarray) -> bool:
    """Whether the writing is darker than the paper: what stands out from the brightness around it (its
    median over a window) stands out darker more often than lighter. Neither the border's colour nor the
    whole image's median says this under a shadow over half the page."""
    small, window = _small_copy(brightness)
    deviation = small - ndimage.median_filter(small, size=window)
    step = STANDS_OUT * max(float(np.ptp(small)), 1.0)
    return np.count_nonzero(deviation < -step) >= np.count_nonzero(deviation > step)


def paper_darkness(brightness: np.ndarray) -> np.ndarray:
    """How much darker than the paper around it each pixel is, 0 (paper) to 255 (black): the brightness
    over the local paper's, so that light falling off across a page, a shadow's edge or a tint move
    nothing. The paper's brightness is estimated on a copy about BACKGROUND_SIDE pixels a side: over
    windows much wider than a stroke, the PAPER_PERCENTILE-th percentile (some paper shows in every
    window, however dense the writing and the printed lines), then the least over the same window (a
    closing, which keeps a shadow's edge where it is)."""
    small, window = _small_copy(brightness)
    paper = ndimage.minimum_filter(ndimage.percentile_filter(small, PAPER_PERCENTILE, size=window), size=window)
    zoom = (brightness.shape[0] / small.shape[0], brightness.shape[1] / small.shape[1])
    full = ndimage.zoom(paper, zoom, order=1)[:brightness.shape[0], :brightness.shape[1]]
    darkness = 1.0 - brightness / np.maximum(full, 1.0)
    np.clip(darkness, 0.0, 1.0, out=darkness)
    return darkness * 255.0


def _run(inked: np.ndarray) -> int:
    return max(9, round(RUN * max(inked.shape)))


def _labelled(mask: np.ndarray) -> np.ndarray:
    """8-connected components of a mask, labelled from 1."""
    return ndimage.label(mask, structure=_EIGHT)[0]


def _runs(inked: np.ndarray, axis: int) -> np.ndarray:
    """The straight runs of ink along ``axis`` (1: horizontal, 0: vertical), labelled (8-connected)."""
    shape = (1, _run(inked)) if axis == 1 else (_run(inked), 1)
    return _labelled(ndimage.binary_opening(inked, structure=np.ones(shape, dtype=bool)))


def _on_one_line(positions: list[float], middles: list[float], thin: float, extent: int) -> list[list[int]]:
    """Indices of marks grouped by line: ``positions`` across the line, ``middles`` along it (of ``extent``).
    In order along the line, each mark joins the group whose line passes within ``thin`` of it, the nearest;
    else it starts one. A group's line is level with its marks' mean, tilted (by at most MAX_TILT: a photo's
    perspective) once they spread over TILT_SPAN of the extent. So a row of boxes a few pixels askew is one
    line, and no chain of near neighbours runs across a number."""
    groups: list[list[int]] = []
    for index in sorted(range(len(positions)), key=middles.__getitem__):
        best, distance = None, thin
        for group in groups:
            away = abs(positions[index] - _predicted([positions[i] for i in group], [middles[i] for i in group],
                                                     middles[index], TILT_SPAN * extent))
            if away <= distance:
                best, distance = group, away
        if best is None:
            groups.append([index])
        else:
            best.append(index)
    return groups


def _predicted(positions: list[float], middles: list[float], at: float, span: float) -> float:
    """Where the line through these marks is at ``at`` along it: level with their mean, tilted (within
    MAX_TILT) when they spread over ``span``."""
    if len(positions) < 2 or max(middles) - min(middles) < span:
        return float(np.mean(positions))
    slope, offset = np.polyfit(middles, positions, 1)
    slope = float(np.clip(slope, -MAX_TILT, MAX_TILT))
    return float(np.mean(positions)) + slope * (at - float(np.mean(middles)))


def _line_band(mine: np.ndarray, axis: int, thin: float) -> np.ndarray | None:
    """A run's straight band (a line fitted through it, its typical thickness either side), if that typical
    thickness (the median across it) is at most ``thin``; else None. The band leaves out a pen stroke that
    the run swallowed where it touches the line."""
    oriented = mine if axis == 1 else mine.T  # rows across the line, columns along it
    thickness = oriented.sum(axis=0)
    present = thickness > 0
    typical = float(np.median(thickness[present]))
    if typical > thin:
        return None
    positions = np.arange(oriented.shape[0], dtype=np.float64)
    centres = (positions @ oriented) / np.maximum(thickness, 1)
    plain = present & (thickness <= 1.5 * typical)  # where the line is alone, it gives the fit
    steps = np.flatnonzero(plain)
    if len(steps) >= 2:
        slope, offset = np.polyfit(steps, centres[plain], 1)
    else:
        slope, offset = 0.0, float(centres[present].mean())
    fitted = slope * np.arange(oriented.shape[1]) + offset
    band = oriented & (np.abs(positions[:, None] - fitted[None, :]) <= typical / 2 + 1)
    return band if axis == 1 else band.T


def _thin_runs(labelled: np.ndarray, axis: int, length: float,
               thin: float) -> list[tuple[slice, slice, np.ndarray, float]]:
    """The thin runs at least ``length`` long: (rows, columns, band, the row (or column) the band's middle
    sits on)."""
    runs = []
    for label, (rows, columns) in enumerate(ndimage.find_objects(labelled), start=1):
        if ((columns.stop - columns.start) if axis == 1 else (rows.stop - rows.start)) < length:
            continue
        band = _line_band(labelled[rows, columns] == label, axis, thin)
        if band is not None:
            across = np.flatnonzero(band.any(axis=1 if axis == 1 else 0))
            runs.append((rows, columns, band, (rows.start if axis == 1 else columns.start) + float(across.mean())))
    return runs


def _collinear(runs: list, axis: int, length: float, thin: float, inked: np.ndarray) -> np.ndarray:
    """The runs that lie on one line with others (the same row, give or take ``thin``: the edges of a row
    of boxes, a rule broken by the writing) whose lengths add up to ``length``; each such line taken out
    whole, from its first run to its last: one straight band fitted through all its runs, so that the short
    pieces between two digits go too, not only the runs long enough to be found."""
    lines = np.zeros(inked.shape, dtype=bool)
    middles = [((run[1].start + run[1].stop) if axis == 1 else (run[0].start + run[0].stop)) / 2 for run in runs]
    for group in _on_one_line([run[3] for run in runs], middles, thin, inked.shape[1 if axis == 1 else 0]):
        total = sum((runs[i][1].stop - runs[i][1].start) if axis == 1 else (runs[i][0].stop - runs[i][0].start)
                    for i in group)
        if total >= length:
            lines |= _whole_line([runs[i] for i in group], axis, inked)
    return lines


def _whole_line(group: list, axis: int, inked: np.ndarray) -> np.ndarray:
    """One printed line through a group of collinear runs: the ink within half its typical thickness (plus
    a pixel) of the line fitted through the runs' bands, from the first run's start to the last one's end."""
    along, across = [], []
    thickness = []
    for rows, columns, band, _ in group:
        found_rows, found_columns = np.nonzero(band)
        found_rows, found_columns = found_rows + rows.start, found_columns + columns.start
        along.append(found_columns if axis == 1 else found_rows)
        across.append(found_rows if axis == 1 else found_columns)
        thickness.append(np.count_nonzero(band) / max(1, (columns.stop - columns.start) if axis == 1
                                                      else (rows.stop - rows.start)))
    along_all, across_all = np.concatenate(along), np.concatenate(across)
    slope, offset = np.polyfit(along_all, across_all, 1) if np.ptp(along_all) > 0 else (0.0, float(across_all.mean()))
    start, stop = int(along_all.min()), int(along_all.max()) + 1
    half = float(np.median(thickness)) / 2 + 1
    oriented = inked if axis == 1 else inked.T  # rows across the line, columns along it
    positions = np.arange(oriented.shape[0], dtype=np.float64)[:, None]
    steps = np.arange(start, stop)
    near = np.abs(positions - (slope * steps + offset)[None, :]) <= half
    line = np.zeros(oriented.shape, dtype=bool)
    line[:, start:stop] = near & oriented[:, start:stop]
    return line if axis == 1 else line.T


def _ending_on(runs: list, shape: tuple[int, int], rules: np.ndarray) -> np.ndarray:
    """The vertical runs whose two ends both touch ``rules``: the sides of boxes."""
    lines = np.zeros(shape, dtype=bool)
    for rows, columns, band, _ in runs:
        if rules[rows.start, columns].any() and rules[rows.stop - 1, columns].any():
            lines[rows, columns] |= band
    return lines


def printed_lines(inked: np.ndarray, thin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The printed horizontal and vertical lines and, of the vertical, the boxes' sides (boolean masks) in a
    map of where the ink is: thin straight
    runs that add up, along one line, to ``LONG`` of the width (``TALL`` of the height), and vertical ones
    from one printed horizontal line to another (up to twice as thick: boxes side by side share a side,
    printed twice over)."""
    height, width = inked.shape
    across = _thin_runs(_runs(inked, axis=1), 1, _run(inked), thin)
    horizontal = _collinear(across, 1, LONG * width, thin, inked)
    vertical_runs = _runs(inked, axis=0)
    vertical = _collinear(_thin_runs(vertical_runs, 0, _run(inked), thin), 0, TALL * height, thin, inked)
    sides = np.zeros(inked.shape, dtype=bool)
    if horizontal.any():
        sides = _ending_on(_thin_runs(vertical_runs, 0, _run(inked), 2 * thin), inked.shape,
                           ndimage.binary_dilation(horizontal, iterations=math.ceil(thin)))
    return horizontal | _dotted_lines(inked, thin), vertical | sides, sides


def _dotted_lines(inked: np.ndarray, thin: float) -> np.ndarray:
    """Rows of dots: at least DOTS small marks (none over 3 x ``thin`` across) on one row, give or take
    ``thin``, spread over LONG of the width: a dotted rule, taken out whole along the band fitted through
    its dots (the dots that touch the writing too), less any dot half as big again as the row's typical
    one (written, it stays)."""
    labelled = _labelled(inked)
    dots = [(label, rows, columns) for label, (rows, columns) in enumerate(ndimage.find_objects(labelled), start=1)
            if max(rows.stop - rows.start, columns.stop - columns.start) <= 3 * thin]
    lines = np.zeros(inked.shape, dtype=bool)
    rows_of = [(rows.start + rows.stop) / 2 for _, rows, _ in dots]
    columns_of = [(columns.start + columns.stop) / 2 for _, _, columns in dots]
    for group in (list(map(dots.__getitem__, indices)) for indices in _on_one_line(rows_of, columns_of, thin,
                                                                                      inked.shape[1])):
        spread = max(columns.stop for _, _, columns in group) - min(columns.start for _, _, columns in group)
        if len(group) >= DOTS and spread >= LONG * inked.shape[1]:
            sizes = [max(rows.stop - rows.start, columns.stop - columns.start) for _, rows, columns in group]
            typical = float(np.median(sizes))
            plain = [dot for dot, size in zip(group, sizes, strict=True) if size <= 1.5 * typical]
            written = [dot[0] for dot, size in zip(group, sizes, strict=True) if size > 1.5 * typical]
            line = _whole_line([(rows, columns, labelled[rows, columns] == label, 0.0)
                                for label, rows, columns in plain], 1, inked)
            lines |= line & ~np.isin(labelled, written) if written else line
    return lines


def _continues_across(kept: np.ndarray, line: np.ndarray, axis: int, reach: int) -> np.ndarray:
    """The pixels of ``line`` with kept ink within ``reach`` pixels on both sides across it."""
    before = np.zeros_like(kept)
    after = np.zeros_like(kept)
    for step in range(1, reach + 1):
        if axis == 0:  # across a horizontal line: above and below
            before[step:] |= kept[:-step]
            after[:-step] |= kept[step:]
        else:
            before[:, step:] |= kept[:, :-step]
            after[:, :-step] |= kept[:, step:]
    return line & before & after


def pen_width(inked: np.ndarray) -> float:
    """The pen's width: twice the 97th percentile of the depth inside the ink (the writing's strokes, not
    the lines)."""
    depths = ndimage.distance_transform_cdt(inked, metric="chessboard")[inked]
    return 2.0 * float(np.percentile(depths, 97)) if depths.size else 0.0


def line_limit(inked: np.ndarray, pen: float | None = None) -> float:
    """How thick a printed line may be: ``THIN`` of the image's side (at least 4 px), and less than the pen's
    width."""
    pen = pen_width(inked) if pen is None else pen
    return max(2.5, min(max(4.0, THIN * max(inked.shape)), PEN_SHARE * pen))


def clean_paper(distance: np.ndarray, peak: float) -> tuple[np.ndarray, bool]:
    """The darkness (paper_darkness) with printed lines taken out (the writing that crosses them kept), and
    whether anything was taken out."""
    inked = distance >= 0.25 * peak
    faint = distance >= LINE_LEVEL * peak  # faint lines whole, not in pieces
    pen = pen_width(faint)
    thin = line_limit(faint, pen)
    horizontal, vertical, sides = printed_lines(faint, thin)
    if not (horizontal.any() or vertical.any()):
        return distance, False
    # Where the pen lies on a line (a stroke along it, a loop touching it), it is darker than the line.
    pen_level = max(PEN_OVER_LINE * float(np.median(distance[horizontal | vertical])), PEN_LEVEL * peak)
    pen_on_line = distance >= pen_level
    # A line's soft edges (blur, JPEG) go with it: one pixel either side of its core.
    horizontal = ndimage.binary_dilation(horizontal, structure=np.ones((3, 1), dtype=bool))
    vertical = ndimage.binary_dilation(vertical, structure=np.ones((1, 3), dtype=bool))
    printed = horizontal | vertical
    kept = inked & ~ndimage.binary_dilation(printed, iterations=2)  # the writing, clear of the lines' edges
    reach = math.ceil(2 * thin) + 4
    restored = _continues_across(kept, horizontal, 0, reach) | _continues_across(kept, vertical, 1, reach)
    cleaned = distance.copy()
    taken = printed & ~restored & ~pen_on_line
    cleaned[taken] = 0.0
    cleaned[_stray_rules(cleaned, 0.25 * peak, thin, pen_level, SLIVER * pen)] = 0.0
    cleaned[_corner_crumbs(cleaned >= 0.25 * peak, sides & taken, pen)] = 0.0
    return cleaned, True


def _corner_crumbs(inked: np.ndarray, taken: np.ndarray, pen: float) -> np.ndarray:
    """Specks no bigger than a pen's dot beside a box's side taken out: what is left where it met its
    bottom line, which would read as a decimal point (forms print their separators)."""
    near = ndimage.binary_dilation(taken, iterations=2)
    labelled = _labelled(inked)
    crumbs = np.zeros(inked.shape, dtype=bool)
    for label, (rows, columns) in enumerate(ndimage.find_objects(labelled), start=1):
        if max(rows.stop - rows.start, columns.stop - columns.start) <= 1.5 * pen:
            mine = labelled[rows, columns] == label
            if (mine & near[rows, columns]).any():
                crumbs[rows, columns] |= mine
    return crumbs


def _stray_rules(distance: np.ndarray, level: float, thin: float, pen_level: float, sliver: float) -> np.ndarray:
    """What is left of printed lines once they are taken out: marks (at least ``level`` dark) that are
    nothing but a thin straight run (the stub of a box's side; a piece of a rule, when longer than a minus
    sign) and as light as the printed lines (a written 1 is as thin and straight, but the pen's dark), or
    no thicker than ``sliver`` (a line's edge, thinner than any pen)."""
    inked = distance >= level
    stray = np.zeros(inked.shape, dtype=bool)
    labelled = _labelled(inked)
    for label, (rows, columns) in enumerate(ndimage.find_objects(labelled), start=1):
        height, width = rows.stop - rows.start, columns.stop - columns.start
        if max(height, width) < 0.5 * _run(inked) or min(height, width) > thin + 2 or height < width < 3 * _run(inked):
            continue
        mine = labelled[rows, columns] == label
        axis = 1 if width > height else 0
        if _line_band(mine, axis, thin) is not None and (np.percentile(distance[rows, columns][mine], 90) < pen_level
                                                         or _line_band(mine, axis, sliver) is not None):
            stray[rows, columns] |= mine
    return stray
