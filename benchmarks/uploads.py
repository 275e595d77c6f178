"""The uploads people send, made from MNIST *test* digits: canvas drawings from the page, photo-like
files (the real-world set of realworld.py) and 12-megapixel phone photos. Shared by the imaging
benchmark, the load test and the tests, so that all of them measure the same kinds of file."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def canvas_png(digit: np.ndarray, side: int = 280, pen: int = 18) -> bytes:
    """What the drawing page sends: black strokes (pen 18 px) on a white 280x280 canvas, as a browser's
    canvas.toBlob gives it (RGBA PNG, opaque).

    The MNIST digit is traced at the canvas' scale: its ink drawn as overlapping round pen dots."""
    image = Image.new("RGBA", (side, side), "white")
    draw = ImageDraw.Draw(image)
    scale = side * 0.7 / 28
    offset = side * 0.15
    rows, columns = np.nonzero(digit > 128)
    radius = pen / 2
    for row, column in zip(rows, columns, strict=True):
        x, y = offset + column * scale, offset + row * scale
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def phone_photo_jpeg(digit: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (4000, 3000),
                     quality: int = 90) -> bytes:
    """A 12-megapixel phone photo of a digit written on paper: uneven light, paper grain, a dark pen
    about 1% of the width, the digit a quarter of the frame, JPEG as a phone saves it."""
    width, height = size
    small = np.linspace(0.82, 1.0, 64)[None, :] * np.linspace(1.0, 0.88, 48)[:, None]  # light falls off
    light = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR),
                       dtype=np.float32) / 255.0
    paper = np.array([236, 232, 220], dtype=np.float32) * light[..., None]
    box = int(height * rng.uniform(0.22, 0.32))
    stroke = np.asarray(Image.fromarray(digit).resize((box, box), Image.Resampling.BICUBIC)
                        .filter(ImageFilter.GaussianBlur(box / 200)), dtype=np.float32) / 255.0
    top = int(rng.integers(height // 6, height - box - height // 6))
    left = int(rng.integers(width // 6, width - box - width // 6))
    ink = np.zeros((height, width), dtype=np.float32)
    ink[top:top + box, left:left + box] = stroke
    pen = np.array([30, 35, 70], dtype=np.float32)
    rgb = paper * (1 - ink[..., None]) + pen * ink[..., None]
    grain = rng.normal(0, 3.0, size=(height // 4, width // 4)).astype(np.float32)
    rgb += np.asarray(Image.fromarray(grain).resize(size, Image.Resampling.NEAREST))[..., None]
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def photo_like(digits: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None) -> list[bytes]:
    """The real-world set's photo-like and canvas-like files (of ``size``, else 64-400 px; see realworld.redraw)."""
    from benchmarks.realworld import redraw

    return [redraw(digit, rng, size) for digit in digits]
