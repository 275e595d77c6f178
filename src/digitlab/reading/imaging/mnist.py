"""Ink -> the 28x28 input: the last step of imaging (see ``__init__.py``). The digit's box is cut from the
best resolution at hand at about ``DIGIT_SIDE`` pixels, its pen brought to MNIST's width relative to the
digit, scaled to fit 20x20, and its centre of mass put at the centre of 28x28.

    image_to_mnist(image or array) -> Prepared     the whole way from a decoded image
    bytes_to_mnist(bytes) -> Prepared              from a file's bytes (decode.bytes_to_image first)
    digit_to_mnist(ink) -> 28x28                   one digit's ink (the number reader's pieces)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

from digitlab.reading.imaging.decode import CANVAS, DIGIT_BOX, WORK_SIDE, as_image, bytes_to_image, looks_like_mnist
from digitlab.reading.imaging.ink import FoundInk, NoDigitFound, as_rgb, find_ink, ink_levels, ink_peak, paper_distance

STROKE_FRACTION = 0.12  # MNIST pen width relative to the digit's larger side (about 2.4 px of 20)
DIGIT_SIDE = 40  # the digit is cut from the best resolution at hand at about this size


@dataclass(frozen=True)
class Prepared:
    """The 28x28 uint8 image the model sees, and what was done to get it."""

    image: np.ndarray
    inverted: bool
    source_size: tuple[int, int]
    found: FoundInk | None = field(default=None, repr=False, compare=False)  # stage 1, unless skipped

    def working_ink(self) -> np.ndarray | None:
        """The whole image's ink on the small working copy (None for an input that was already MNIST-like):
        enough to tell one digit from several without a second look at the image."""
        return None if self.found is None else ink_levels(self.found.distance, self.found.peak)


_CHESSBOARD = ndimage.generate_binary_structure(2, 2)  # all 8 neighbours one step away


def stroke_width(ink: np.ndarray) -> float | None:
    """The pen's width in pixels (twice the 90th percentile of the depth inside the strokes: the pen, not
    its blots), or None when there is too little ink to tell."""
    mask = ink > 0.5
    if np.count_nonzero(mask) < 4:
        return None
    depths = ndimage.distance_transform_cdt(mask, metric=_CHESSBOARD)[mask]
    rank = int(0.9 * (len(depths) - 1))
    return 2.0 * float(np.partition(depths, rank)[rank])


def _normalise_stroke(ink: np.ndarray, thickness: float | None = None, target: float | None = None) -> np.ndarray:
    """Thicken a thin pen or thin a marker so the stroke is about as wide, relative to the digit, as MNIST's.

    ``thickness`` and ``target`` (pixels) default to this digit's own pen width and size; a number passes
    the same pen width for all its digits, so that one pen gets one correction."""
    thickness = stroke_width(ink) if thickness is None else thickness
    if thickness is None:
        return ink
    target = STROKE_FRACTION * max(ink.shape) if target is None else target
    if thickness < 0.6 * target:
        radius = max(1, int(round((target - thickness) / 2)))
        return ndimage.grey_dilation(ink, footprint=_disk(radius))
    if thickness > 1.8 * target:
        radius = max(1, int(round((thickness - target) / 2)))
        thinned = ndimage.grey_erosion(ink, footprint=_disk(radius))
        return thinned if np.count_nonzero(thinned > 0.5) > 0.2 * np.count_nonzero(ink > 0.5) else ink
    return ink


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def _bounds(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the smallest box holding every True of a non-empty 2-D mask."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1)


def _fit_and_centre(ink: np.ndarray, thickness: float | None = None, target: float | None = None) -> np.ndarray:
    """Crop to the ink, scale its box to fit 20x20, pad to 28x28, shift the centre of mass to the centre."""
    box = ink[_bounds(ink > 0)]
    framed = np.zeros((box.shape[0] + 2, box.shape[1] + 2), dtype=ink.dtype)  # a pixel of paper around it
    framed[1:-1, 1:-1] = box
    crop = _normalise_stroke(framed, thickness, target)
    crop = crop[_bounds(crop > 0)]
    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray((crop * 255).astype(np.uint8)).resize(new_size, Image.Resampling.LANCZOS)
    digit = np.asarray(resized, dtype=np.float32)
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    top, left = (CANVAS - digit.shape[0]) // 2, (CANVAS - digit.shape[1]) // 2
    canvas[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return _centre_of_mass_shift(canvas)


_POSITIONS = np.arange(CANVAS, dtype=np.float64)


def _centre_of_mass_shift(canvas: np.ndarray) -> np.ndarray:
    """Move the digit by whole pixels so that its centre of mass is at the centre of the 28x28."""
    rows = canvas.sum(axis=1)
    total = rows.sum()  # whole levels: the same total in any order
    if total <= 0:
        return canvas
    down = round((CANVAS - 1) / 2 - rows @ _POSITIONS / total)
    right = round((CANVAS - 1) / 2 - canvas.sum(axis=0) @ _POSITIONS / total)
    if not (down or right):
        return canvas
    shifted = np.zeros_like(canvas)
    shifted[max(down, 0):CANVAS + min(down, 0), max(right, 0):CANVAS + min(right, 0)] = \
        canvas[max(-down, 0):CANVAS + min(-down, 0), max(-right, 0):CANVAS + min(-right, 0)]
    return shifted


def image_to_mnist(image: Image.Image | np.ndarray) -> Prepared:
    """Any digit image (Pillow image or 2-D/3-D array) -> the 28x28 uint8 MNIST-style input.

    Two stages: the ink (paper colour, polarity, strength, bounding box) is found on the image reduced to
    at most ``WORK_SIDE`` pixels; then the digit's box is cut from the best resolution at hand, reduced
    to about ``DIGIT_SIDE`` pixels, and normalised the MNIST way. Raises NoDigitFound when there is no
    ink to classify.
    """
    if isinstance(image, np.ndarray):
        prepared = as_image(np.asarray(image))
        if isinstance(prepared, np.ndarray):
            return Prepared(prepared, False, (CANVAS, CANVAS))
        image = prepared
    source_size = image.info.get("source_size", image.size)
    if image.mode in ("L", "1") and image.size == (CANVAS, CANVAS):
        gray = np.asarray(image.convert("L"), dtype=np.float32)
        if looks_like_mnist(gray):
            return Prepared(gray.astype(np.uint8), False, source_size)

    # Stage 1: find the ink on a small working copy.
    found = find_ink(image, WORK_SIDE)
    image, reduction, distance, peak = found.image, found.reduction, found.distance, found.peak
    row_span, column_span = _bounds(found.inked)
    top, bottom, left, right = row_span.start, row_span.stop, column_span.start, column_span.stop

    # Stage 2: the digit at about DIGIT_SIDE pixels, from the working copy when it is that large there,
    # else cut again from the best resolution at hand.
    side = max(bottom - top, right - left)
    if (reduction == 1 or side >= DIGIT_SIDE) and side < 2 * DIGIT_SIDE:
        ink = ink_levels(distance[top:bottom, left:right], peak)
    else:
        box = (max(0, (left - 1) * reduction), max(0, (top - 1) * reduction),
               min(image.width, (right + 1) * reduction), min(image.height, (bottom + 1) * reduction))
        region = image.crop(box)
        shrink = max(1, max(region.size) // DIGIT_SIDE)
        region = region.reduce(shrink) if shrink > 1 else region
        crop_rgb, _ = as_rgb(region, found.background if found.background is not None else 255.0)
        crop_distance = paper_distance(crop_rgb, found.paper, found.denoise and shrink == 1)
        ink = ink_levels(crop_distance, max(ink_peak(crop_distance), 24.0))
        if not ink.any():
            raise NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)")
    return Prepared(digit_to_mnist(ink), found.inverted, source_size, found)


def digit_to_mnist(ink: np.ndarray, thickness: float | None = None, target: float | None = None) -> np.ndarray:
    """One digit's ink (white on black, [0, 1]) -> the 28x28 uint8 input, with an optional shared pen width."""
    return np.clip(np.round(_fit_and_centre(ink, thickness, target)), 0, 255).astype(np.uint8)


def bytes_to_mnist(data: bytes) -> Prepared:
    """Bytes of an image file straight to the 28x28 input (decode safely, then ``image_to_mnist``)."""
    return image_to_mnist(bytes_to_image(data))


def naive_mnist(image: Image.Image) -> np.ndarray:
    """The baseline the benchmark compares against: convert to L and resize to 28x28, nothing else."""
    return np.asarray(image.convert("L").resize((CANVAS, CANVAS)), dtype=np.uint8)
