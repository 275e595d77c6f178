"""Numbers on printed paper, signs and decimal points, the writers' augmentation and the recipes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import run_cli
from digitlab.reading.imaging import ink_map
from digitlab.reading.imaging.paper import clean_paper, paper_darkness
from digitlab.reading.numbers import Reader, Signs, number_marks
from digitlab.reading.pages import PAPERS, page_numbers
from digitlab.reading.synthetic import compose, render
from digitlab.training.augment import augment_images
from digitlab.training.recipes import RECIPES, get_recipe
from digitlab.training.settings import settings_for, train_command


def ruled_page(with_stroke: bool) -> np.ndarray:
    """A colour distance map: three ruled lines 2 px thick across 400 px, and (maybe) a pen stroke 12 px
    wide crossing the middle one from top to bottom."""
    distance = np.zeros((300, 400), np.float32)
    for row in (60, 150, 240):
        distance[row:row + 2] = 120.0
    if with_stroke:
        distance[90:210, 190:202] = 200.0
    return distance


def test_printed_lines_go_and_the_stroke_that_crosses_them_stays():
    cleaned, changed = clean_paper(ruled_page(with_stroke=True), 200.0)
    assert changed
    assert cleaned[60:62].max() == 0 and cleaned[240:242].max() == 0  # the rules away from the writing
    assert cleaned[150:152, :150].max() == 0 and cleaned[150:152, 250:].max() == 0
    assert (cleaned[90:210, 190:202] > 0).all()  # the stroke, where it crosses the rule too


def test_paper_without_lines_or_shadows_is_left_as_it_is():
    distance = np.zeros((200, 300), np.float32)
    distance[50:150, 100:112] = 200.0  # one stroke
    distance[50:62, 100:180] = 200.0  # a 7's bar: straight, but a pen's width thick and short
    cleaned, changed = clean_paper(distance, 200.0)
    assert not changed and cleaned is distance


def test_a_shadow_is_paper_and_the_writing_in_it_is_as_dark_as_elsewhere():
    brightness = np.full((256, 256), 240.0, np.float32)
    brightness[80:180, 60:72] = 30.0  # a stroke in the light
    brightness[80:180, 190:202] = 30.0  # ... and one in the shadow
    brightness[:, 128:] *= 0.55  # the right half in a hand's shadow
    darkness = paper_darkness(brightness)
    assert np.median(darkness[:, 140:180]) < 10 and np.median(darkness[:, 20:50]) < 10  # paper, either side
    lit, shaded = darkness[100:160, 62:70].mean(), darkness[100:160, 192:200].mean()
    assert lit > 200 and abs(shaded - lit) < 15  # the stroke in the shadow as dark against its paper


def test_empty_lined_paper_has_no_ink_left():
    image = Image.new("RGB", (600, 400), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    for y in range(40, 400, 50):
        draw.line([(0, y), (600, y)], fill=(150, 170, 210), width=2)
    from digitlab.reading.imaging import NoDigitFound

    with pytest.raises(NoDigitFound):
        ink_map(image, 512, clean=True)


def test_page_numbers_cover_every_paper_and_signs(mnist):
    numbers = page_numbers(mnist.x_test, mnist.y_test, 16, seed=3)
    assert {number.paper for number in numbers} == set(PAPERS)
    signed = [number for number in numbers if number.signed]
    assert signed and all(any(sign in number.truth for sign in "-.") for number in signed)
    assert all(Image.open(io.BytesIO(number.data)).format == "JPEG" for number in numbers)


def test_signs_are_written_into_the_number():
    assert Signs(minus=True, point=2).write("125") == "-12.5"
    assert Signs(point=1, separator=",").write("35") == "3,5"
    assert Signs().write("7") == "7"


def test_a_minus_and_a_decimal_point_are_found_by_shape_and_place(mnist):
    rng = np.random.default_rng(7)
    found = []
    for index in range(12):
        digits = mnist.x_test[3 * index:3 * index + 3]
        written = compose(digits, "normal", "scan", rng, text="-12.5")
        found.append(number_marks(ink_map(Image.open(io.BytesIO(render(written.ink, "scan", rng))), 512).ink).signs)
    assert sum(signs.minus for signs in found) >= 11
    assert sum(signs.point == 2 for signs in found) >= 11
    plain = compose(mnist.x_test[:3], "normal", "scan", rng)
    assert number_marks(ink_map(Image.open(io.BytesIO(render(plain.ink, "scan", rng))), 512).ink).signs == Signs()


def test_a_point_stands_alone_in_its_columns():
    """A dot on the baseline between two digits is a point; the lower dot of a colon, or a speck under the
    next digit, is not (another mark spans its columns)."""

    def signs(*specks: tuple[int, int, int, int]) -> Signs:
        ink = np.zeros((60, 90), np.float32)
        for top, bottom, left, right in ((10, 50, 10, 16), (10, 50, 40, 46), *specks):
            ink[top:bottom, left:right] = 1.0
        return number_marks(ink).signs

    last_digit = (10, 50, 70, 76)
    assert signs(last_digit, (44, 50, 56, 62)) == Signs(point=2)
    assert signs(last_digit, (44, 50, 56, 62), (25, 30, 57, 62)) == Signs()  # a colon
    assert signs((10, 40, 70, 76), (44, 50, 68, 74)) == Signs()  # under the digit's foot


def test_the_reader_writes_signs_and_a_decimal_comma(mnist_run, mnist):
    rng = np.random.default_rng(11)
    written = compose(mnist.x_test[:3], "wide", "scan", rng, text="-12.5")
    data = render(written.ink, "scan", rng)
    reader = Reader(mnist_run, min_confidence=0, paper=True)
    reading = reader.read_file(data)
    assert reading.read_as.startswith("-") and reading.read_as[3] == "."
    answer = reading.to_json()
    assert answer["minus"] is True and answer["point"] == 2
    assert reader.read_file(data, decimal_comma=True).read_as[3] == ","


def test_writers_augmentation_changes_more_than_geometry_and_stays_an_image(mnist):
    images = mnist.x_test[:64].astype(np.float32) / 255.0
    geometric = augment_images(images.copy(), np.random.default_rng(0), 0.6)
    writers = augment_images(images.copy(), np.random.default_rng(0), 0.6, "writers")
    assert writers.shape == images.shape and writers.dtype == np.float32
    assert 0.0 <= writers.min() and writers.max() <= 1.0
    assert np.abs(writers - geometric).mean() > 0.01
    again = augment_images(images.copy(), np.random.default_rng(0), 0.6, "writers")
    assert np.array_equal(writers, again)  # the same seed, the same batch
    assert augment_images(images, np.random.default_rng(0), 0.0, "writers") is images


def test_an_unknown_augmentation_style_is_refused(mnist):
    from digitlab.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="augmentation style"):
        augment_images(mnist.x_test[:2].astype(np.float32), np.random.default_rng(0), 0.5, "cursive")


def test_every_recipe_resolves_to_valid_settings():
    for recipe in RECIPES.values():
        settings = settings_for(recipe.training_defaults(), {})
        assert settings.val_split > 0  # calibrated: the shipped model withholds what it is unsure of
        assert recipe.hyper_defaults()["convs_per_block"] == 2


def test_train_with_a_recipe_records_it_and_reproduces_with_it(learnable_dir, tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--recipe", "accurate", "--epochs", "1", "--subset", "200", "--data-dir",
                     str(learnable_dir), "--out", str(out), "--quiet", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads(result.stdout)["config"]
    assert config["recipe"] == "accurate" and config["hyper"]["convs_per_block"] == 2
    assert config["training"]["augment"] == get_recipe("accurate").training["augment"]
    assert train_command(config) == "digitlab train --recipe accurate --epochs 1 --subset 200"


def test_a_recipe_and_a_model_that_disagree_are_refused():
    from digitlab.errors import InvalidArgument
    from digitlab.pipeline import train

    with pytest.raises(InvalidArgument, match="recipe trains a cnn"):
        train("mlp", recipe="accurate")


def test_the_api_reads_printed_paper_when_asked_as_the_cli_does(exported_run, mnist):
    from conftest import api_client
    from digitlab.serving.app import create_app
    from digitlab.serving.config import ServeConfig

    client = api_client(create_app(ServeConfig(exported_run.path)))
    reader, plain = Reader(exported_run.path, paper=True), Reader(exported_run.path)
    differs = []
    for number in page_numbers(mnist.x_test, mnist.y_test, 4, seed=9):
        answer = client.post("/v1/read?paper=true&min_confidence=0", files={"file": ("page.jpg", number.data)})
        assert answer.status_code == 200
        assert answer.json()["number"] == reader.read_file(number.data).read_as
        differs.append(answer.json()["number"] != plain.read_file(number.data).read_as)
    assert any(differs)  # without paper=true the printed lines are read as ink
