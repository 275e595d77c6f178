"""Real-world images -> MNIST inputs: geometry, polarity, alpha, safety limits, and fuzzing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

from digitlab.reading.imaging import (
    ImageError,
    NoDigitFound,
    bytes_to_image,
    bytes_to_mnist,
    image_to_mnist,
    naive_mnist,
)


def png_bytes(image: Image.Image, format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def drawn_seven(size=(300, 220), ink=(20, 20, 20), paper=(245, 240, 230), width=14, offset=(40, 30)) -> Image.Image:
    """A '7' drawn off-centre on a larger, coloured page, as a photo or canvas would hold it."""
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    x, y = offset
    draw.line([(x, y), (x + 90, y)], fill=ink, width=width)
    draw.line([(x + 90, y), (x + 35, y + 150)], fill=ink, width=width)
    return image


def test_mnist_arrays_pass_through_unchanged():
    from conftest import make_learnable_arrays

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a '1' inside the 20x20 box, white on black
    assert np.array_equal(image_to_mnist(digit).image, digit)
    images = make_learnable_arrays(train=10, test=10)["train_images"]
    images[:, :4, :] = 0  # keep the noise off the border so they count as white-on-black MNIST-like
    for image in images:
        assert image_to_mnist(image).image.shape == (28, 28)


def test_off_centre_drawing_becomes_an_mnist_style_digit():
    prepared = bytes_to_mnist(png_bytes(drawn_seven()))
    image = prepared.image
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert prepared.inverted  # dark ink on light paper was inverted to white on black
    rows, columns = np.nonzero(image > 30)
    assert rows.max() - rows.min() <= 20 and columns.max() - columns.min() <= 20  # fits the 20x20 box
    weights = image.astype(float)
    centre = (np.sum(weights * np.arange(28)[:, None]) / weights.sum(), np.sum(weights * np.arange(28)) / weights.sum())
    assert abs(centre[0] - 13.5) <= 1 and abs(centre[1] - 13.5) <= 1  # centre of mass in the middle
    assert image[0].max() == 0 and image[:, 0].max() == 0  # black border


def test_both_polarities_and_colours_give_the_same_input():
    dark_on_light = bytes_to_mnist(png_bytes(drawn_seven())).image.astype(int)
    light_on_dark = bytes_to_mnist(png_bytes(drawn_seven(ink=(250, 250, 250), paper=(10, 30, 20)))).image.astype(int)
    red_on_blue = bytes_to_mnist(png_bytes(drawn_seven(ink=(200, 30, 30), paper=(40, 60, 200)))).image.astype(int)
    assert np.abs(dark_on_light - light_on_dark).mean() < 12
    assert np.abs(dark_on_light - red_on_blue).mean() < 12


def test_strokes_on_a_transparent_canvas():
    for ink in ((0, 0, 0, 255), (255, 255, 255, 255)):
        canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).line([(140, 40), (140, 240)], fill=ink, width=18)
        image = bytes_to_mnist(png_bytes(canvas)).image
        assert image.max() > 200 and image[:, :8].max() == 0


def test_thin_pen_is_thickened_like_mnist():
    thin = drawn_seven(size=(600, 600), width=2, offset=(200, 200))
    image = bytes_to_mnist(png_bytes(thin)).image
    assert (image > 128).sum() >= 25  # a 2 px pen on 600 px would vanish if only resized


def test_exif_orientation_is_applied():
    image = Image.new("L", (40, 20), 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    decoded = bytes_to_image(png_bytes(image, "JPEG", exif=exif.tobytes()))
    assert decoded.size == (20, 40)


@pytest.mark.parametrize("blank", [Image.new("RGB", (200, 200), "white"), Image.new("RGBA", (280, 280), (0, 0, 0, 0)),
                                   Image.new("L", (28, 28), 0)])
def test_no_ink_says_no_digit_found(blank):
    with pytest.raises(NoDigitFound, match="no digit found"):
        bytes_to_mnist(png_bytes(blank))


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (b"", {}, "empty file"),
        (b"hello, this is not an image", {}, "not an image"),
        (png_bytes(drawn_seven())[:300], {}, "truncated or corrupt"),
        (png_bytes(drawn_seven()), {"max_bytes": 100}, "over the 0.0 MB limit"),
        (png_bytes(Image.new("L", (6000, 5000))), {}, "over the 25,000,000-pixel limit"),
        (png_bytes(Image.new("RGB", (32, 32)), "ICO"), {}, "unsupported image format ICO"),
    ],
)
def test_bad_files_get_a_clear_error(data, options, message):
    with pytest.raises(ImageError, match=message):
        bytes_to_image(data, **options)


def test_naive_baseline_is_only_a_resize():
    """The benchmark's baseline keeps the page's polarity and position: dark ink stays dark on light paper,
    exactly what Pillow's grayscale resize gives, and unlike image_to_mnist's white-on-black, centred digit."""
    seven = drawn_seven()
    naive = naive_mnist(seven)
    expected = np.asarray(seven.convert("L").resize((28, 28)), dtype=np.uint8)
    np.testing.assert_array_equal(naive, expected)
    assert naive[0, 0] > 200 and naive[27, 27] > 200  # the paper stays light
    prepared = image_to_mnist(seven).image
    assert prepared[0, 0] == 0 and prepared[27, 27] == 0  # image_to_mnist makes the background black
    assert not np.array_equal(naive, prepared)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_float_images_in_0_1_are_scaled_like_uint8(channels):
    """A float image in [0, 1] (grayscale, RGB or RGBA) means the same as the uint8 image x*255."""
    pixels = np.asarray(drawn_seven().convert("RGBA" if channels == 4 else "RGB" if channels == 3 else "L"))
    as_uint8 = pixels if channels > 1 else pixels[..., None]
    as_float = as_uint8.astype(np.float32) / 255.0
    expected = image_to_mnist(as_uint8).image
    np.testing.assert_array_equal(image_to_mnist(as_float).image, expected)
    assert expected.max() == 255  # a digit was found, not a black image


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_decoder(data):
    try:
        bytes_to_mnist(data)
    except ImageError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=80),
                  elements=st.floats(0, 255)))
def test_random_arrays_give_a_digit_or_no_digit(array):
    try:
        prepared = image_to_mnist(array)
    except NoDigitFound:
        return
    assert prepared.image.shape == (28, 28) and prepared.image.dtype == np.uint8


@given(st.one_of(st.just(np.full((5, 5), np.nan)), st.just(np.full((28, 28), -3.0)), st.just(np.zeros((2, 3, 7)))))
def test_invalid_arrays_are_refused(array):
    with pytest.raises(ImageError):
        image_to_mnist(array)


def test_a_large_photo_is_decoded_small_and_read_like_a_small_one():
    """A 12-megapixel JPEG is decoded in draft mode (a fraction of its pixels) and gives about the same
    28x28 as the same page photographed small: working at the resolution the answer needs changes nothing."""
    small = drawn_seven()
    big = small.resize((small.width * 14, small.height * 14), Image.Resampling.BICUBIC)  # 4200 x 3080
    decoded = bytes_to_image(png_bytes(big, "JPEG", quality=90))
    assert decoded.info["source_size"] == big.size
    assert max(decoded.size) <= big.width // 4  # decoded at 1/4 scale or less
    from_big, from_small = image_to_mnist(decoded), image_to_mnist(small)
    assert from_big.source_size == big.size and from_big.inverted
    difference = np.abs(from_big.image.astype(float) - from_small.image.astype(float))
    assert difference.mean() < 12, difference.mean()  # grey levels out of 255


def test_a_large_blank_photo_has_no_digit():
    page = Image.new("RGB", (3000, 2000), (240, 236, 228))
    with pytest.raises(NoDigitFound):
        image_to_mnist(bytes_to_image(png_bytes(page, "JPEG", quality=85)))


def test_an_opaque_rgba_canvas_reads_like_its_rgb_copy():
    seven = drawn_seven(size=(280, 280), ink=(0, 0, 0), paper=(255, 255, 255), width=18)
    np.testing.assert_array_equal(image_to_mnist(seven.convert("RGBA")).image, image_to_mnist(seven).image)


@pytest.mark.parametrize("mode", ["P", "1", "I;16", "I", "F", "CMYK", "PA"])
def test_every_colour_mode_reads_like_rgb(mode):
    """Palette images (every GIF, optimised PNGs), 1-bit scans and 16-bit greys larger than the working
    size are read as their RGB look, not refused or crashed on (Pillow cannot reduce P, 1 or I;16), and a
    16-bit grey is scaled to 8 bits, not clipped to white."""
    seven = drawn_seven(size=(280, 280), ink=(0, 0, 0), paper=(255, 255, 255), width=18)
    expected = image_to_mnist(seven).image.astype(int)
    if mode in ("I;16", "I", "F"):
        grey = np.asarray(seven.convert("L"), dtype=np.float32)
        scale = {"I;16": 257.0, "I": 257.0, "F": 1 / 255}[mode]
        dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
        image = Image.fromarray((grey * scale).astype(dtype))
    else:
        image = seven.convert("P", palette=Image.Palette.ADAPTIVE).convert(mode) if mode == "PA" \
            else seven.convert(mode)
    assert image.mode == mode
    assert np.abs(image_to_mnist(image).image.astype(int) - expected).mean() < 4


def test_a_gif_upload_is_read():
    seven = drawn_seven(size=(280, 280), ink=(0, 0, 0), paper=(255, 255, 255), width=18)
    gif = bytes_to_image(png_bytes(seven, "GIF"))
    assert gif.mode == "P"
    assert np.abs(image_to_mnist(gif).image.astype(int) - image_to_mnist(seven).image).mean() < 4


def _pillow_decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "opaque RGBA", "LA", "P", "I;16"])
def test_a_png_decodes_to_the_pixels_pillow_gives(mode):
    """8-bit L, RGB and RGBA PNGs are decoded by libspng (faster), the rest by Pillow: the pixels are the
    same either way, and an opaque RGBA canvas comes back without its alpha channel."""
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    if mode == "opaque RGBA":
        colour[..., 3] = 255
    image = Image.fromarray(colour, "RGBA").convert(mode.split()[-1])
    data = png_bytes(image, compress_level=9)
    decoded, expected = bytes_to_image(data), np.asarray(_pillow_decoded(data))
    if mode == "opaque RGBA":
        assert decoded.mode == "RGBX"
        np.testing.assert_array_equal(np.asarray(decoded.convert("RGB")), expected[..., :3])
    else:
        assert decoded.mode == _pillow_decoded(data).mode
        np.testing.assert_array_equal(np.asarray(decoded), expected)
    assert decoded.info["source_size"] == (53, 37)


def test_a_damaged_or_rotated_png_is_handled_as_pillow_handles_it():
    """libspng ignores chunk CRCs: a PNG with any one damaged byte is refused or read exactly as Pillow
    refuses or reads it, not read as noise; and a PNG that carries an EXIF orientation is turned upright."""
    drawing = png_bytes(drawn_seven(size=(120, 90)).convert("RGB"))
    refused = 0
    for position in range(8, len(drawing)):
        damaged = bytearray(drawing)
        damaged[position] ^= 0xFF
        try:
            expected = np.asarray(_pillow_decoded(bytes(damaged)))
        except (OSError, ValueError, SyntaxError):
            expected = None
        try:
            decoded = np.asarray(bytes_to_image(bytes(damaged)))
        except ImageError:
            decoded = None
        assert (decoded is None) == (expected is None), position
        if expected is not None:
            np.testing.assert_array_equal(decoded, expected)
        refused += expected is None
    assert refused > 0
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to view
    assert bytes_to_image(png_bytes(drawn_seven(size=(120, 90)), exif=exif.tobytes())).size == (90, 120)


def test_a_large_png_is_left_to_pillow_which_lets_other_threads_run():
    """pyspng keeps the GIL for the whole decode; a PNG over SPNG_MAX_PIXELS would stall the server's event
    loop for milliseconds, so Pillow (which releases the GIL) decodes it."""
    from digitlab.reading.imaging.decode import SPNG_MAX_PIXELS, PlainPng, read_header

    side = int(SPNG_MAX_PIXELS**0.5)
    small, large = (png_bytes(Image.new("RGB", (width, side), "white")) for width in (side, side + 2))
    assert isinstance(read_header(small), PlainPng) and not isinstance(read_header(large), PlainPng)
    assert bytes_to_image(large).size == (side + 2, side)


def test_a_photo_is_decoded_in_one_call_that_lets_other_threads_run():
    """Pillow releases the GIL inside each decoder call and waits for it again after each; block by block
    (64 KB) a phone photo waited on a busy server's other threads twenty times. It is decoded in one call."""
    import sys

    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8))
    data = png_bytes(noisy, "JPEG", quality=95)
    assert len(data) > 8 * 65536
    calls = []

    def count_decoder_calls(frame, event, function):
        if event == "c_call" and getattr(function, "__name__", "") == "decode":
            calls.append(function)

    sys.setprofile(count_decoder_calls)
    try:
        decoded = bytes_to_image(data)
    finally:
        sys.setprofile(None)
    assert decoded.info["source_size"] == (1200, 900) and len(calls) == 1


