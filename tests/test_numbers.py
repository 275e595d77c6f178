"""Reading whole numbers: segmentation on drawn marks (no model), then real MNIST digits composed into
numbers and read by a model trained on real MNIST."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from digitlab.reading.imaging import ImageError, NoDigitFound
from digitlab.reading.numbers import (
    FILLED_CUTS_PER_MARK,
    MAX_DIGITS_PER_MARK,
    best_segmentation,
    cut_columns,
    find_marks,
    piece_spans,
)


def blob(ink: np.ndarray, top: int, left: int, height: int, width: int) -> None:
    ink[top:top + height, left:left + width] = 1.0


def test_marks_are_found_left_to_right_with_specks_and_underlines_dropped():
    ink = np.zeros((80, 300), np.float32)
    for left in (200, 20, 110):
        blob(ink, 10, left, 50, 25)
    blob(ink, 70, 60, 2, 2)  # a speck
    blob(ink, 72, 10, 3, 260)  # an underline
    marks, _ = find_marks(ink)
    assert [mark.left for mark in marks] == [20, 110, 200]
    assert all(mark.height == 50 for mark in marks)


def test_strokes_of_one_digit_are_merged():
    ink = np.zeros((80, 200), np.float32)
    blob(ink, 10, 20, 30, 6)  # a 4: its left stroke and crossbar ...
    blob(ink, 30, 20, 5, 26)
    blob(ink, 10, 40, 55, 6)  # ... and its tall stroke, drawn separately, crossing the bar's columns
    blob(ink, 10, 120, 20, 30)  # a 5's flag, drawn apart from ...
    blob(ink, 32, 118, 33, 28)  # ... its body, right below it
    marks, _ = find_marks(ink)
    assert len(marks) == 2 and (marks[0].left, marks[1].left) == (20, 118)


def test_fragments_join_the_nearer_digit_and_far_ones_stay_apart():
    ink = np.zeros((80, 400), np.float32)
    blob(ink, 10, 20, 50, 25)  # a digit
    blob(ink, 30, 100, 30, 25)  # a 5's body ...
    blob(ink, 10, 120, 6, 30)  # ... and its flag, drawn apart and mostly to the right of it (a low mark)
    blob(ink, 10, 200, 50, 25)  # a digit
    blob(ink, 25, 300, 6, 20)  # a low mark far from any digit (a minus sign) stays on its own
    marks, _ = find_marks(ink)
    assert [(mark.left, mark.right) for mark in marks] == [(20, 45), (100, 150), (200, 225), (300, 320)]
    assert marks[1].top == 10 and marks[1].height == 50


def test_too_many_marks_is_refused_and_blank_has_no_digit():
    ink = np.zeros((100, 600), np.float32)
    for index in range(60):
        blob(ink, 10 + 40 * (index % 2), 8 * index + 2, 30, 4)
    with pytest.raises(ImageError, match="more than the 40 a number may have"):
        find_marks(ink)
    with pytest.raises(NoDigitFound):
        find_marks(np.zeros((50, 50), np.float32))


def test_cuts_are_offered_at_the_profile_minima_and_pieces_span_them():
    profile = np.array([0, 3, 8, 9, 9, 7, 2, 1, 3, 8, 9, 9, 9, 4, 0.5, 5, 9, 9, 8, 2], np.float32)
    cuts = cut_columns(profile, typical=20)  # minima within 2 columns either side, 2 apart, 2 from the ends
    assert 7 in cuts and 14 in cuts and all(2 <= cut <= 18 for cut in cuts)
    rising = np.arange(60, dtype=np.float32)  # no minimum to cut at: only the grid offers cuts
    filled = cut_columns(rising, typical=20, fill=True)
    assert cut_columns(rising, typical=20) == [] and len(filled) == FILLED_CUTS_PER_MARK
    assert filled[0] == 2 and np.diff(filled).min() >= 2
    piece = np.tile(profile, (5, 1))
    spans = piece_spans(piece, typical=20)
    assert (0, 20) in spans and (0, 7) in spans and (7, 14) in spans and (14, 20) in spans


def test_the_best_segmentation_weighs_the_pieces_against_the_cuts():
    spans = [(0, 10), (0, 5), (5, 10)]
    scores = np.log([0.5, 0.9, 0.9])
    assert best_segmentation(spans, scores, 10, cut_cost=0.0) == [1, 2]  # 0.81 beats 0.5
    assert best_segmentation(spans, scores, 10, cut_cost=np.log(0.5)) == [0]  # 0.405 does not
    most = MAX_DIGITS_PER_MARK + 1  # one-column pieces, more than a mark may hold: the whole wins though worse
    many = [(k, k + 1) for k in range(most)] + [(0, most)]
    assert best_segmentation(many, np.r_[np.zeros(most), -5.0], most, 0.0) == [most]


# ------------------------------------------------------------------------------------------------
# Real digits, a real model


@pytest.fixture(scope="module")
def mnist_digits(mnist_run, mnist):
    """The session's real-MNIST model (conftest.mnist_run) and the data it was trained on."""
    return mnist_run, mnist


