"""Real-world images -> MNIST-style 28x28 inputs.

MNIST digits are white on black, the digit's bounding box scaled to fit 20x20 with its aspect ratio
kept, placed in 28x28 so that its centre of mass is at the centre, drawn with a pen about a tenth of
the digit's height wide. Photos and canvas drawings are none of that: any size, off-centre, thick or
thin pen, dark ink on light paper or the reverse, colour, alpha, JPEG noise. ``to_mnist`` brings them
to the same form, step by step, so the model sees what it was trained on.

It works at the resolution the answer needs, since the answer is 20x20: a JPEG is decoded small
(draft mode), the ink is found on the image reduced to at most ``WORK_SIDE`` pixels, and the digit is
then cut from the best resolution at hand, at about ``DIGIT_SIDE`` pixels. A phone photo costs tens of
milliseconds, not seconds, and a canvas drawing about a millisecond.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
import pyspng
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
WORK_SIDE = 96  # the ink is found on the image reduced to at most this many pixels a side ...
DIGIT_SIDE = 40  # ... and the digit is cut from the best resolution at hand at about this size
DRAFT_SIDE = 2 * WORK_SIDE  # a JPEG is decoded at the smallest scale (1/2, 1/4, 1/8) still this large
DENOISE_MIN_SIDE = 56  # images smaller than this are not median-filtered (too little to lose)


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
    found: _FoundInk | None = field(default=None, repr=False, compare=False)  # stage 1, unless skipped

    def working_ink(self) -> np.ndarray | None:
        """The whole image's ink on the small working copy (None for an input that was already MNIST-like):
        enough to tell one digit from several without a second look at the image."""
        return None if self.found is None else _ink(self.found.distance, self.found.peak)


# ------------------------------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True)
class PlainPng:
    """A PNG that libspng decodes to exactly the pixels Pillow gives, faster: one still image of 8-bit grey,
    RGB or RGBA pixels, at most SPNG_MAX_PIXELS, every chunk's CRC right and none that could turn it. That
    is what a browser's canvas sends. Its header is read here from the bytes: Pillow's parser (Python)
    cost a twentieth of a canvas' whole reading."""

    data: bytes
    size: tuple[int, int]
    mode: str


Opened = Image.Image | PlainPng


def open_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS) -> Opened:
    """Bytes of an image file -> its header, read and checked (format, byte and pixel limits), pixels not
    decoded yet: a PlainPng, or else a Pillow image; or an ImageError saying why not."""
    if not data:
        raise ImageError("empty file: no image data", "empty")
    if len(data) > max_bytes:
        raise ImageError(f"image is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit", "too_large")
    image = plain_png(data)
    if image is None:
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
    return image


