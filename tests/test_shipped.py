"""The model that ships in the package (src/digitlab/shipped): what `pip install digitlab` reads with when a
command is given no RUN. Its figures are checked here on real MNIST and on the project's own sets, its files
against the hashes its config records, and its recipe against what `digitlab train --recipe` would train."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli
from digitlab.fileio import sha256_file
from digitlab.inference.calibration import Calibration
from digitlab.inference.marks import MARKS_FILE
from digitlab.inference.predictor import Predictor
from digitlab.inference.shipped import SHIPPED_DIR, shipped_run
from digitlab.runs import ONNX_FILE, open_run
from digitlab.training.recipes import model_and_defaults
from digitlab.training.settings import settings_for, train_command


@pytest.fixture(scope="module")
def shipped():
    return open_run(shipped_run())


def test_the_shipped_model_is_the_default_recipe_and_its_files_are_the_ones_recorded(shipped):
    config = shipped.config
    assert config["shipped"]["trained_with"] == train_command(config) == "digitlab train --recipe default"
    model, hyper, defaults = model_and_defaults(None, "default")
    assert config["model"] == model and config["hyper"] == {**config["hyper"], **hyper}
    settings = settings_for(defaults, {})
    for name, value in config["training"].items():
        assert getattr(settings, name) == value, name  # `digitlab train --recipe default` trains it again
    assert sha256_file(SHIPPED_DIR / ONNX_FILE) == config["onnx"]["sha256"]
    assert sha256_file(SHIPPED_DIR / MARKS_FILE) == config["marks"]["sha256"]
    calibration = Calibration.of_config(config)
    assert calibration.threshold > 0  # it withholds: "not a digit" and "not sure" are on
    assert sum(path.stat().st_size for path in SHIPPED_DIR.iterdir()) < 5_000_000  # a few MB


def test_the_shipped_model_reads_mnist_test_at_least_99_5_percent(shipped, mnist):
    predictor = Predictor(shipped, min_confidence=0)
    assert predictor.engine == "onnx"
    digits = predictor.predict_batch(mnist.x_test).digits
    accuracy = float((digits == mnist.y_test).mean())
    assert accuracy >= 0.995, accuracy
    assert accuracy == pytest.approx(shipped.metrics["test"]["accuracy"], abs=0.0005)  # ONNX as Keras was


def test_the_shipped_model_reads_redrawn_uploads_and_refuses_non_digits(shipped, mnist):
    from benchmarks.realworld import make_set

    from digitlab.reading.imaging import bytes_to_mnist
    from digitlab.reading.negatives import HELD_OUT_KINDS, negative_inputs

    files, labels, _ = make_set(300, seed=5)
    inputs = np.stack([bytes_to_mnist(data).image for data in files])
    predictor = Predictor(shipped)
    assert float((predictor.predict_batch(inputs).digits == labels).mean()) >= 0.985
    non_digits, _ = negative_inputs(HELD_OUT_KINDS, 200, seed=77, digits=mnist.x_test[:500])
    statuses = predictor.predict_batch(non_digits).statuses
    assert statuses.count("ok") <= 0.15 * len(statuses)  # kinds it never trained to refuse


def test_commands_read_with_the_shipped_model_when_given_no_run(tmp_path, mnist):
    from benchmarks.numbers import make_set

    numbers = make_set(12, seed=3)
    paths = []
    for index, number in enumerate(numbers):
        paths.append(tmp_path / f"number-{index}.png")
        paths[-1].write_bytes(number.data)
    result = run_cli("read", *map(str, paths), "--format", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    read = [entry["number"] for entry in json.loads(result.stdout)]
    assert sum(r == n.truth for r, n in zip(read, numbers, strict=True)) >= 10
    result = run_cli("predict", str(paths[0]), "--format", "json")
    assert result.returncode == 0, result.stderr[-2000:]
