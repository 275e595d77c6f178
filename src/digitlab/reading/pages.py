"""Numbers written on printed paper and photographed: what people send from exercise books, squared pads and
forms. The paper benchmark (``python -m benchmarks.paper``) and the tests build their sets here.

A number (``synthetic.compose``, with a minus sign or a decimal point when its text has one) is written in
a dark pen on one of four papers, printed lines drawn under the ink:

    ruled    lines 1.15-1.5 digit heights apart, the digits standing on one; a margin line, sometimes
    squared  a grid of 0.5-0.9 digit heights, its lines through the digits
    dotted   ruled lines made of dots
    boxes    one printed box per character (forms), the boxes side by side or apart

and then photographed: light falling off across the page, sometimes a shadow's soft edge, a perspective
of a few degrees, a little blur, a JPEG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from digitlab.reading.synthetic import compose

PAPERS = ("ruled", "squared", "dotted", "boxes")
SIGNED_FORMS = ("-d", "d.d", "-d.d")  # a quarter of the numbers: a minus, a point, or both


@dataclass(frozen=True)
class PageNumber:
    data: bytes  # the photo (JPEG)
    truth: str  # what is written: digits, perhaps a leading "-" and a "."
    paper: str
    signed: bool


def number_text(labels: np.ndarray, signed: bool, rng: np.random.Generator, paper: str) -> str:
    """The written text of these digit labels: plain, or in one of SIGNED_FORMS (boxes: only a minus, since
    forms print their decimal separator)."""
    digits = "".join(map(str, labels))
    if not signed:
        return digits
    form = "-d" if paper == "boxes" or len(digits) < 2 else SIGNED_FORMS[int(rng.integers(len(SIGNED_FORMS)))]
    if "." in form:
        point = int(rng.integers(1, len(digits)))
        digits = digits[:point] + "." + digits[point:]
    return "-" + digits if form.startswith("-") else digits


def _boxed_ink(digits: np.ndarray, text: str, rng: np.random.Generator) -> tuple[np.ndarray, list, int]:
    """Each character written in its own box: the ink, the boxes (left, top, right, bottom) and the height."""
    height = int(rng.integers(40, 110))
    inks = [_scaled(_trimmed(compose(digits[:0], "normal", "scan", rng, text="-").ink), width=height * 0.45)
            if character == "-" else _scaled(_trimmed(compose(digits[index:index + 1], "normal", "scan", rng).ink),
                                             height=height * rng.uniform(0.88, 1.12))
            for index, character in _characters(text)]
    side = int(height * rng.uniform(1.25, 1.6))
    gap = 0 if rng.random() < 0.5 else int(side * rng.uniform(0.1, 0.3))
    margin = side // 2
    canvas = np.zeros((side + 2 * margin, margin * 2 + len(inks) * (side + gap)), np.float32)
    boxes = []
    for index, ink in enumerate(inks):
        left = margin + index * (side + gap)
        boxes.append((left, margin, left + side, margin + side))
        ink = ink[:side - 2, :side - 2]
        top = margin + (side - ink.shape[0]) // 2 + int(rng.integers(-side // 12, side // 12 + 1))
        x = left + (side - ink.shape[1]) // 2 + int(rng.integers(-side // 12, side // 12 + 1))
        top = min(max(top, margin + 1), margin + side - ink.shape[0] - 1)
        x = min(max(x, left + 1), left + side - ink.shape[1] - 1)
        region = (slice(top, top + ink.shape[0]), slice(x, x + ink.shape[1]))
        canvas[region] = np.maximum(canvas[region], ink)
    return canvas, boxes, height


def _characters(text: str) -> list[tuple[int, str]]:
    """(index of the digit it uses, character) for each character of ``text``."""
    out, digit = [], 0
    for character in text:
        out.append((digit, character))
        digit += character.isdigit()
    return out


def _scaled(ink: np.ndarray, *, height: float | None = None, width: float | None = None) -> np.ndarray:
    """The ink resized to a height (or a width), its aspect kept."""
    factor = height / ink.shape[0] if height is not None else width / ink.shape[1]
    size = (max(2, round(ink.shape[1] * factor)), max(2, round(ink.shape[0] * factor)))
    return np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR),
                      dtype=np.float32) / 255.0


def _trimmed(ink: np.ndarray) -> np.ndarray:
    rows, columns = np.nonzero(ink > 0.1)
    return ink[rows.min():rows.max() + 1, columns.min():columns.max() + 1]


def _lines(size: tuple[int, int], paper: str, height: int, baseline: int, rng: np.random.Generator,
           boxes: list) -> Image.Image:
    """The printed lines alone, as coverage (L, 0..255) on a page of ``size``."""
    width, page_height = size
    lines = Image.new("L", size, 0)
    draw = ImageDraw.Draw(lines)
    thickness = max(1, int(round(height * rng.uniform(0.02, 0.05))))
    strength = int(rng.integers(120, 230))
    if paper in ("ruled", "dotted"):
        gap = int(height * rng.uniform(1.15, 1.5))
        dot_step = int(rng.integers(4, 9)) * thickness
        for y in range(baseline % gap, page_height, gap):
            if paper == "ruled":
                draw.line([(0, y), (width, y)], fill=strength, width=thickness)
            else:
                for x in range(int(rng.integers(dot_step)), width, dot_step):
                    draw.ellipse((x, y - thickness, x + 2 * thickness, y + thickness), fill=strength)
        if paper == "ruled" and rng.random() < 0.5:  # a margin, left of the writing
            x = int(rng.uniform(0.02, 0.08) * width)
            draw.line([(x, 0), (x, page_height)], fill=min(255, strength + 25), width=thickness + 1)
    elif paper == "squared":
        pitch = max(6, int(height * rng.uniform(0.5, 0.9)))
        for y in range(int(rng.integers(pitch)), page_height, pitch):
            draw.line([(0, y), (width, y)], fill=strength, width=thickness)
        for x in range(int(rng.integers(pitch)), width, pitch):
            draw.line([(x, 0), (x, page_height)], fill=strength, width=thickness)
    else:
        for left, top, right, bottom in boxes:
            draw.rectangle((left, top, right, bottom), outline=max(strength, 170), width=thickness + 1)
    return lines


def _photographed(rgb: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Uneven light, perhaps a shadow, a slight perspective and blur."""
    height, width, _ = rgb.shape
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * columns / width + np.sin(angle) * rows / height)
    light = 1.0 - rng.uniform(0.05, 0.3) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    if rng.random() < 0.5:  # the soft edge of a shadow (a hand, a phone) across part of the page
        edge = rng.uniform(0.2, 0.8)
        across = (np.cos(angle + 1.3) * columns / width + np.sin(angle + 1.3) * rows / height)
        across = (across - across.min()) / max(float(np.ptp(across)), 1e-6)
        softness = rng.uniform(0.03, 0.12)
        light *= 1.0 - rng.uniform(0.25, 0.45) / (1.0 + np.exp(-(across - edge) / softness))
    image = Image.fromarray(np.clip(rgb * light[..., None], 0, 255).astype(np.uint8))
    tilt = rng.uniform(-1, 1, 8) * np.array([0.02, 0.02, 0.02 * width, 0.02, 0.02, 0.02 * height, 2e-5, 2e-5])
    coefficients = (1 + tilt[0], tilt[1], tilt[2], tilt[3], 1 + tilt[4], tilt[5], tilt[6], tilt[7])
    paper = tuple(int(v) for v in np.median(np.asarray(image).reshape(-1, 3), axis=0))
    image = image.transform(image.size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC,
                            fillcolor=paper)
    trim = (int(0.045 * image.width), int(0.045 * image.height))  # the photo's frame: no fill from the transform
    image = image.crop((trim[0], trim[1], image.width - trim[0], image.height - trim[1]))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))