def decode_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Bytes of an image file -> a decoded, EXIF-oriented Pillow image, or an ImageError saying why not.

    A large JPEG is decoded at a reduced scale (its DCT draft mode), no smaller than ``DRAFT_SIDE``; its
    ``info["source_size"]`` keeps the size the file declares. Limits are checked on the declared size,
    before any pixel is decoded.
    """
    return load_image(open_image(data, max_bytes=max_bytes, max_pixels=max_pixels))


def load_image(image: Opened) -> Image.Image:
    """Decode an image that :func:`open_image` has checked: a plain PNG by libspng, a large JPEG in draft
    mode, anything else by Pillow; then EXIF-oriented."""
    if isinstance(image, PlainPng):
        return _load_png(image)
    width, height = image.size
    # The whole file in one decoder call: Pillow releases the GIL for each call, and on a busy server each
    # 64 KB block's return waited for the GIL (a phone photo took 121 ms beside a busy thread, not 12).
    image.decodermaxblock = max(image.decodermaxblock, MAX_IMAGE_BYTES)
    try:
        if image.format == "JPEG" and max(width, height) > 2 * DRAFT_SIDE:
            scale = DRAFT_SIDE / max(width, height)
            image.draft("RGB" if image.mode not in ("L", "RGB") else image.mode,
                        (math.ceil(width * scale), math.ceil(height * scale)))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    except Image.DecompressionBombError as error:
        raise ImageError(f"image is over the pixel limit ({error})", "too_large") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"truncated or corrupt image ({error})") from None
    image.info["source_size"] = (width, height)
    return image


SPNG_MAX_PIXELS = 1_000_000  # pyspng holds the GIL while it decodes (~2.5 ms a megapixel): larger PNGs go to
# Pillow, which releases it, so that a big upload never stalls the server's event loop
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_START = struct.pack(">I4s", 13, b"IHDR")  # the first chunk: the header, 13 bytes long
_SPNG_MODES = {0: "L", 2: "RGB", 6: "RGBA"}  # by PNG colour type; libspng 0.7 cannot give grey with alpha as pairs


def plain_png(data: bytes) -> PlainPng | None:
    """``data`` as a PlainPng when it is one (see there); any other file, None (Pillow reads it)."""
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[8:16] != _IHDR_START:
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    mode = _SPNG_MODES.get(colour)
    if mode is None or depth != 8 or compression or filtering or interlace \
            or not (width and height and width * height <= SPNG_MAX_PIXELS):
        return None  # palette, grey with alpha, 16-bit, low bit depth, interlaced, odd methods, large: Pillow
    return PlainPng(data, (width, height), mode) if _plain_chunks(data) else None


_MAX_CHUNKS_CHECKED = 1000  # a PNG of more chunks than this (a browser's has a handful) is left to Pillow
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_ORIENTING_KEYWORDS = (b"Raw profile type exif", b"XML:com.adobe.xmp")  # text chunks Pillow reads EXIF from


def _plain_chunks(png: bytes) -> bool:
    """Every chunk's CRC is right (libspng is told to ignore them; Pillow refuses a damaged file), none could
    turn the image (eXIf, or a text chunk holding EXIF or XMP), before or after the pixels, and none makes
    it an animation (acTL)."""
    position = 8  # past the signature
    for _ in range(_MAX_CHUNKS_CHECKED):
        if position + 12 > len(png):
            return False
        (length,) = struct.unpack_from(">I", png, position)
        end = position + 8 + length
        if end + 4 > len(png) or zlib.crc32(png[position + 4:end]) != struct.unpack_from(">I", png, end)[0]:
            return False
        kind = png[position + 4:position + 8]
        if kind in (b"eXIf", b"acTL") or (kind in _TEXT_CHUNKS
                                          and png[position + 8:end].partition(b"\0")[0] in _ORIENTING_KEYWORDS):
            return False
        if kind == b"IEND":
            return True
        position = end + 4
    return False


def _load_png(png: PlainPng) -> Image.Image:
    try:
        pixels = pyspng.load(png.data, png.mode)
    except RuntimeError as error:
        raise ImageError(f"truncated or corrupt image ({error})") from None
    decoded = _opaque_as_rgb(pixels, png.size) if png.mode == "RGBA" else None
    if decoded is None:
        decoded = Image.frombuffer(png.mode, png.size, pixels, "raw", png.mode, 0, 1)
    decoded.info["source_size"] = png.size
    return decoded


# ------------------------------------------------------------------------------------------------
# To ink: how far each pixel's colour is from the paper's


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
        pixels = np.nan_to_num(np.asarray(image, dtype=np.float32))
        peak = float(pixels.max()) if pixels.size else 0.0
        scale = 255 / 65535 if peak > 255 else 255.0 if image.mode == "F" and peak <= 1 else 1.0
        return Image.fromarray(np.clip(np.round(pixels * scale), 0, 255).astype(np.uint8), "L")
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise ImageError(f"unsupported colour mode {image.mode} ({error})", "unsupported_image") from None


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _without_opaque_alpha(image: Image.Image) -> Image.Image:
    """A workable image without its alpha channel when every pixel is opaque (a browser's canvas.toBlob):
    there alpha only costs time."""
    if image.mode == "RGBA":
        return _opaque_as_rgb(image.tobytes(), image.size) or image
    if image.mode == "LA" and image.getchannel("A").getextrema()[0] == 255:
        return image.convert("RGB")
    return image


def _opaque_as_rgb(rgba: bytes | np.ndarray, size: tuple[int, int]) -> Image.Image | None:
    """RGBA pixels as an image without alpha that shares them (Pillow's RGBX), if every pixel is opaque.
    They are checked as 32-bit words, alpha being the high byte: all opaque when the least is."""
    if np.frombuffer(rgba, "<u4").min() >= 0xFF000000:
        return Image.frombuffer("RGB", size, rgba, "raw", "RGBX", 0, 1)
    return None


def _as_rgb(image: Image.Image, background: float | None = None) -> tuple[np.ndarray, float | None]:
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


def _distance(rgb: np.ndarray, paper: np.ndarray, denoise: bool) -> np.ndarray:
    """Colour distance from the paper: either polarity and coloured pens on coloured paper alike.

    The paper is subtracted from whole rows (NumPy is slow to broadcast along a last axis of 3) and the
    channels averaged by one mat-vec over all pixels: fastest in NumPy."""
    height, width, _ = rgb.shape
    difference = rgb.reshape(height, width * 3) - np.tile(paper.astype(np.float32), width)
    np.square(difference, out=difference)
    distance = difference.reshape(height * width, 3) @ _CHANNEL_MEAN
    distance = np.sqrt(distance, out=distance).reshape(height, width)
    return _median3(distance) if denoise else distance


def _peak(distance: np.ndarray) -> float:
    """The 99.9th percentile of the distances, in whole grey levels: the ink's own strength, whatever its
    colour. Selected among the levels as bytes (the lowest level that 99.9% of the pixels do not exceed)."""
    levels = np.minimum(distance, 255).astype(np.uint8).ravel()
    rank = math.ceil(0.999 * levels.size) - 1
    return float(np.partition(levels, rank)[rank])


def _ink(distance: np.ndarray, peak: float) -> np.ndarray:
    """Ink in [0, 1], white on black, with a light threshold against paper texture and compression noise."""
    ink = distance / peak
    np.clip(ink, 0, 1, out=ink)
    ink[ink < 0.25] = 0
    return ink


# ------------------------------------------------------------------------------------------------
# To MNIST geometry


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


def _looks_like_mnist(gray: np.ndarray) -> bool:
    """Already a 28x28 white-on-black digit (pixels 0..255) inside the 20x20 box: leave it as it is.

    This is the hot path of the API (JSON pixels), so it uses the frame's mean, not a median, and works
    from the row and column sums alone (a row holds ink when its sum is above 0).
    """
    if gray.shape != (CANVAS, CANVAS):
        return False
    rows, columns = gray.sum(axis=1), gray.sum(axis=0)
    corners = gray[0, 0] + gray[0, -1] + gray[-1, 0] + gray[-1, -1]
    frame_total = rows[0] + rows[-1] + columns[0] + columns[-1] - corners
    if frame_total / (4 * CANVAS - 4) > 64:
        return False
    rows, columns = np.flatnonzero(rows), np.flatnonzero(columns)
    return len(rows) > 0 and rows[-1] - rows[0] < DIGIT_BOX + 4 and columns[-1] - columns[0] < DIGIT_BOX + 4


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


def mnist_ready(pixels: np.ndarray) -> np.ndarray | None:
    """The 28x28 uint8 input itself when ``pixels`` (0..255) already is an MNIST-style digit, else None:
    the cheap check that lets the API's hot path skip imaging."""
    if pixels.shape != (CANVAS, CANVAS) or not _looks_like_mnist(pixels):
        return None
    return np.round(pixels).astype(np.uint8)


def _as_image(array: np.ndarray) -> Image.Image | np.ndarray:
    """A 2-D or HxWx(1|3|4) array -> the 28x28 input itself if it already is MNIST-like, else a Pillow image."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ImageError(f"expected a 2-D grayscale or HxWx(1|3|4) image array, got shape {array.shape}")
    pixels = _as_0_255(array)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2 and _looks_like_mnist(pixels):
        return np.round(pixels).astype(np.uint8)
    return Image.fromarray(np.round(pixels).astype(np.uint8))


def to_mnist(image: Image.Image | np.ndarray) -> Prepared:
    """Any digit image (Pillow image or 2-D/3-D array) -> the 28x28 uint8 MNIST-style input.

    Two stages: the ink (paper colour, polarity, strength, bounding box) is found on the image reduced to
    at most ``WORK_SIDE`` pixels; then the digit's box is cut from the best resolution at hand, reduced
    to about ``DIGIT_SIDE`` pixels, and normalised the MNIST way. Raises NoDigitFound when there is no
    ink to classify.
    """
    if isinstance(image, np.ndarray):
        prepared = _as_image(np.asarray(image))
        if isinstance(prepared, np.ndarray):
            return Prepared(prepared, False, (CANVAS, CANVAS))
        image = prepared
    source_size = image.info.get("source_size", image.size)
    if image.mode in ("L", "1") and image.size == (CANVAS, CANVAS):
        gray = np.asarray(image.convert("L"), dtype=np.float32)
        if _looks_like_mnist(gray):
            return Prepared(gray.astype(np.uint8), False, source_size)

    # Stage 1: find the ink on a small working copy.
    found = _find_ink(image, WORK_SIDE)
    image, reduction, distance, peak = found.image, found.reduction, found.distance, found.peak
    row_span, column_span = _bounds(found.inked)
    top, bottom, left, right = row_span.start, row_span.stop, column_span.start, column_span.stop

    # Stage 2: the digit at about DIGIT_SIDE pixels, from the working copy when it is that large there,
    # else cut again from the best resolution at hand.
    side = max(bottom - top, right - left)
    if (reduction == 1 or side >= DIGIT_SIDE) and side < 2 * DIGIT_SIDE:
        ink = _ink(distance[top:bottom, left:right], peak)
    else:
        box = (max(0, (left - 1) * reduction), max(0, (top - 1) * reduction),
               min(image.width, (right + 1) * reduction), min(image.height, (bottom + 1) * reduction))
        region = image.crop(box)
        shrink = max(1, max(region.size) // DIGIT_SIDE)
        region = region.reduce(shrink) if shrink > 1 else region
        crop_rgb, _ = _as_rgb(region, found.background if found.background is not None else 255.0)
        crop_distance = _distance(crop_rgb, found.paper, found.denoise and shrink == 1)
        ink = _ink(crop_distance, max(_peak(crop_distance), 24.0))
        if not ink.any():
            raise NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)")
    return Prepared(digit_to_mnist(ink), found.inverted, source_size, found)


@dataclass(frozen=True)
class _FoundInk:
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


def _find_ink(image: Image.Image, work_side: int) -> _FoundInk:
    """Paper colour (from the border), polarity, colour distance and ink strength, on a copy at most
    ``work_side`` pixels a side; NoDigitFound when there is no ink (blank, flat, or sensor noise)."""
    image = _without_opaque_alpha(_workable(image))
    reduction = max(1, math.ceil(max(image.size) / work_side))
    working = image.reduce(reduction) if reduction > 1 else image
    rgb, background = _as_rgb(working)
    paper = _border(rgb)
    # A 3x3 median against speckle and JPEG noise, where reducing has not already averaged it away.
    denoise = min(image.size) >= DENOISE_MIN_SIDE
    distance = _distance(rgb, paper, denoise and reduction == 1)
    peak = _peak(distance)
    inked = distance >= 0.25 * peak
    if peak < 24 or np.count_nonzero(inked) < max(3, MIN_INK_FRACTION * distance.size):
        raise NoDigitFound("no digit found: the image has no ink (blank or nearly uniform)")
    return _FoundInk(image, reduction, paper, background, bool(paper.mean() > rgb.mean()), denoise, distance, peak,
                     inked)


@dataclass(frozen=True)
class InkMap:
    """The ink of a whole image, white on black in [0, 1], on a copy ``reduction`` times smaller."""

    ink: np.ndarray
    reduction: int
    inverted: bool
    source_size: tuple[int, int]


def ink_map(image: Image.Image | np.ndarray, work_side: int) -> InkMap:
    """The ink of an image on a copy at most ``work_side`` pixels a side, found as ``to_mnist`` finds it
    (paper colour from the border, colour distance, strength, light threshold); NoDigitFound if none."""
    if isinstance(image, np.ndarray):
        prepared = _as_image(np.asarray(image))
        image = Image.fromarray(prepared) if isinstance(prepared, np.ndarray) else prepared
    found = _find_ink(image, work_side)
    return InkMap(_ink(found.distance, found.peak), found.reduction, found.inverted,
                  image.info.get("source_size", image.size))


def digit_to_mnist(ink: np.ndarray, thickness: float | None = None, target: float | None = None) -> np.ndarray:
    """One digit's ink (white on black, [0, 1]) -> the 28x28 uint8 input, with an optional shared pen width."""
    return np.clip(np.round(_fit_and_centre(ink, thickness, target)), 0, 255).astype(np.uint8)


def load_image_file(data: bytes) -> Prepared:
    """Bytes of an image file straight to the 28x28 input (decode safely, then ``to_mnist``)."""
    return to_mnist(decode_image(data))


def naive_mnist(image: Image.Image) -> np.ndarray:
    """The baseline the benchmark compares against: convert to L and resize to 28x28, nothing else."""
    return np.asarray(image.convert("L").resize((CANVAS, CANVAS)), dtype=np.uint8)
