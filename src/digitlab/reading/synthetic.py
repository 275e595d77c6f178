"""Numbers written with MNIST digits, the way people write them: each digit with its own size (+-12%),
baseline (+-8% of the height) and slant (+-6 degrees), spaced from wide apart to touching, the whole
number turned by up to 3 degrees, in one of four looks (dark ink on light paper; light on dark; coloured
ink on coloured paper with sensor noise, as a JPEG; traced with a round pen as the drawing page sends).

The number benchmark builds its set here from MNIST's test digits; the mark model (``marks``) learns from
numbers built here from a run's training digits.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SPACINGS = {"wide": (0.5, 0.9), "normal": (0.15, 0.5), "tight": (0.02, 0.15), "touching": (-0.2, -0.02)}
LOOKS = ("scan", "inverted", "colour", "canvas")


def _digit_ink(digit: np.ndarray, height: int, look: str, rng: np.random.Generator) -> np.ndarray:
    """One MNIST digit's ink (float 0..1, white on black), cut to its box, scaled to ``height`` and slanted."""
    rows, columns = np.nonzero(digit > 0)
    cut = digit[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    scale = height / cut.shape[0]
    width = max(2, round(cut.shape[1] * scale))
    if look == "canvas":  # traced with a round pen, as a finger on the page draws it
        pen = max(3.0, height / 9)
        image = Image.new("L", (width + int(pen) + 2, height + int(pen) + 2), 0)
        draw = ImageDraw.Draw(image)
        for row, column in zip(*np.nonzero(cut > 128), strict=True):
            x, y = pen / 2 + 1 + column * scale, pen / 2 + 1 + row * scale
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    else:
        image = Image.fromarray(cut).resize((width, height), Image.Resampling.BICUBIC)
    image = image.rotate(rng.uniform(-6, 6), resample=Image.Resampling.BILINEAR, expand=True)
    return np.asarray(image, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class WrittenNumber:
    """A number's ink (white on black, 0..1); whether any neighbours' ink touches; and which digit (1..n, 0
    for none) each pixel's ink belongs to, so that a piece of the ink can be told to be one digit or not."""

    ink: np.ndarray
    touching: bool
    owners: np.ndarray


SIGNS = "-.,"  # what a written number may hold besides digits: a leading minus, a decimal point or comma


def _sign_ink(sign: str, base: int, rng: np.random.Generator) -> np.ndarray:
    """A minus (a short bar at mid-height) or a decimal point or comma (a dot on the baseline, a comma's with
    a tail) drawn with the pen of digits ``base`` pixels tall (MNIST's strokes are about 0.12 of the height)."""
    pen = max(2.0, base * rng.uniform(0.09, 0.14))
    if sign == "-":
        width = base * rng.uniform(0.3, 0.55)
        image = Image.new("L", (int(width + pen) + 2, int(pen * 1.6) + 2), 0)
        tilt = pen * 0.3 * rng.uniform(-1, 1)
        ImageDraw.Draw(image).line([(pen / 2 + 1, image.height / 2 + tilt), (width + pen / 2, image.height / 2 - tilt)],
                                   fill=255, width=int(round(pen)))
    else:
        size = pen * rng.uniform(1.1, 1.6)
        image = Image.new("L", (int(size) + 3, int(size * (2.2 if sign == "," else 1)) + 3), 0)
        draw = ImageDraw.Draw(image)
        draw.ellipse((1, 1, size + 1, size + 1), fill=255)
        if sign == ",":
            draw.line([(size * 0.8, size * 0.6), (size * 0.2, size * 2.1)], fill=255, width=max(1, int(pen * 0.6)))
    return np.asarray(image, dtype=np.float32) / 255.0


def _top(character: str, height: int, base: int, rng: np.random.Generator) -> int:
    """Where a piece's top sits below the line the digits hang from: a digit about centred (its baseline
    wanders by 8%), a minus at mid-height, a point on the baseline, a comma's dot on it and its tail below."""
    if character == "-":
        return (base - height) // 2 + int(round(base * rng.uniform(-0.05, 0.05)))
    if character == ".":
        return base - height + int(round(base * rng.uniform(-0.02, 0.02)))
    if character == ",":
        return base - int(height * 0.45)
    return int(round(base * rng.uniform(-0.08, 0.08))) + (base - height) // 2


def compose(digits: np.ndarray, spacing: str, look: str, rng: np.random.Generator,
            text: str | None = None) -> WrittenNumber:
    """Digits (n, 28, 28) laid out as one written number; ``text`` (such as "-12.5", its digits standing for
    ``digits`` in order) adds SIGNS where it has them: a minus at mid-height, a point or comma on the baseline."""
    base = int(rng.integers(40, 110))
    text = text if text is not None else "d" * len(digits)
    pieces, which = [], iter(digits)
    for character in text:
        pieces.append(_sign_ink(character, base, rng) if character in SIGNS
                      else _digit_ink(next(which), int(round(base * rng.uniform(0.88, 1.12))), look, rng))
    margin = base // 2
    low, high = SPACINGS[spacing]
    lefts, x = [], margin
    for index, piece in enumerate(pieces):
        lefts.append(x)
        gap = (low, high) if text[index] not in SIGNS and (index + 1 == len(text) or text[index + 1] not in SIGNS) \
            else (max(low, 0.1), max(high, 0.2))  # a sign keeps apart from its neighbours
        x += piece.shape[1] + int(round(base * rng.uniform(*gap)))
    tops = [margin + _top(character, piece.shape[0], base, rng) for character, piece in zip(text, pieces, strict=True)]
    height = max(top + piece.shape[0] for top, piece in zip(tops, pieces, strict=True)) + margin
    width = max(left + piece.shape[1] for left, piece in zip(lefts, pieces, strict=True)) + margin
    ink = np.zeros((height, width), np.float32)
    owner = np.zeros((height, width), np.int16)  # which digit's ink a pixel is (the last one drawn)
    touching = False
    for index, (piece, top, left) in enumerate(zip(pieces, tops, lefts, strict=True)):
        region = (slice(top, top + piece.shape[0]), slice(left, left + piece.shape[1]))
        mine = piece > 0.3
        if index and (ndimage.binary_dilation(mine, iterations=1) & (owner[region] == index)).any():
            touching = True  # this digit's ink meets its left neighbour's
        ink[region] = np.maximum(ink[region], piece)
        owner[region][mine] = index + 1
    angle = rng.uniform(-3, 3)
    turned = Image.fromarray((ink * 255).astype(np.uint8)).rotate(angle, Image.Resampling.BILINEAR, expand=True)
    owners = Image.fromarray(owner.astype(np.uint8)).rotate(angle, Image.Resampling.NEAREST, expand=True)
    return WrittenNumber(np.asarray(turned, dtype=np.float32) / 255.0, touching, np.asarray(owners))


def render(ink: np.ndarray, look: str, rng: np.random.Generator) -> bytes:
    """The number's ink as an image file in one of the LOOKS."""
    light, dark = rng.uniform(180, 255, size=3), rng.uniform(0, 80, size=3)
    if look == "scan":
        ink_colour, paper = np.full(3, dark.mean()), np.full(3, light.mean())
    elif look == "inverted":
        ink_colour, paper = np.full(3, light.mean()), np.full(3, dark.mean())
    elif look == "colour":
        ink_colour, paper = dark * rng.uniform(0.3, 1.0, size=3) + rng.uniform(0, 60, size=3), light
    else:
        ink_colour, paper = np.zeros(3), np.full(3, 255.0)
    rgb = paper * (1 - ink[..., None]) + ink_colour * ink[..., None]
    if look == "colour":
        rgb += rng.normal(0, rng.uniform(0, 8), size=rgb.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    if look == "colour":
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(rng.integers(50, 96)))
    elif look == "canvas":
        Image.fromarray(rgb).convert("RGBA").save(buffer, format="PNG")
    else:
        Image.fromarray(rgb[..., 0]).save(buffer, format="PNG")
    return buffer.getvalue()
