"""Bytes -> an image: the first step of imaging (see ``__init__.py``). The file's header is read and
checked (format, byte and pixel limits) before any pixel is decoded; a browser's plain PNG is decoded by
libspng, a large JPEG at a reduced scale, anything else by Pillow, then EXIF-oriented. A pixel array given
instead of a file (the API's JSON, the Python API) becomes an image here too, or stays as it is when it
already is an MNIST-style 28x28 digit.

    read_header(bytes) -> Opened        the header, checked; no pixel decoded yet
    decode_opened(Opened) -> Image      the pixels
    bytes_to_image(bytes) -> Image      both
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pyspng
from PIL import Image, ImageOps, UnidentifiedImageError

from digitlab.errors import DigitlabError

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 25_000_000  # decompression-bomb guard: checked from the header, before decoding
ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "WEBP", "TIFF", "PPM")  # MPO: phone JPEGs with a preview

DIGIT_BOX = 20  # MNIST fits each digit's bounding box in 20x20 ...
CANVAS = 28  # ... and centres its centre of mass in 28x28
WORK_SIDE = 96  # the ink is found on the image reduced to at most this many pixels a side (ink.py)
DRAFT_SIDE = 2 * WORK_SIDE  # a JPEG is decoded at the smallest scale (1/2, 1/4, 1/8) still this large


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


def read_header(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS) -> Opened:
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


def bytes_to_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS,
                   draft_side: int = DRAFT_SIDE) -> Image.Image:
    """Bytes of an image file -> a decoded, EXIF-oriented Pillow image, or an ImageError saying why not.

    A large JPEG is decoded at a reduced scale (its DCT draft mode), no smaller than ``draft_side``; its
    ``info["source_size"]`` keeps the size the file declares. Limits are checked on the declared size,
    before any pixel is decoded.
    """
    return decode_opened(read_header(data, max_bytes=max_bytes, max_pixels=max_pixels), draft_side)


def decode_opened(image: Opened, draft_side: int = DRAFT_SIDE) -> Image.Image:
    """Decode an image that :func:`read_header` has checked: a plain PNG by libspng, a JPEG over twice
    ``draft_side`` in draft mode, anything else by Pillow; then EXIF-oriented."""
    if isinstance(image, PlainPng):
        return _load_png(image)
    width, height = image.size
    # The whole file in one decoder call: Pillow releases the GIL for each call, and on a busy server each
    # 64 KB block's return waited for the GIL (a phone photo took 121 ms beside a busy thread, not 12).
    image.decodermaxblock = max(image.decodermaxblock, MAX_IMAGE_BYTES)
    try:
        if image.format in ("JPEG", "MPO") and max(width, height) > 2 * draft_side:
            scale = draft_side / max(width, height)
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


def declared_pixels(data: bytes) -> int | None:
    """Width times height as the file's header declares it, read cheaply: PNG and GIF from their fixed
    offsets, JPEG as unknown (it is decoded at a reduced scale anyway), anything else by Pillow's header
    parser. None when it cannot be told. What the server sends large images to its slower lane by: a small
    file can declare tens of megapixels."""
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24:
        width, height = struct.unpack_from(">II", data, 16)
        return width * height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack_from("<HH", data, 6)
        return width * height
    if data[:2] == b"\xff\xd8":
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size[0] * image.size[1]
    except Exception:  # not an image, or one Pillow refuses: decoding says why, later
        return None


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
    decoded = opaque_as_rgb(pixels, png.size) if png.mode == "RGBA" else None
    if decoded is None:
        decoded = Image.frombuffer(png.mode, png.size, pixels, "raw", png.mode, 0, 1)
    decoded.info["source_size"] = png.size
    return decoded


def opaque_as_rgb(rgba: bytes | np.ndarray, size: tuple[int, int]) -> Image.Image | None:
    """RGBA pixels as an image without alpha that shares them (Pillow's RGBX), if every pixel is opaque.
    They are checked as 32-bit words, alpha being the high byte: all opaque when the least is."""
    if np.frombuffer(rgba, "<u4").min() >= 0xFF000000:
        return Image.frombuffer("RGB", size, rgba, "raw", "RGBX", 0, 1)
    return None


# ------------------------------------------------------------------------------------------------
# Pixel arrays


def looks_like_mnist(gray: np.ndarray) -> bool:
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
    if pixels.shape != (CANVAS, CANVAS) or not looks_like_mnist(pixels):
        return None
    return np.round(pixels).astype(np.uint8)


def as_image(array: np.ndarray) -> Image.Image | np.ndarray:
    """A 2-D or HxWx(1|3|4) array -> the 28x28 input itself if it already is MNIST-like, else a Pillow image."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ImageError(f"expected a 2-D grayscale or HxWx(1|3|4) image array, got shape {array.shape}")
    pixels = _as_0_255(array)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2 and looks_like_mnist(pixels):
        return np.round(pixels).astype(np.uint8)
    return Image.fromarray(np.round(pixels).astype(np.uint8))
