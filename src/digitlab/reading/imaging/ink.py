"""An image -> its ink: the second step of imaging (see ``__init__.py``). How far each pixel's colour is
from the paper's (the median colour of the border), in either polarity and for coloured pens alike, found
on a copy at most ``WORK_SIDE`` pixels a side (for a number on printed paper, when asked, with uneven light
and printed lines taken out: paper.py); its strength (the 99.9th percentile) and a light threshold against
paper texture and compression noise.

    ink_map(image) -> InkMap            the ink of a whole image (the number reader's start)
    find_ink(image) -> FoundInk         what the 28x28 fit needs of it (mnist.py)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitlab.reading.imaging.decode import ImageError, as_image, opaque_as_rgb
from digitlab.reading.imaging.paper import clean_paper, paper_darkness, paper_is_lighter

MIN_INK_FRACTION = 0.0005  # less ink than this (relative to the image) is "no digit"
DENOISE_MIN_SIDE = 56  # images smaller than this are not median-filtered (too little to lose)


class NoDigitFound(ImageError):
    """The image decoded fine but holds no ink: a blank canvas is not a guess."""

    code = "no_digit"


_WORKABLE_MODES = ("L", "LA", "RGB", "RGBX", "RGBA")


def _workable(image: Image.Image) -> Image.Image:
    """The image in a mode that imaging can reduce and read faithfully: a palette (every GIF, many PNGs)
    as RGB or RGBA, 1-bit as L, 16- and 32-bit greys (16-bit PNG scans, TIFF) scaled to 8-bit L rather
    than clipped to white, any other mode (CMYK, YCbCr...) as RGB."""
    if image.mode in _WORKABLE_MODES:
        return image
    if image.mode in ("P", "PA"):
        return image.convert("RGBA" if _has_alpha(image) else "RGB")
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return _deep_grey_as_l(image)
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise ImageError(f"unsupported colour mode {image.mode} ({error})", "unsupported_image") from None


DEEP_BAND_ROWS = 256  # a 16- or 32-bit grey is brought to 8 bits this many rows at a time


def _deep_grey_as_l(image: Image.Image) -> Image.Image:
    """A 16- or 32-bit grey as 8-bit L, band by band (the peak first, then the scaling): a small file can
    declare tens of megapixels, and float copies of all of them at once cost hundreds of MB; this way the
    peak stays near the decoded image's own size."""
    def bands():
        for top in range(0, image.height, DEEP_BAND_ROWS):
            box = (0, top, image.width, min(image.height, top + DEEP_BAND_ROWS))
            yield top, np.nan_to_num(np.asarray(image.crop(box), dtype=np.float32))

    peak = max((float(band.max()) for _, band in bands() if band.size), default=0.0)
    scale = 255 / 65535 if peak > 255 else 255.0 if image.mode == "F" and peak <= 1 else 1.0
    grey = np.empty((image.height, image.width), np.uint8)
    for top, band in bands():
        grey[top:top + len(band)] = np.clip(np.round(band * scale), 0, 255)
    return Image.fromarray(grey, "L")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _without_opaque_alpha(image: Image.Image) -> Image.Image:
    """A workable image without its alpha channel when every pixel is opaque (a browser's canvas.toBlob):
    there alpha only costs time."""
    if image.mode == "RGBA":
        return opaque_as_rgb(image.tobytes(), image.size) or image
    if image.mode == "LA" and image.getchannel("A").getextrema()[0] == 255:
        return image.convert("RGB")
    return image


def as_rgb(image: Image.Image, background: float | None = None) -> tuple[np.ndarray, float | None]:
    """Float RGB in [0, 255], and the background that transparent pixels were put on.

    A canvas drawing is usually strokes on a transparent background: the background takes the shade
    that contrasts with the opaque pixels (so a pen of any colour survives), unless ``background`` says
    which shade to use (the second stage uses the first stage's choice).
    """
    if not _has_alpha(image):
        packed = image.tobytes("raw", "RGB") if image.mode in ("RGB", "RGBX") else image.convert("RGB").tobytes()
        return np.frombuffer(packed, np.uint8).reshape(image.height, image.width, 3).astype(np.float32), background
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    rgb, alpha = rgba[..., :3], rgba[..., 3:] / 255.0
    if background is None:
        opaque = alpha[..., 0] > 0.5
        if opaque.all():
            return rgb, None
        ink_level = rgb[opaque].mean() if opaque.any() else 0.0
        background = 255.0 if ink_level < 128 else 0.0
    return rgb * alpha + background * (1.0 - alpha), background