def compose(digits: np.ndarray, gap: int, scale: int = 3) -> tuple[np.ndarray, list[int]]:
    """MNIST digits side by side, dark ink on light paper, ``gap`` pixels apart; and each digit's left edge."""
    crops = []
    for digit in digits:
        big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC))
        columns = np.flatnonzero(big.max(axis=0) > 40)
        crops.append(big[:, columns[0]:columns[-1] + 1])
    canvas = np.zeros((28 * scale + 30, sum(c.shape[1] for c in crops) + gap * len(crops) + 30), np.uint8)
    lefts, left = [], 15
    for crop in crops:
        canvas[15:15 + crop.shape[0], left:left + crop.shape[1]] = crop
        lefts.append(left)
        left += crop.shape[1] + gap
    return 255 - canvas, lefts


@pytest.mark.integration
def test_numbers_of_separate_digits_are_read_left_to_right(mnist_digits):
    from digitlab.reading.numbers import Reader

    run, dataset = mnist_digits
    reader = Reader(run)
    rng = np.random.default_rng(0)
    right = 0
    for _ in range(30):
        chosen = rng.choice(len(dataset.x_test), int(rng.integers(2, 7)), replace=False)
        image, lefts = compose(dataset.x_test[chosen], gap=int(rng.integers(8, 30)))
        reading = reader.read(image)
        truth = "".join(str(label) for label in dataset.y_test[chosen])
        right += reading.number == truth
        if len(reading.digits) == len(lefts):
            boxes = [digit.box for digit in reading.digits]
            assert [box[0] for box in boxes] == sorted(box[0] for box in boxes)  # left to right
            for box, left in zip(boxes, lefts, strict=True):
                assert abs(box[0] - left) <= 10  # in the original image's pixels (digits are 84 px tall)
    assert right >= 26, right  # 2-6 digit numbers, whole numbers right


@pytest.mark.integration
def test_a_single_digit_reads_as_a_one_character_number_and_touching_pairs_split(mnist_digits):
    from digitlab.inference.predictor import Predictor
    from digitlab.reading.numbers import Reader

    run, dataset = mnist_digits
    reader, predictor = Reader(run), Predictor(run)
    image, _ = compose(dataset.x_test[:1], gap=0)
    reading = reader.read(image)
    assert reading.number == str(predictor.predict(reading.digits[0].input).digit) and len(reading.digits) == 1
    split = 0
    for index in range(0, 40, 2):
        pair, _ = compose(dataset.x_test[index:index + 2], gap=-2)  # strokes touch or nearly
        split += len(reader.read(pair).digits) == 2
    assert split >= 15, split


@pytest.mark.integration
def test_read_command_reports_each_file(mnist_digits, tmp_path):
    run, dataset = mnist_digits
    image, _ = compose(dataset.x_test[:3], gap=20)
    Image.fromarray(image).save(tmp_path / "number.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    result = run_cli("read", str(run.path), str(tmp_path), "--format",
                             "csv")
    assert result.returncode == 1 and "1 of 2 files could not be read" in result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:3] == ["file", "number", "confidence"]
    by_file = {row[0].rsplit("/", 1)[-1]: row for row in rows[1:]}
    assert len(by_file["number.png"][1]) == 3 and by_file["broken.png"][4]


