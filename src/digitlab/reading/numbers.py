"""Reading whole numbers: find every digit in an image, left to right, and read them in one model call.

The usual pipeline, done carefully: the ink (the same polarity and colour logic as single digits) ->
connected components -> specks dropped (small against the median digit height) -> components that are
one digit merged (a 4, 5 or 7 drawn in two strokes, a stroke broken by JPEG or a thin pen: strong
horizontal overlap; a mark much less tall than a digit, such as a 5's flag drawn apart, joins the nearer
neighbour) -> wide components holding touching digits over-segmented (candidate cuts at the deepest
minima of the column profile, every piece between two of them read in one batch) and the best path
through the cuts kept (by the classifier's confidence in the pieces, and the run's mark model's "one
whole digit?" when it has one: see marks.py) -> left to right -> each digit normalised the MNIST way with
one pen width for the whole number -> one batched model call.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from digitlab.inference.marks import MarkModel
from digitlab.inference.predictor import Predictor
from digitlab.reading.imaging import (
    DRAFT_SIDE,
    STROKE_FRACTION,
    ImageError,
    NoDigitFound,
    bytes_to_image,
    digit_to_mnist,
    ink_map,
    stroke_width,
)

READ_SIDE = 512  # the ink of a number is found on a copy at most this many pixels a side
PAPER_DRAFT_SIDE = 2 * READ_SIDE  # on printed paper a JPEG is decoded no smaller than this: lines 1 px thin are lost
MAX_COMPONENTS = 40  # more separate marks than this is text or noise, not a number: refused at once
SPECK_FRACTION = 0.3  # marks smaller than this fraction of the median digit height are specks
MERGE_OVERLAP = 0.5  # marks overlapping horizontally by this fraction of the narrower are one digit
WIDE_FRACTION = 1.0  # a mark wider than this times the median digit height likely holds touching digits
MAYBE_WIDE_FRACTION = 0.55  # from this width on, a mark may hold touching digits: the classifier decides
SURE = 0.9  # a mark read as one digit this confidently is left whole, unless it is wide
MAX_DIGITS_PER_MARK = 6
MAX_PIECES = 600  # candidate pieces one image may have read (a crafted image gave 2,310): refused beyond
CUTS_PER_MARK = 12  # candidate cuts in a mark: its column profile's deepest minima, at most this many ...
CUT_RADIUS = 0.04  # ... each the lowest within this (of the median digit height) either side,
CUT_SPACING = 0.06  # ... at least this far apart,
CUT_EDGE = 0.12  # ... and this far from the mark's ends (no digit is narrower, not even a 1)
GRID_STEP = 0.1  # when the mark model finds a piece of the best reading is not one digit, cuts every this much
FILLED_CUTS_PER_MARK = 20  # ... are added between the minima, up to this many cuts in all
SPLIT_PENALTY = 0.5  # each cut in a mark that is not wide costs this factor: a digit's fragments often read surely
FRAGMENT_FRACTION = 0.55  # a mark less tall than this (of the median digit height) is part of a digit ...
FRAGMENT_GAP = 0.3  # ... and joins its nearer neighbour when that is at most this far (of the median height)
# Signs, told by shape and place against the digits (of the median digit height): a minus is a bar before the
# first digit, at least MINUS_ASPECT times as wide as tall, MINUS_WIDTH wide, about mid-height; a decimal
# point is a round dot between two digits, POINT_SIZE across, its bottom within POINT_BASELINE of theirs,
# and no other mark spans more than POINT_ALONE of its columns (a speck under a digit's foot, or below
# another speck as in a colon, is no point; chosen on the tuning sets, where real points share at most
# a quarter of their columns and stray specks half or more).
MINUS_ASPECT = 1.6
MINUS_WIDTH = (0.2, 0.9)
MINUS_HEIGHT = 0.3
POINT_SIZE = (0.06, 0.3)
POINT_BASELINE = 0.15
POINT_ALONE = 0.4
POINT_FILL = 0.45  # the share of its box a dot's ink fills (a tick or a comma's tail fills less)


def draft_side(paper: bool) -> int:
    """How small a JPEG may be decoded for the number reader: on printed paper no smaller than
    PAPER_DRAFT_SIDE."""
    return PAPER_DRAFT_SIDE if paper else DRAFT_SIDE


@dataclass(frozen=True)
class DigitReading:
    """One digit of a number: what it is, how sure, its box (x, y, width, height) in the original image."""

    digit: int
    confidence: float
    box: tuple[int, int, int, int]
    top: list[tuple[int, float]]
    input: np.ndarray = field(repr=False, compare=False)
    status: str = "ok"  # or withheld: "not-a-digit", "unsure" (its candidates are ``top``)

    def to_json(self) -> dict[str, Any]:
        return {"digit": self.digit if self.status == "ok" else None, "status": self.status,
                "confidence": round(self.confidence, 6), "box": list(self.box),
                "top": [[digit, round(p, 6)] for digit, p in self.top]}


@dataclass(frozen=True)
class Signs:
    """What a number holds besides digits: a leading minus, and a decimal separator after ``point`` digits."""

    minus: bool = False
    point: int | None = None
    separator: str = "."  # or "," (a decimal comma)

    def write(self, digits: str) -> str:
        if self.point is not None:
            digits = digits[:self.point] + self.separator + digits[self.point:]
        return ("-" if self.minus else "") + digits


@dataclass(frozen=True)
class NumberReading:
    """The number as a string (None when any of its digits is withheld: ``withheld`` says which), with its
    minus sign and decimal separator; its confidence is the product of its digits' (all must be right).
    ``read_as`` is the best reading of every digit, withheld or not."""

    read_as: str
    confidence: float
    digits: list[DigitReading]
    signs: Signs = field(default_factory=Signs)

    @property
    def withheld(self) -> list[int]:
        return [index for index, digit in enumerate(self.digits) if digit.status != "ok"]

    @property
    def number(self) -> str | None:
        return None if self.withheld else self.read_as

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "confidence": round(self.confidence, 6), "withheld": self.withheld,
                "minus": self.signs.minus, "point": self.signs.point,
                "digits": [digit.to_json() for digit in self.digits]}


@dataclass
class _Mark:
    """A group of ink components on the working copy: its box (rows, columns, end-exclusive) and labels."""

    top: int
    bottom: int
    left: int
    right: int
    labels: list[int]

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def absorb(self, other: _Mark) -> None:
        self.top, self.bottom = min(self.top, other.top), max(self.bottom, other.bottom)
        self.left, self.right = min(self.left, other.left), max(self.right, other.right)
        self.labels += other.labels


def find_marks(ink: np.ndarray) -> tuple[list[_Mark], np.ndarray]:
    """Connected components of the ink, specks dropped, strokes of one digit merged, left to right."""
    marks, labelled, _ = _marks_and_signs(ink)
    return marks, labelled


def _marks_and_signs(ink: np.ndarray) -> tuple[list[_Mark], np.ndarray, Signs]:
    """:func:`find_marks`, and the signs it found among the marks (a leading minus, a decimal point)."""
    labelled, count = ndimage.label(ink > 0, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)")
    boxes = ndimage.find_objects(labelled)
    marks = [_Mark(rows.start, rows.stop, columns.start, columns.stop, [label])
             for label, (rows, columns) in enumerate(boxes, start=1)]
    tallest = max(mark.height for mark in marks)
    typical = float(np.median([mark.height for mark in marks if mark.height >= 0.3 * tallest]))
    marks, minus, point = _signs(marks, labelled, typical)
    marks = [mark for mark in marks if max(mark.height, mark.width) >= SPECK_FRACTION * typical]
    marks = [mark for mark in marks if not (mark.height < 0.2 * typical and mark.width > 0.8 * typical)]  # lines
    if len(marks) > MAX_COMPONENTS:
        raise ImageError(f"{len(marks)} separate marks: more than the {MAX_COMPONENTS} a number may have "
                         "(text or noise?)", "too_many_marks")
    marks.sort(key=lambda mark: mark.left)
    merged: list[_Mark] = []
    for mark in marks:
        if merged:
            last = merged[-1]
            overlap = min(last.right, mark.right) - max(last.left, mark.left)
            if overlap >= MERGE_OVERLAP * min(last.width, mark.width):
                last.absorb(mark)
                continue
        merged.append(mark)
    if not merged:
        raise NoDigitFound("no digit found: only specks")
    joined = _join_fragments(merged, typical)
    point_after = None if point is None else sum(mark.right <= point.left for mark in joined)
    if point_after in (0, len(joined)):
        point_after = None  # a dot before the first digit or after the last is no decimal point
    return joined, labelled, Signs(minus is not None and len(joined) > 0, point_after)


def _signs(marks: list[_Mark], labelled: np.ndarray,
           typical: float) -> tuple[list[_Mark], _Mark | None, _Mark | None]:
    """The marks less a leading minus and a decimal point, and those two (None when absent): told from
    digits, fragments and specks by their shape and their place against the digit-sized marks."""
    digits = [mark for mark in marks if mark.height >= FRAGMENT_FRACTION * typical]
    if not digits:
        return marks, None, None
    top, bottom = float(np.median([m.top for m in digits])), float(np.median([m.bottom for m in digits]))
    first, last = min(m.left for m in digits), max(m.right for m in digits)
    middle = (top + bottom) / 2

    def is_minus(mark: _Mark) -> bool:
        centre = (mark.top + mark.bottom) / 2
        return (mark.right <= first and mark.width >= MINUS_ASPECT * mark.height
                and MINUS_WIDTH[0] * typical <= mark.width <= MINUS_WIDTH[1] * typical
                and mark.height <= MINUS_HEIGHT * typical and abs(centre - middle) <= 0.25 * (bottom - top))

    def is_point(mark: _Mark) -> bool:
        size = max(mark.height, mark.width)
        if not (POINT_SIZE[0] * typical <= size <= POINT_SIZE[1] * typical and first < mark.left
                and mark.right < last and 0.5 <= mark.height / max(mark.width, 1) <= 2.0):
            return False
        if abs(mark.bottom - bottom) > POINT_BASELINE * typical:
            return False
        if any(min(other.right, mark.right) - max(other.left, mark.left) > POINT_ALONE * mark.width
               for other in marks if other is not mark):
            return False
        own = labelled[mark.top:mark.bottom, mark.left:mark.right] == mark.labels[0]
        return np.count_nonzero(own) >= POINT_FILL * mark.height * mark.width

    minus = next((mark for mark in sorted(marks, key=lambda m: m.left) if is_minus(mark)), None)
    points = [mark for mark in marks if is_point(mark)]
    point = max(points, key=lambda m: m.height * m.width) if points else None
    rest = [mark for mark in marks if mark is not minus and mark is not point]
    return rest, minus, point


def _join_fragments(marks: list[_Mark], typical: float) -> list[_Mark]:
    """Marks much less tall than a digit (a 5's flag drawn apart, a stroke broken by JPEG or a thin pen)
    join the nearer of their neighbours, when it is close enough."""
    marks = list(marks)
    while len(marks) > 1:
        low = [index for index, mark in enumerate(marks) if mark.height < FRAGMENT_FRACTION * typical]
        joined = False
        for index in sorted(low, key=lambda k: marks[k].height):
            mark = marks[index]
            gap, other = min((mark.left - marks[other].right if other < index else marks[other].left - mark.right,
                              other) for other in (index - 1, index + 1) if 0 <= other < len(marks))
            if gap <= FRAGMENT_GAP * typical:
                first, second = sorted((index, other))
                marks[first].absorb(marks[second])
                del marks[second]
                joined = True
                break
        if not joined:
            break
    return marks


def cut_columns(profile: np.ndarray, typical: float, fill: bool = False) -> list[int]:
    """Where a mark may be cut: its column profile's deepest local minima, apart from each other and from
    the ends (over-segmentation: which of them are real is decided later, by reading the pieces). With
    ``fill``, columns on an even grid are added between them (touching digits need not meet at a minimum)."""
    padded = np.pad(profile.astype(np.float64), 1, mode="edge")
    smooth = padded[:-2] + padded[1:-1] + padded[2:]  # summed over 3 columns, as numbers.js does
    lowest = ndimage.minimum_filter1d(smooth, 2 * max(1, round(CUT_RADIUS * typical)) + 1)
    edge, spacing = max(2, round(CUT_EDGE * typical)), max(2.0, CUT_SPACING * typical)
    minima = [column for column in range(edge, len(profile) - edge + 1) if smooth[column] <= lowest[column]]
    chosen: list[int] = []
    for column in sorted(minima, key=lambda column: smooth[column]):
        if len(chosen) < CUTS_PER_MARK and all(abs(column - other) >= spacing for other in chosen):
            chosen.append(column)
    grid = np.arange(edge, len(profile) - edge + 1, max(2.0, GRID_STEP * typical)) if fill else []
    for column in np.round(grid).astype(int).tolist():
        if len(chosen) < FILLED_CUTS_PER_MARK and all(abs(column - other) >= spacing for other in chosen):
            chosen.append(column)
    return sorted(chosen)


def piece_spans(piece: np.ndarray, typical: float, fill: bool = False) -> list[tuple[int, int]]:
    """Every column span between two of the mark's candidate cuts (or its ends) that holds ink: the pieces
    any reading of the mark is made of. The whole mark is always one of them."""
    edges = [0, *cut_columns(piece.sum(axis=0), typical, fill), piece.shape[1]]
    return [(start, stop) for index, start in enumerate(edges) for stop in edges[index + 1:]
            if (piece[:, start:stop] > 0).any()]


def best_segmentation(spans: list[tuple[int, int]], scores: np.ndarray, width: int, cut_cost: float) -> list[int]:
    """The spans (their indices) that tile [0, width) with the highest total score, at most
    MAX_DIGITS_PER_MARK of them, each cut costing ``cut_cost``: a shortest path through the cuts."""
    best: dict[tuple[int, int], tuple[float, int]] = {(0, 0): (0.0, -1)}  # (end, pieces) -> (score, last span)
    for index in sorted(range(len(spans)), key=lambda index: spans[index][1]):
        start, stop = spans[index]
        for pieces in range(MAX_DIGITS_PER_MARK):
            if (start, pieces) in best:
                score = best[start, pieces][0] + float(scores[index]) + (cut_cost if pieces else 0.0)
                if (stop, pieces + 1) not in best or score > best[stop, pieces + 1][0]:
                    best[stop, pieces + 1] = (score, index)
    end = max((key for key in best if key[0] == width), key=lambda key: best[key][0])
    path = []
    while end[1]:
        index = best[end][1]
        path.append(index)
        end = (spans[index][0], end[1] - 1)
    return path[::-1]


def _ink_of(mark: _Mark, labelled: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The ink of a mark's own components only (a neighbour reaching into its box is left out)."""
    rows, columns = slice(mark.top, mark.bottom), slice(mark.left, mark.right)
    own = np.isin(labelled[rows, columns], mark.labels)
    return np.where(own, ink[rows, columns], 0.0).astype(np.float32)


@dataclass
class NumberMarks:
    """A number's marks, left to right, each with its own ink, and what their digits share: the median
    height, and one pen width (and its MNIST target) for all of them."""

    marks: list[_Mark]
    pieces: list[np.ndarray]
    typical: float
    thickness: float | None
    target: float
    signs: Signs = field(default_factory=Signs)

    def image_to_mnist(self, ink: np.ndarray) -> np.ndarray:
        """A mark's (or a piece's) ink as the 28x28 input, with the number's one pen width."""
        return digit_to_mnist(ink, self.thickness, self.target)


def number_marks(ink: np.ndarray) -> NumberMarks:
    """The marks of an ink map (see :func:`find_marks`) with their ink and shared measures."""
    marks, labelled, signs = _marks_and_signs(ink)
    typical = float(np.median([mark.height for mark in marks]))
    pieces = [_ink_of(mark, labelled, ink) for mark in marks]
    widths = [width for width in map(stroke_width, pieces) if width is not None]
    thickness = float(np.median(widths)) if widths else None
    return NumberMarks(marks, pieces, typical, thickness, STROKE_FRACTION * typical, signs)


def count_digits(ink: np.ndarray) -> int:
    """How many separate digit-sized marks an ink map holds (specks dropped, the strokes of one digit
    merged): cheap on image_to_mnist's working copy, so that ``predict`` can say when an image holds a number."""
    try:
        marks, _ = find_marks(ink)
    except ImageError as error:
        if error.code == "too_many_marks":
            return MAX_COMPONENTS + 1
        raise
    return len(marks)


class Reader:
    """Reads numbers with a trained run (through a :class:`Predictor`)."""

    def __init__(self, run: Any, *, engine: str = "auto", threads: int | None = None, marks: bool = True,
                 min_confidence: float | None = None, paper: bool = False):
        """``marks=False`` reads without the run's mark model (``digitlab train-marks``), as runs without
        one are read; ``min_confidence`` as the Predictor's; ``paper`` takes printed lines and uneven light
        out first (imaging/paper.py: for photos of ruled, squared, dotted and boxed paper)."""
        self.paper = paper
        self.predictor = run if isinstance(run, Predictor) else Predictor(run, engine=engine, threads=threads,
                                                                           min_confidence=min_confidence)
        self.marks = MarkModel.of_run(self.predictor.run, threads=threads) if marks else None

    def read_file(self, data: bytes, *, decimal_comma: bool = False) -> NumberReading:
        return self.read(bytes_to_image(data, draft_side=draft_side(self.paper)), decimal_comma=decimal_comma)

    def read(self, image: Image.Image | np.ndarray, *, min_confidence: float | None = None,
             decimal_comma: bool = False, paper: bool | None = None) -> NumberReading:
        """The number an image shows (a single digit reads as a one-character number), with a leading minus
        and a decimal point when it has them (written as a comma with ``decimal_comma``); ``min_confidence``
        replaces the predictor's threshold for this reading, and ``paper`` the reader's own for whether
        printed lines are taken out."""
        found = ink_map(image, READ_SIDE, clean=self.paper if paper is None else paper)
        number = number_marks(found.ink)
        digits: list[tuple[_Mark, np.ndarray, tuple[int, int]]] = []  # mark, input, column span in the mark
        read_before: list[int] = []  # how many digits the marks before each mark hold (a mark may hold several)
        budget = [MAX_PIECES]  # pieces this reading may still have the classifier read
        for mark, piece in zip(number.marks, number.pieces, strict=True):
            read_before.append(len(digits))
            if mark.width > MAYBE_WIDE_FRACTION * number.typical:
                digits += self._split(mark, piece, number, budget)
            else:
                digits.append((mark, number.image_to_mnist(piece), (0, mark.width)))
        inputs = np.stack([image_ for _, image_, _ in digits])
        batch = self.predictor.predict_batch(inputs)
        if min_confidence is not None:
            batch = dataclasses.replace(batch, threshold=min_confidence)
        readings = []
        for index, (mark, image_, (start, stop)) in enumerate(digits):
            prediction = batch[index]
            box = tuple(int(round(value * found.to_source)) for value in
                        (mark.left + start, mark.top, stop - start, mark.height))
            readings.append(DigitReading(prediction.digit, prediction.confidence, box, prediction.top(3), image_,
                                         prediction.status))
        point = None if number.signs.point is None else read_before[number.signs.point]
        signs = Signs(number.signs.minus, point, "," if decimal_comma else ".")
        text = signs.write("".join(str(reading.digit) for reading in readings))
        return NumberReading(text, math.prod(reading.confidence for reading in readings), readings, signs)

    def _split(self, mark: _Mark, piece: np.ndarray, number: NumberMarks,
               budget: list[int]) -> list[tuple[_Mark, np.ndarray, tuple[int, int]]]:
        """Touching digits: cut the mark at its candidate cuts (:func:`piece_spans`), read every piece in one
        batch, and keep the reading whose pieces score best: the classifier's confidence in each, and with
        the run's mark model, its probability that the piece is one whole digit (not a fragment, not
        several). A mark read surely as one digit stays whole unless it is wide or the mark model says
        otherwise; in a mark that is not wide each cut also costs SPLIT_PENALTY (a digit's fragments often
        read surely, and without a mark model nothing else says they are fragments)."""
        wide = mark.width > WIDE_FRACTION * number.typical
        read: dict[tuple[int, int], tuple[np.ndarray, float, float]] = {}  # span -> input, confidence, one digit
        for fill in (False, True):
            spans = piece_spans(piece, number.typical, fill)
            new = [span for span in spans if span not in read]  # the grid pass reads only the pieces it adds
            budget[0] -= len(new)
            if budget[0] < 0:
                raise ImageError(f"more than {MAX_PIECES} candidate pieces to read: not a number (text or noise?)",
                                 "too_many_marks")
            if new:
                images = np.stack([number.image_to_mnist(piece[:, start:stop]) for start, stop in new])
                one_digit = self.marks.log_one_digit(images) if self.marks else np.zeros(len(new))
                confidences = self.predictor.predict_batch(images).confidences
                read.update(zip(new, zip(images, confidences, one_digit, strict=True), strict=True))
            images, confidences, one_digit = (np.array(values)
                                              for values in zip(*(read[span] for span in spans), strict=True))
            whole = spans.index((0, mark.width))
            if confidences[whole] >= SURE and not wide and one_digit[whole] > math.log(0.5):
                chosen = [whole]
            else:
                scores = np.log(np.maximum(confidences, 1e-12)) + one_digit
                chosen = best_segmentation(spans, scores, mark.width, 0.0 if wide else math.log(SPLIT_PENALTY))
            if self.marks is None or one_digit[chosen].min() >= math.log(0.5):
                break  # every piece is one whole digit (or nothing says otherwise): no need to look closer
        return [(mark, images[index], spans[index]) for index in chosen]


def read_number(run: Any, image: Image.Image | np.ndarray | bytes | str | os.PathLike) -> NumberReading:
    """One image (a Pillow image, an array, a file's bytes or its path) read as a number with ``run``."""
    reader = Reader(run)
    if isinstance(image, str | os.PathLike):
        with open(image, "rb") as stream:
            image = stream.read()
    return reader.read_file(image) if isinstance(image, bytes) else reader.read(image)
