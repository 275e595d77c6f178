"""Calibrated confidence, "not a digit" and "not sure": the math checked against cases whose answer is
known, the non-digit images the project makes, and the statuses through training, the CLI and the API."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import api_client, block_image, run_cli
from digitlab.inference.calibration import (
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    refusing_threshold,
    statuses,
    tempered,
)
from digitlab.reading.negatives import KINDS, STROKES, negative_inputs


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def calibrated_sample(count: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels drawn from them: calibrated by construction."""
    rng = np.random.default_rng(seed)
    probabilities = softmax(rng.normal(0, 2.5, size=(count, 10)))
    labels = np.array([rng.choice(10, p=row) for row in probabilities])
    return probabilities, labels


def test_the_temperature_of_an_overconfident_model_is_found():
    probabilities, labels = calibrated_sample()
    overconfident = tempered(probabilities, 0.5)  # logits doubled: a temperature of 2 undoes it
    assert fit_temperature(overconfident, labels) == pytest.approx(2.0, rel=0.05)
    assert fit_temperature(probabilities, labels) == pytest.approx(1.0, rel=0.05)
    assert (tempered(overconfident, 2.0).argmax(axis=1) == overconfident.argmax(axis=1)).all()


def test_calibration_error_is_small_when_confidence_is_right_and_large_when_not():
    probabilities, labels = calibrated_sample()
    assert expected_calibration_error(probabilities, labels) < 0.015
    assert expected_calibration_error(tempered(probabilities, 0.3), labels) > 0.1


def test_the_threshold_keeps_readings_right_as_often_as_asked():
    probabilities, labels = calibrated_sample()
    threshold = choose_threshold(probabilities, labels, target=0.95)
    kept = probabilities.max(axis=1) >= threshold
    assert (probabilities.argmax(axis=1) == labels)[kept].mean() >= 0.95
    lower = probabilities.max(axis=1) >= threshold - 0.02
    assert (probabilities.argmax(axis=1) == labels)[lower].mean() < 0.95 or lower.all()
    assert choose_threshold(np.eye(10)[labels], labels) == 0.0  # always right: nothing withheld


def test_the_threshold_rises_to_refuse_non_digits_but_withholds_few_digits():
    rng = np.random.default_rng(0)
    digits = np.clip(rng.normal(0.97, 0.02, 1000), 0, 1)
    timid = rng.uniform(0.2, 0.6, 1000)  # non-digits a model taught to refuse spreads its probability over
    threshold = refusing_threshold(digits, timid)
    assert 0.55 < threshold <= 0.6 and (timid < threshold).mean() >= 0.97 - 1e-3
    assert (digits < threshold).mean() == 0
    bold = rng.uniform(0.9, 1.0, 1000)  # non-digits a lesson model reads as digits: at most 2% of digits go
    capped = refusing_threshold(digits, bold)
    assert (digits < capped).mean() <= 0.02 and capped > 0.9
    assert refusing_threshold(digits, np.zeros(0)) == 0.0


def test_a_withheld_reading_is_unsure_between_few_digits_and_not_a_digit_when_spread():
    sure = np.eye(10)[3] * 0.97 + 0.003
    torn = np.full(10, 0.01)
    torn[[4, 9]] = [0.5, 0.42]
    spread = np.full(10, 0.1)
    assert statuses(np.stack([sure, torn, spread]), threshold=0.9) == ["ok", "unsure", "not-a-digit"]
    assert statuses(np.stack([sure, torn, spread]), threshold=0.0) == ["ok", "ok", "ok"]


def test_every_kind_of_non_digit_is_made_and_drawn_the_same_for_a_seed(mnist_free_digits):
    inputs, kinds = negative_inputs(KINDS, 60, seed=3, digits=mnist_free_digits)
    again, _ = negative_inputs(KINDS, 60, seed=3, digits=mnist_free_digits)
    assert set(kinds) == set(KINDS) and len(inputs) >= 55  # lined paper may hold no ink imaging sees
    assert inputs.shape[1:] == (28, 28) and inputs.dtype == np.uint8 and (inputs.max(axis=(1, 2)) > 100).all()
    assert np.array_equal(inputs, again)
    assert not set("0123456789OoIlSsZzBGgq") & set(STROKES)  # nothing that could be taken for a digit