@pytest.mark.integration
def test_predict_warns_when_an_image_holds_several_digits(mnist_digits, tmp_path):
    from digitlab.reading.imaging import image_to_mnist
    from digitlab.reading.numbers import count_digits

    run, dataset = mnist_digits
    number, _ = compose(dataset.x_test[:3], gap=20)
    single, _ = compose(dataset.x_test[3:4], gap=0)
    assert count_digits(image_to_mnist(number).working_ink()) == 3
    assert count_digits(image_to_mnist(single).working_ink()) == 1
    Image.fromarray(number).save(tmp_path / "number.png")
    Image.fromarray(single).save(tmp_path / "single.png")
    result = run_cli("predict", str(run.path), str(tmp_path), "--format",
                             "json")
    assert result.returncode == 0, result.stderr
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in json.loads(result.stdout)}
    assert "3 digits" in rows["number.png"]["warning"] and "digitlab read" in rows["number.png"]["warning"]
    assert rows["single.png"]["warning"] is None and rows["number.png"]["digit"] is not None  # still answered
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "number.png" in warnings[0] and "`digitlab read`" in warnings[0]


def test_the_number_benchmark_scores_readings_by_edit_distance():
    from benchmarks.numbers import edit_distance, error_kind, summarise

    assert edit_distance("2026", "2026") == 0 and edit_distance("2026", "226") == 1
    assert edit_distance("2026", "20226") == 1 and edit_distance("2026", "7026") == 1 and edit_distance("", "12") == 2
    assert [error_kind("2026", read) for read in ("2026", "20226", "226", "2076", None)] == \
        [None, "split", "merge", "classify", "failed"]
    outcomes = [{"truth": "2026", "read": "2026", "error": None}, {"truth": "11", "read": "1", "error": "merge"}]
    summary = summarise(outcomes)
    assert summary["whole_accuracy"] == 0.5 and summary["digit_accuracy"] == round(1 - 1 / 6, 4)
    assert summary["errors"] == {"split": 0, "merge": 1, "classify": 0, "failed": 0}


def test_composed_numbers_know_when_their_digits_touch():
    from digitlab.reading.synthetic import compose

    rng = np.random.default_rng(0)
    zero = np.zeros((28, 28), np.uint8)
    zero[4:24, 8:20] = 255  # a solid block: neighbours touch exactly when their boxes overlap
    apart = compose(np.stack([zero, zero, zero]), "wide", "scan", rng)
    touching = compose(np.stack([zero, zero]), "touching", "scan", rng)
    assert not apart.touching and touching.touching
    assert apart.owners.shape == apart.ink.shape and set(np.unique(apart.owners)) == {0, 1, 2, 3}
    assert (apart.ink[apart.owners > 0] > 0.3).mean() > 0.97  # each digit's pixels are ink (turning the
    assert (apart.ink[apart.owners == 0] > 0.5).mean() < 0.01  # number blurs its edges), the rest is paper


@pytest.fixture(scope="module")
def marked_run(marked_mnist_run, mnist):
    """The session's model given a mark model by the CLI (conftest.marked_mnist_run; the other tests read
    without one), what train-marks printed, and the data."""
    run, printed = marked_mnist_run
    return run, printed, mnist


def touching_numbers(dataset, count: int, seed: int) -> list[tuple[bytes, str]]:
    """Numbers of 2 and 3 test digits whose ink touches, in every look: (image file, the number)."""
    from digitlab.reading.synthetic import LOOKS, compose, render

    rng = np.random.default_rng(seed)
    numbers = []
    while len(numbers) < count:
        look = LOOKS[len(numbers) % len(LOOKS)]
        chosen = rng.choice(len(dataset.x_test), 2 + len(numbers) % 2, replace=False)
        written = compose(dataset.x_test[chosen], "touching", look, rng)
        if written.touching:
            numbers.append((render(written.ink, look, rng), "".join(map(str, dataset.y_test[chosen]))))
    return numbers