def write_on_paper(digits: np.ndarray, text: str, paper: str, rng: np.random.Generator) -> bytes:
    """``text`` (its digits standing for ``digits`` in order) written on ``paper`` and photographed, as a JPEG."""
    if paper == "boxes":
        ink, boxes, height = _boxed_ink(digits, text, rng)
        baseline = 0
    else:
        written = compose(digits, ("wide", "normal", "tight")[int(rng.integers(3))], "scan", rng, text=text)
        ink, boxes = written.ink, []
        rows = np.nonzero(ink.max(axis=1) > 0.3)[0]
        height = int(rows[-1] - rows[0]) if len(rows) else ink.shape[0] // 2
        baseline = int(rows[-1]) if len(rows) else ink.shape[0]
        pad = int(height * rng.uniform(0.2, 0.8))
        ink = np.pad(ink, pad)
        baseline += pad + int(height * rng.uniform(-0.03, 0.08))
    lines = np.asarray(_lines((ink.shape[1], ink.shape[0]), paper, height, baseline, rng, boxes),
                       dtype=np.float32) / 255.0
    paper_colour = rng.uniform(225, 255, 3) - np.array([0, 0, rng.uniform(0, 15)])
    line_colour = (np.array([120, 150, 210]) if rng.random() < 0.6 else np.full(3, 130.0)) + rng.uniform(-20, 20, 3)
    pen = np.array([20, 30, 90]) * rng.uniform(0.3, 1.2) if rng.random() < 0.5 else np.full(3, rng.uniform(10, 60))
    rgb = paper_colour * (1 - lines[..., None]) + line_colour * lines[..., None]
    rgb = rgb * (1 - ink[..., None]) + pen * ink[..., None]
    image = _photographed(rgb, rng)
    scale = rng.uniform(600, 1400) / image.width
    image = image.resize((max(8, int(image.width * scale)), max(8, int(image.height * scale))),
                         Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(60, 93)))
    return buffer.getvalue()


def page_numbers(images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> list[PageNumber]:
    """``count`` numbers of 2-6 of these digits, the papers in turn, a quarter of them signed."""
    rng = np.random.default_rng(seed)
    numbers = []
    for index in range(count):
        paper, signed = PAPERS[index % len(PAPERS)], (index // len(PAPERS)) % 4 == 3
        chosen = rng.choice(len(images), size=2 + index % 5, replace=False)
        text = number_text(labels[chosen], signed, rng, paper)
        numbers.append(PageNumber(write_on_paper(images[chosen], text, paper, rng), text, paper, signed))
    return numbers
