"""Real-world images -> MNIST-style 28x28 inputs.

MNIST digits are white on black, the digit's bounding box scaled to fit 20x20 with its aspect ratio
kept, placed in 28x28 so that its centre of mass is at the centre, drawn with a pen about a tenth of
the digit's height wide. Photos and canvas drawings are none of that: any size, off-centre, thick or
thin pen, dark ink on light paper or the reverse, colour, alpha, JPEG noise. ``to_mnist`` brings them
to the same form, step by step, so the model sees what it was trained on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from digitlab.errors import DigitlabError

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 25_000_000  # decompression-bomb guard: checked from the header, before decoding
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM")

DIGIT_BOX = 20  # MNIST fits each digit's bounding box in 20x20 ...
CANVAS = 28  # ... and centres its centre of mass in 28x28
STROKE_FRACTION = 0.12  # MNIST pen width relative to the digit's larger side (about 2.4 px of 20)
MIN_INK_FRACTION = 0.0005  # less ink than this (relative to the image) is "no digit"


class ImageError(DigitlabError, ValueError):
    """An upload that cannot be turned into a digit: empty, not an image, truncated, too large...

    ``code`` names the kind of problem (empty, too_large, unsupported_image, bad_image, no_digit) so that
    callers such as the REST API can answer it without parsing the message.
    """

    code = "bad_image"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class NoDigitFound(ImageError):
    """The image decoded fine but holds no ink: a blank canvas is not a guess."""

    code = "no_digit"


@dataclass(frozen=True)
class Prepared:
    """The 28x28 uint8 image the model sees, and what was done to get it."""

    image: np.ndarray
    inverted: bool
    source_size: tuple[int, int]


# ------------------------------------------------------------------------------------------------
# Decoding


def decode_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Bytes of an image file -> a decoded, EXIF-oriented Pillow image, or an ImageError saying why not."""
    if not data:
        raise ImageError("empty file: no image data", "empty")
    if len(data) > max_bytes:
        raise ImageError(f"image is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit", "too_large")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not an image, or an unsupported image format", "unsupported_image") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"image is over the pixel limit ({error})", "too_large") from None
    except (OSError, ValueError) as error:
        raise ImageError(f"cannot read the image ({error})") from None
    if image.format not in ALLOWED_FORMATS:
        raise ImageError(f"unsupported image format {image.format}; use one of {', '.join(ALLOWED_FORMATS)}",
                         "unsupported_image")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"image is {width}x{height} pixels, over the {max_pixels:,}-pixel limit", "too_large")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as error:
        raise ImageError(f"image is over the pixel limit ({error})", "too_large") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"truncated or corrupt image ({error})") from None
    return image


# ------------------------------------------------------------------------------------------------
# To grayscale ink