@pytest.fixture
def mnist_free_digits() -> np.ndarray:
    """Blocks standing in for digits, for the overlaps (no MNIST needed)."""
    digits = np.zeros((10, 28, 28), np.uint8)
    for index in range(10):
        digits[index, 6 + index:14 + index, 8:20] = 255
    return digits


def test_outlier_exposure_trains_calibrates_and_withholds(learnable_dataset, tmp_path):
    from digitlab.inference.predictor import Predictor
    from digitlab.pipeline import train

    run = train("linear", dataset=learnable_dataset, out=tmp_path / "run", epochs=2, learning_rate=0.01,
                val_split=0.2, outlier_exposure=0.2, verbose=0)
    assert run.config["outliers"]["images"] > 0 and set(run.config["outliers"]["kinds"]) <= set(KINDS)
    calibration = run.config["calibration"]
    assert calibration["temperature"] > 0 and 0 <= calibration["threshold"] <= 1
    assert run.metrics["test"]["ece"] is not None
    everything = Predictor(run, min_confidence=0).predict_batch(learnable_dataset.x_test)
    assert set(everything.statuses) == {"ok"}
    strict = Predictor(run, min_confidence=1.0).predict_batch(learnable_dataset.x_test)
    assert "ok" not in set(strict.statuses[:20])


def torn_between(first: int, second: int) -> np.ndarray:
    """Two learnable digits' blocks lit at once: the model cannot be sure which it is."""
    return np.maximum(block_image(first), block_image(second))


def test_predict_and_read_say_what_they_withhold(exported_run, tmp_path):
    from PIL import Image

    image = tmp_path / "torn.png"
    Image.fromarray(torn_between(4, 9)).save(image)
    given = json.loads(run_cli("predict", exported_run.path, image, "--format", "json",
                               "--min-confidence", "0").stdout)[0]
    assert given["status"] == "ok" and given["digit"] is not None
    withheld = run_cli("predict", exported_run.path, image, "--format", "json", "--min-confidence", "0.99")
    row = json.loads(withheld.stdout)[0]
    assert withheld.returncode == 0 and row["digit"] is None and row["status"] in ("unsure", "not-a-digit")
    assert len(row["top3"]) == 3
    csv = run_cli("predict", exported_run.path, image, "--format", "csv", "--min-confidence", "0.99").stdout
    assert csv.splitlines()[1].split(",")[1:3] == ["", row["status"]]
    number = json.loads(run_cli("read", exported_run.path, image, "--format", "json",
                                "--min-confidence", "0.99").stdout)[0]
    assert number["number"] is None and number["withheld"]  # the reader sees the two blocks as two digits
    assert all(number["digits"][index]["digit"] is None for index in number["withheld"])
    bad = run_cli("predict", exported_run.path, image, "--min-confidence", "2")
    assert bad.returncode == 2 and "min-confidence" in bad.stderr


def test_the_api_takes_min_confidence_and_refuses_a_bad_one(exported_run):

    from digitlab.serving.app import create_app
    from digitlab.serving.config import ServeConfig

    client = api_client(create_app(ServeConfig(exported_run.path)))
    body = {"pixels": torn_between(4, 9).tolist()}
    given = client.post("/v1/predict?min_confidence=0", json=body).json()
    assert given["status"] == "ok" and given["digit"] is not None
    withheld = client.post("/v1/predict?min_confidence=0.99", json=body).json()
    assert withheld["digit"] is None and withheld["status"] in ("unsure", "not-a-digit")
    assert len(withheld["candidates"]) == 3
    refused = client.post("/v1/predict?min_confidence=2", json=body)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    assert client.get("/v1/model").json()["calibration"]["temperature"] > 0