def _border(pixels: np.ndarray) -> np.ndarray:
    """The paper's colour: the median colour of a frame a 20th of the image wide."""
    width = max(1, min(pixels.shape[:2]) // 20)
    frame = np.concatenate([pixels[:width].reshape(-1, pixels.shape[2]), pixels[-width:].reshape(-1, pixels.shape[2]),
                            pixels[:, :width].reshape(-1, pixels.shape[2]),
                            pixels[:, -width:].reshape(-1, pixels.shape[2])])
    middle = len(frame) // 2
    return np.partition(frame, middle, axis=0)[middle]  # the median (the upper one of an even count)


def _median3(values: np.ndarray) -> np.ndarray:
    """A separable 3x3 median (along rows, then along columns; edges repeated): it removes speckle and
    JPEG noise as the full 3x3 median does, for a tenth of the cost."""

    def median_of_three(before: np.ndarray, middle: np.ndarray, after: np.ndarray) -> np.ndarray:
        return np.maximum(np.minimum(before, middle), np.minimum(np.maximum(before, middle), after))

    padded = np.pad(values, 1, mode="edge")
    rows = median_of_three(padded[:, :-2], padded[:, 1:-1], padded[:, 2:])
    return median_of_three(rows[:-2], rows[1:-1], rows[2:])


_CHANNEL_MEAN = np.full(3, 1 / 3, dtype=np.float32)


def paper_distance(rgb: np.ndarray, paper: np.ndarray, denoise: bool) -> np.ndarray:
    """Colour distance from the paper: either polarity and coloured pens on coloured paper alike.

    The paper is subtracted from whole rows (NumPy is slow to broadcast along a last axis of 3) and the
    channels averaged by one mat-vec over all pixels: fastest in NumPy."""
    height, width, _ = rgb.shape
    difference = rgb.reshape(height, width * 3) - np.tile(paper.astype(np.float32), width)
    np.square(difference, out=difference)
    distance = difference.reshape(height * width, 3) @ _CHANNEL_MEAN
    distance = np.sqrt(distance, out=distance).reshape(height, width)
    return _median3(distance) if denoise else distance


def ink_peak(distance: np.ndarray) -> float:
    """The 99.9th percentile of the distances, in whole grey levels: the ink's own strength, whatever its
    colour. Selected among the levels as bytes (the lowest level that 99.9% of the pixels do not exceed)."""
    levels = np.minimum(distance, 255).astype(np.uint8).ravel()
    rank = math.ceil(0.999 * levels.size) - 1
    return float(np.partition(levels, rank)[rank])


def ink_levels(distance: np.ndarray, peak: float) -> np.ndarray:
    """Ink in [0, 1], white on black, with a light threshold against paper texture and compression noise."""
    ink = distance / peak
    np.clip(ink, 0, 1, out=ink)
    ink[ink < 0.25] = 0
    return ink


@dataclass(frozen=True)
class FoundInk:
    """What the first stage learns of an image: its working copy's colour distance from the paper."""

    image: Image.Image  # the image itself, with an alpha channel that was fully opaque dropped
    reduction: int  # how many times smaller the working copy is
    paper: np.ndarray
    background: float | None  # what transparent pixels were put on, if any
    inverted: bool  # the paper was lighter than the ink
    denoise: bool
    distance: np.ndarray
    peak: float
    inked: np.ndarray  # distance at least a quarter of the peak: where the ink is


def find_ink(image: Image.Image, work_side: int, clean: bool = False) -> FoundInk:
    """Paper colour (from the border), polarity, colour distance and ink strength, on a copy at most
    ``work_side`` pixels a side; NoDigitFound when there is no ink (blank, flat, or sensor noise). With
    ``clean``, uneven light and printed lines are taken out first (paper.py: the number reader's large
    copy, where a printed line is still thinner than the pen)."""
    image = _without_opaque_alpha(_workable(image))
    reduction = max(1, math.ceil(max(image.size) / work_side))
    working = image.reduce(reduction) if reduction > 1 else image
    rgb, background = as_rgb(working)
    paper = _border(rgb)
    # A 3x3 median against speckle and JPEG noise, where reducing has not already averaged it away.
    denoise = min(image.size) >= DENOISE_MIN_SIDE
    distance = paper_distance(rgb, paper, denoise and reduction == 1)
    peak = ink_peak(distance)
    if clean:  # printed paper: its darkness against the paper around it, the printed lines taken out
        brightness = rgb @ _CHANNEL_MEAN
        if paper_is_lighter(brightness):
            distance = paper_darkness(_median3(brightness) if denoise and reduction == 1 else brightness)
            distance, _ = clean_paper(distance, ink_peak(distance))
            peak = ink_peak(distance)
    inked = distance >= 0.25 * peak
    if peak < 24 or np.count_nonzero(inked) < max(3, MIN_INK_FRACTION * distance.size):
        raise NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)")
    return FoundInk(image, reduction, paper, background, bool(paper.mean() > rgb.mean()), denoise, distance, peak,
                    inked)


@dataclass(frozen=True)
class InkMap:
    """The ink of a whole image, white on black in [0, 1], on a copy ``reduction`` times smaller."""

    ink: np.ndarray
    reduction: int
    inverted: bool
    source_size: tuple[int, int]
    decoded_width: int = 0  # the decoded image's width: less than the source's when a JPEG was drafted

    @property
    def to_source(self) -> float:
        """How many of the file's own pixels one pixel of ``ink`` spans: the reduction, times the draft
        scale of a JPEG decoded small (boxes are given in the file's pixels)."""
        draft = max(1, round(self.source_size[0] / self.decoded_width)) if self.decoded_width else 1  # 1, 2, 4, 8
        return float(self.reduction * draft)


def ink_map(image: Image.Image | np.ndarray, work_side: int, clean: bool = False) -> InkMap:
    """The ink of an image on a copy at most ``work_side`` pixels a side, found as ``image_to_mnist`` finds it
    (paper colour from the border, colour distance, strength, light threshold); NoDigitFound if none."""
    if isinstance(image, np.ndarray):
        prepared = as_image(np.asarray(image))
        image = Image.fromarray(prepared) if isinstance(prepared, np.ndarray) else prepared
    found = find_ink(image, work_side, clean=clean)
    return InkMap(ink_levels(found.distance, found.peak), found.reduction, found.inverted,
                  image.info.get("source_size", image.size), image.size[0])