@pytest.mark.integration
def test_a_mark_model_tells_whole_digits_from_fragments_and_touching_ones(marked_run):
    from digitlab.fileio import sha256_file
    from digitlab.inference.marks import MarkModel
    from digitlab.reading.mark_training import mark_examples

    run, record, dataset = marked_run
    assert record["sha256"] == sha256_file(run.file("marks.onnx")) == run.config["marks"]["sha256"]
    assert record["examples"] > 1500 and 0 < record["not_one_digit"] < record["examples"]
    inputs, not_one = mark_examples(dataset.x_test, 400, seed=7)  # digits and numbers it never saw
    said = MarkModel.of_run(run).log_one_digit(inputs) < np.log(0.5)
    assert (not_one == 0).sum() >= 500 and (not_one == 1).sum() >= 500
    assert (said & (not_one == 1)).sum() >= 0.9 * not_one.sum()  # nearly all pieces that are not a digit
    assert (said & (not_one == 0)).sum() <= 0.15 * (not_one == 0).sum()  # and few whole digits


@pytest.mark.integration
def test_with_a_mark_model_more_touching_numbers_are_read_right(mnist_digits, marked_run):
    from digitlab.reading.numbers import Reader

    run, _, dataset = marked_run
    numbers = touching_numbers(dataset, 200, seed=3)
    without, with_marks = Reader(mnist_digits[0]), Reader(run)
    assert without.marks is None and with_marks.marks is not None
    reads = [[reader.read_file(data).number for data, _ in numbers] for reader in (without, with_marks)]
    right = [sum(read == truth for read, (_, truth) in zip(found, numbers, strict=True)) for found in reads]
    counted = [sum(len(read) == len(truth) for read, (_, truth) in zip(found, numbers, strict=True)) for found in reads]
    assert right[1] >= right[0] + 10 and counted[1] > counted[0], (right, counted)


def test_a_mark_model_whose_hash_does_not_match_is_refused(marked_run, tmp_path):
    import shutil

    from digitlab.reading.numbers import Reader
    from digitlab.runs import RunError, open_run

    run, _, _ = marked_run
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    with open(copy / "marks.onnx", "ab") as stream:
        stream.write(b"\0")
    with pytest.raises(RunError, match="marks.onnx: its SHA-256 does not match"):
        Reader(open_run(copy))
    earlier = tmp_path / "earlier"  # a mark model of the first version answered another question
    shutil.copytree(run.path, earlier)
    open_run(earlier).update_config(marks={**run.config["marks"], "version": 1})
    with pytest.raises(RunError, match="trained for an earlier version of the number reader"):
        Reader(open_run(earlier))
    result = run_cli("read", str(copy), str(copy / "marks.onnx"))
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_train_marks_on_a_directory_that_is_no_run_fails_in_one_line(tmp_path):
    result = run_cli("train-marks", str(tmp_path))
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_boxes_are_in_the_files_own_pixels_when_a_large_jpeg_is_decoded_small(mnist_run):
    import io

    from benchmarks.numbers import make_set
    from PIL import Image

    from digitlab.reading.numbers import Reader

    number = next(n for n in make_set(84, seed=2) if n.look == "colour" and n.spacing == "wide")
    picture = Image.open(io.BytesIO(number.data)).convert("RGB")
    buffer = io.BytesIO()
    picture.resize((picture.width * 4, picture.height * 4), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=92)
    reader = Reader(mnist_run)
    small, large = reader.read_file(number.data), reader.read_file(buffer.getvalue())  # the large one is drafted
    assert len(small.digits) == len(large.digits)
    for a, b in zip(small.digits, large.digits, strict=True):
        assert all(abs(4 * u - v) <= 4 * 4 for u, v in zip(a.box, b.box, strict=True)), (a.box, b.box)