def _flatten_to_rgb(image: Image.Image) -> np.ndarray:
    """Float RGB in [0, 255]; transparent pixels take the colour that contrasts with the opaque ones."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return np.asarray(image.convert("RGB"), dtype=np.float32)
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    rgb, alpha = rgba[..., :3], rgba[..., 3:] / 255.0
    opaque = alpha[..., 0] > 0.5
    if opaque.all():
        return rgb
    # A canvas drawing is usually strokes on a transparent background: put a background behind the
    # strokes in the shade that contrasts with them, so a pen of any colour survives.
    ink_level = rgb[opaque].mean() if opaque.any() else 0.0
    background = 255.0 if ink_level < 128 else 0.0
    return rgb * alpha + background * (1.0 - alpha)


def _border(pixels: np.ndarray) -> np.ndarray:
    width = max(1, min(pixels.shape[:2]) // 20)
    frame = np.concatenate([pixels[:width].reshape(-1, pixels.shape[2]), pixels[-width:].reshape(-1, pixels.shape[2]),
                            pixels[:, :width].reshape(-1, pixels.shape[2]),
                            pixels[:, -width:].reshape(-1, pixels.shape[2])])
    return np.median(frame, axis=0)


def _ink(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """Ink in [0, 1], white on black: how far each pixel's colour is from the paper's (the border's).

    Colour distance rather than brightness handles either polarity and coloured pens on coloured paper
    alike; ``inverted`` says whether the paper was lighter than the ink (dark-on-light).
    """
    paper = _border(rgb)
    ink = np.sqrt(((rgb - paper) ** 2).mean(axis=2))
    if min(ink.shape) >= 56:
        ink = ndimage.median_filter(ink, size=3)  # speckle and JPEG noise on photos; not on small images
    peak = np.percentile(ink, 99.9)
    inverted = bool(paper.mean() > rgb.mean())
    if peak < 24:  # no contrast worth calling ink (a blank page, a flat colour, sensor noise)
        return np.zeros_like(ink), inverted
    ink = np.clip(ink / peak, 0, 1)
    ink[ink < 0.25] = 0  # a light threshold: paper texture and compression noise
    return ink, inverted


# ------------------------------------------------------------------------------------------------
# To MNIST geometry


def _normalise_stroke(ink: np.ndarray) -> np.ndarray:
    """Thicken a thin pen or thin a marker so the stroke is about as wide, relative to the digit, as MNIST's."""
    mask = ink > 0.5
    if mask.sum() < 4:
        return ink
    side = max(ink.shape)
    target = STROKE_FRACTION * side
    thickness = 2.0 * float(np.percentile(ndimage.distance_transform_edt(mask)[mask], 90))
    if thickness < 0.6 * target:
        radius = max(1, int(round((target - thickness) / 2)))
        return ndimage.grey_dilation(ink, footprint=_disk(radius))
    if thickness > 1.8 * target:
        radius = max(1, int(round((thickness - target) / 2)))
        thinned = ndimage.grey_erosion(ink, footprint=_disk(radius))
        return thinned if (thinned > 0.5).sum() > 0.2 * mask.sum() else ink
    return ink


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def _fit_and_centre(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink, scale its box to fit 20x20, pad to 28x28, shift the centre of mass to the centre."""
    rows, columns = np.nonzero(ink)
    crop = ink[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    crop = _normalise_stroke(np.pad(crop, 1))
    rows, columns = np.nonzero(crop > 0)
    crop = crop[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray((crop * 255).astype(np.uint8)).resize(new_size, Image.Resampling.LANCZOS)
    digit = np.asarray(resized, dtype=np.float32)
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    top, left = (CANVAS - digit.shape[0]) // 2, (CANVAS - digit.shape[1]) // 2
    canvas[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return _centre_of_mass_shift(canvas)


def _centre_of_mass_shift(canvas: np.ndarray) -> np.ndarray:
    if canvas.sum() <= 0:
        return canvas
    centre_row, centre_column = ndimage.center_of_mass(canvas)
    shift = (round((CANVAS - 1) / 2 - centre_row), round((CANVAS - 1) / 2 - centre_column))
    return ndimage.shift(canvas, shift, order=0, mode="constant", cval=0.0)


def _looks_like_mnist(gray: np.ndarray) -> bool:
    """Already a 28x28 white-on-black digit inside the 20x20 box: leave it as it is.

    This is the hot path of the API (JSON pixels), so it uses the frame's mean, not a median.
    """
    if gray.shape != (CANVAS, CANVAS):
        return False
    frame_total = gray[0].sum() + gray[-1].sum() + gray[1:-1, 0].sum() + gray[1:-1, -1].sum()
    if frame_total / (4 * CANVAS - 4) > 64:
        return False
    rows, columns = np.nonzero(gray > 0)
    return len(rows) > 0 and np.ptp(rows) < DIGIT_BOX + 4 and np.ptp(columns) < DIGIT_BOX + 4


def _as_0_255(array: np.ndarray) -> np.ndarray:
    """Pixels as float32 on the 0..255 scale. Float images whose values all lie in [0, 1] (the usual
    float convention, grayscale or colour alike) are scaled up; anything else is taken as it is."""
    pixels = array.astype(np.float32)
    if array.dtype.kind == "f" and pixels.size and np.isfinite(pixels).all() and pixels.min() >= 0 \
            and pixels.max() <= 1.0:
        pixels *= 255.0
    if pixels.size == 0 or not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255:
        raise ImageError("pixel values must be finite numbers in 0..255 (or 0..1 for float images)")
    return pixels


def to_mnist(image: Image.Image | np.ndarray) -> Prepared:
    """Any digit image (Pillow image or 2-D/3-D array) -> the 28x28 uint8 MNIST-style input.

    Raises NoDigitFound when there is no ink to classify.
    """
    if isinstance(image, np.ndarray):
        array = np.asarray(image)
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise ImageError(f"expected a 2-D grayscale or HxWx(1|3|4) image array, got shape {array.shape}")
        array = _as_0_255(array)
        if array.ndim == 3:
            image = Image.fromarray(np.round(array).astype(np.uint8) if array.shape[2] != 1
                                    else np.round(array[:, :, 0]).astype(np.uint8))
        else:
            gray, image = array, None
    if image is not None:
        rgb = _flatten_to_rgb(image)
        gray = rgb[..., 0] if image.mode in ("L", "LA", "1") else None
    else:
        rgb = np.repeat(gray[..., None], 3, axis=2)
    source_size = (rgb.shape[1], rgb.shape[0])
    if gray is not None and _looks_like_mnist(gray):
        return Prepared(np.round(gray).astype(np.uint8), False, source_size)
    ink, inverted = _ink(rgb)
    if (ink > 0).sum() < max(3, MIN_INK_FRACTION * ink.size):
        raise NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)")
    canvas = _fit_and_centre(ink)
    return Prepared(np.clip(np.round(canvas), 0, 255).astype(np.uint8), inverted, source_size)


def load_image_file(data: bytes) -> Prepared:
    """Bytes of an image file straight to the 28x28 input (decode safely, then ``to_mnist``)."""
    return to_mnist(decode_image(data))


def naive_mnist(image: Image.Image) -> np.ndarray:
    """The baseline the benchmark compares against: convert to L and resize to 28x28, nothing else."""
    return np.asarray(image.convert("L").resize((CANVAS, CANVAS)), dtype=np.uint8)
