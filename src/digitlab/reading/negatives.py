"""Images that are not digits, made here: what a model learns to refuse (outlier exposure, Hendrycks et al.
2019) and what the abstention benchmark measures refusing.

Each kind is drawn as ink (white on black, 0..1), written as an upload in one of the number reader's looks
(``synthetic.render``: scan, inverted, colour JPEG, canvas) and brought to 28x28 by imaging, exactly as a
user's upload is. Kinds:

    drawn-letters  letters and signs drawn from stroke templates, each point jittered, any pen
    scribbles      a pen wandering through a few random points
    shapes         triangles, boxes, stars, crosses, zigzags, spirals (no lone circle or bar: 0 and 1)
    overlaps       two MNIST digits drawn over each other, or a digit crossed out
    printed        letters and signs in the fonts matplotlib ships (DejaVu, STIX), any size and weight
    lined-paper    empty paper with ruled or squared lines, photographed

Training uses ``TRAINING_KINDS``; ``HELD_OUT_KINDS`` are kept for measuring what the model never saw.
Letters that look like digits (O, I, l, S, Z, B, G, q, g...) are never drawn.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitlab.reading.imaging import ImageError, bytes_to_mnist
from digitlab.reading.synthetic import LOOKS, render

TRAINING_KINDS = ("drawn-letters", "scribbles", "shapes", "overlaps")
HELD_OUT_KINDS = ("printed", "lined-paper")
KINDS = TRAINING_KINDS + HELD_OUT_KINDS

# Letters and signs as strokes in a unit box (x right, y down).
STROKES: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "C": [[(1, 0.15), (0.65, 0), (0.25, 0.08), (0, 0.5), (0.25, 0.92), (0.65, 1), (1, 0.85)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "P": [[(0, 1), (0, 0), (0.75, 0), (1, 0.25), (0.75, 0.5), (0, 0.5)]],
    "R": [[(0, 1), (0, 0), (0.75, 0), (1, 0.25), (0.75, 0.5), (0, 0.5)], [(0.4, 0.5), (1, 1)]],
    "U": [[(0, 0), (0, 0.75), (0.25, 1), (0.75, 1), (1, 0.75), (1, 0)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "e": [[(0.05, 0.55), (0.95, 0.55), (0.8, 0.2), (0.45, 0.1), (0.1, 0.35), (0.1, 0.8), (0.5, 1), (0.95, 0.85)]],
    "h": [[(0, 0), (0, 1)], [(0, 0.6), (0.35, 0.4), (0.8, 0.45), (1, 0.65), (1, 1)]],
    "m": [[(0, 1), (0, 0.3)], [(0, 0.45), (0.25, 0.3), (0.5, 0.45), (0.5, 1)], [(0.5, 0.45), (0.75, 0.3),
                                                                            (1, 0.45), (1, 1)]],
    "n": [[(0, 1), (0, 0.3)], [(0, 0.5), (0.4, 0.3), (0.85, 0.4), (1, 0.6), (1, 1)]],
    "r": [[(0, 1), (0, 0.3)], [(0, 0.55), (0.4, 0.3), (1, 0.35)]],
    "w": [[(0, 0.3), (0.25, 1), (0.5, 0.5), (0.75, 1), (1, 0.3)]],
    "x": [[(0, 0.3), (1, 1)], [(1, 0.3), (0, 1)]],
    "+": [[(0.5, 0.1), (0.5, 0.9)], [(0.1, 0.5), (0.9, 0.5)]],
    "#": [[(0.35, 0), (0.25, 1)], [(0.75, 0), (0.65, 1)], [(0, 0.33), (1, 0.33)], [(0, 0.67), (1, 0.67)]],
    "=": [[(0, 0.35), (1, 0.35)], [(0, 0.65), (1, 0.65)]],
    "*": [[(0.5, 0), (0.5, 1)], [(0.07, 0.25), (0.93, 0.75)], [(0.93, 0.25), (0.07, 0.75)]],
    "%": [[(1, 0), (0, 1)], [(0.1, 0.1), (0.3, 0.1), (0.3, 0.3), (0.1, 0.3), (0.1, 0.1)],
          [(0.7, 0.7), (0.9, 0.7), (0.9, 0.9), (0.7, 0.9), (0.7, 0.7)]],
}
PRINTED = "ACEFHKMNPRUVWXYacefhkmnprtuvwxy#&@%+=*<>$"  # nothing a digit (or a 1) could be taken for
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "DejaVuSans-Oblique.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf")


def _canvas(height: int, rng: np.random.Generator) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    width = int(height * rng.uniform(0.7, 1.3))
    margin = height // 2
    image = Image.new("L", (width + 2 * margin, height + 2 * margin), 0)
    return image, ImageDraw.Draw(image), margin


def _pen(height: int, rng: np.random.Generator) -> int:
    return max(2, int(round(height * rng.uniform(0.05, 0.16))))


def _polylines(strokes: list[list[tuple[float, float]]], height: int, rng: np.random.Generator,
               jitter: float = 0.05) -> np.ndarray:
    image, draw, margin = _canvas(height, rng)
    width = image.width - 2 * margin
    pen = _pen(height, rng)
    slant = rng.uniform(-0.25, 0.25)
    for stroke in strokes:
        points = [(margin + (x + slant * (1 - y) + rng.normal(0, jitter)) * width,
                   margin + (y + rng.normal(0, jitter)) * height) for x, y in stroke]
        draw.line(points, fill=255, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    turned = image.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, expand=True)
    return np.asarray(turned, dtype=np.float32) / 255.0


def drawn_letter(rng: np.random.Generator, height: int) -> np.ndarray:
    return _polylines(STROKES[str(rng.choice(list(STROKES)))], height, rng)


def scribble(rng: np.random.Generator, height: int) -> np.ndarray:
    count = int(rng.integers(5, 10))
    points = rng.uniform(0, 1, size=(count, 2))
    while np.ptp(points, axis=0).min() < 0.5:  # spread both ways: a thin upright scribble is a 1
        points = rng.uniform(0, 1, size=(count, 2))
    dense = [tuple(points[0])]
    for start, end in zip(points[:-1], points[1:], strict=True):  # a wobbly path between them
        middle = (start + end) / 2 + rng.normal(0, 0.15, size=2)
        dense += [tuple(middle), tuple(end)]
    return _polylines([dense], height, rng, jitter=0.02)


def _shape_strokes(rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    kind = rng.integers(6)
    if kind == 0:  # triangle
        return [[(0.5, 0), (1, 1), (0, 1), (0.5, 0)]]
    if kind == 1:  # box
        return [[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]]
    if kind == 2:  # a five-pointed star, drawn in one line
        angles = -np.pi / 2 + 2 * np.pi / 5 * np.arange(5)
        tips = [(0.5 + 0.5 * np.cos(angle), 0.5 + 0.5 * np.sin(angle)) for angle in angles]
        return [[tips[index] for index in (0, 2, 4, 1, 3, 0)]]
    if kind == 3:  # a crossed box
        return [[(0, 0), (1, 1)], [(1, 0), (0, 1)], [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]]
    if kind == 4:  # zigzag
        teeth = int(rng.integers(3, 6))
        return [[(index / teeth, float(index % 2)) for index in range(teeth + 1)]]
    turns = rng.uniform(1.5, 3)  # spiral
    angles = np.linspace(0, 2 * np.pi * turns, 40)
    radii = np.linspace(0.05, 0.5, 40)
    return [[(0.5 + r * np.cos(a), 0.5 + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]]


def shape(rng: np.random.Generator, height: int) -> np.ndarray:
    return _polylines(_shape_strokes(rng), height, rng, jitter=0.03)


def overlap(rng: np.random.Generator, height: int, digits: np.ndarray) -> np.ndarray:
    """Two digits over each other (shifted by a third to a half of their width), or one crossed out."""
    first = digits[rng.integers(len(digits))].astype(np.float32) / 255.0
    canvas = np.zeros((56, 56), np.float32)
    canvas[14:42, 8:36] = first
    if rng.random() < 0.5:
        second = digits[rng.integers(len(digits))].astype(np.float32) / 255.0
        shift = int(rng.integers(9, 15))
        canvas[14:42, 8 + shift:36 + shift] = np.maximum(canvas[14:42, 8 + shift:36 + shift], second)
    else:
        strike = Image.new("L", (56, 56), 0)
        ImageDraw.Draw(strike).line([(8, float(rng.uniform(16, 40))), (36, float(rng.uniform(16, 40)))],
                                    fill=255, width=3)
        canvas = np.maximum(canvas, np.asarray(strike, np.float32) / 255.0)
    scale = height / 28
    image = Image.fromarray((canvas * 255).astype(np.uint8)).resize((int(56 * scale), int(56 * scale)),
                                                                     Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 255.0


def _fonts() -> list[Path]:
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [folder / name for name in FONT_FILES if (folder / name).is_file()]


def printed(rng: np.random.Generator, height: int) -> np.ndarray:
    fonts = _fonts()
    font = ImageFont.truetype(os.fspath(fonts[rng.integers(len(fonts))]), size=int(height * 1.3))
    character = PRINTED[rng.integers(len(PRINTED))]
    image = Image.new("L", (int(height * 2.2), int(height * 2.2)), 0)
    ImageDraw.Draw(image).text((height * 0.4, height * 0.2), character, font=font, fill=255)
    turned = image.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR)
    return np.asarray(turned, dtype=np.float32) / 255.0


def lined_paper(rng: np.random.Generator, height: int) -> np.ndarray:
    """Ruled lines (with a margin, sometimes) or a squared grid, faint, across a page-sized crop."""
    side = int(height * rng.uniform(2, 4))
    image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(image)
    gap = int(rng.uniform(0.15, 0.4) * side)
    shade = int(rng.uniform(60, 200))
    width = max(1, side // 150)
    for y in range(int(rng.integers(gap)), side, gap):
        draw.line([(0, y), (side, y)], fill=shade, width=width)
    if rng.random() < 0.4:  # squared paper
        for x in range(int(rng.integers(gap)), side, gap):
            draw.line([(x, 0), (x, side)], fill=shade, width=width)
    elif rng.random() < 0.5:  # a margin
        x = int(side * rng.uniform(0.1, 0.25))
        draw.line([(x, 0), (x, side)], fill=min(255, shade + 40), width=width + 1)
    return np.asarray(image, dtype=np.float32) / 255.0


def _maker(kind: str, digits: np.ndarray | None) -> Callable[[np.random.Generator, int], np.ndarray]:
    makers = {"drawn-letters": drawn_letter, "scribbles": scribble, "shapes": shape, "printed": printed,
              "lined-paper": lined_paper}
    if kind == "overlaps":
        if digits is None or not len(digits):
            raise ValueError("overlaps need digits to draw")
        return lambda rng, height: overlap(rng, height, digits)
    return makers[kind]


def negative_uploads(kind: str, count: int, seed: int, digits: np.ndarray | None = None) -> list[bytes]:
    """``count`` image files of one kind, each in one of the looks."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    make = _maker(kind, digits)
    return [render(np.clip(make(rng, int(rng.integers(40, 110))), 0, 1), LOOKS[index % len(LOOKS)], rng)
            for index in range(count)]


def negative_inputs(kinds: tuple[str, ...], count: int, seed: int,
                    digits: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """About ``count`` 28x28 inputs, shared among ``kinds``, as imaging prepares the uploads (those it
    finds no ink in are left out: they are refused before any model sees them)."""
    inputs, kinds_of = [], []
    for index, kind in enumerate(kinds):
        share = count // len(kinds) + (index < count % len(kinds))
        for data in negative_uploads(kind, share, seed, digits):
            try:
                inputs.append(bytes_to_mnist(data).image)
            except ImageError:
                continue
            kinds_of.append(kind)
    return (np.stack(inputs) if inputs else np.zeros((0, 28, 28), np.uint8)), kinds_of