def test_a_png_of_very_many_chunks_is_left_to_pillow():
    """Checking CRCs costs a Python step per chunk: a file made of thousands of chunks is not worth it."""
    from PIL import PngImagePlugin

    from digitlab.reading.imaging.decode import PlainPng, read_header

    info = PngImagePlugin.PngInfo()
    for index in range(1200):
        info.add_text(f"k{index}", "v")
    data = png_bytes(drawn_seven(size=(60, 40)), pnginfo=info)
    assert not isinstance(read_header(data), PlainPng) and bytes_to_image(data).size == (60, 40)
    assert isinstance(read_header(png_bytes(drawn_seven(size=(60, 40)))), PlainPng)


def test_an_animated_png_is_left_to_pillow():
    """An APNG's chunks are all intact and its frames 8-bit RGB, yet it is not a plain PNG: Pillow reads it
    (its first frame), as it reads every PNG that libspng is not known to read the same."""
    from digitlab.reading.imaging.decode import PlainPng, read_header

    frames = [drawn_seven(size=(60, 40)).convert("RGB"), Image.new("RGB", (60, 40), "white")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    data = buffer.getvalue()
    assert b"acTL" in data and not isinstance(read_header(data), PlainPng)
    np.testing.assert_array_equal(np.asarray(bytes_to_image(data)), np.asarray(frames[0]))
