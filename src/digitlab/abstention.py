"""Calibrating a run: the temperature and the withholding threshold it records, both fitted on data the
run held out of training (its validation split), never on a test set.

The temperature is fitted on the held-out digits as they are and as uploads (each re-drawn in one of the
number reader's looks, saved as a file, and brought back to 28x28 by imaging, as a user's upload is);
the threshold is the lowest at which the re-drawn uploads kept are 99.5% right, raised where needed to refuse
97% of fresh non-digits of the kinds outlier exposure trains on (a seed of their own; the kinds held out of
training stay unseen), but never so far as to withhold more than 2% of the re-drawn uploads. ``digitlab train`` does
this for every run with a validation split; ``digitlab calibrate RUN`` does it for a run trained before.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from digitlab.data import MNISTData, load_dataset
from digitlab.errors import InvalidArgument
from digitlab.evaluation import split_arrays
from digitlab.inference.calibration import (
    TARGET_ACCEPTED_ACCURACY,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    refusing_threshold,
    tempered,
)
from digitlab.inference.predictor import normalised
from digitlab.models import get_spec
from digitlab.reading.imaging import ImageError, bytes_to_mnist
from digitlab.reading.negatives import TRAINING_KINDS, negative_inputs
from digitlab.reading.synthetic import LOOKS, compose, render
from digitlab.runs import Run, open_run

REDRAWN = 1000  # held-out digits re-drawn as uploads for the fit (about 3 ms each)
NON_DIGITS = 800  # fresh non-digits of the trained kinds the threshold is raised to refuse
NON_DIGIT_SEED_OFFSET = 7919  # their seed is the run's plus this: not the images it trained on


_REDRAWN: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # the quickstart's models share one held-out split


def redrawn_uploads(images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each digit written as a one-digit upload in a look (scan, inverted, colour JPEG, canvas), decoded and
    prepared by imaging: the 28x28 inputs a user's uploads give (those imaging finds no digit in are left out).
    The same digits and seed give the same uploads, made once per process."""
    key = hashlib.sha256(np.ascontiguousarray(images).tobytes() + labels.tobytes() + str(seed).encode()).hexdigest()
    if key not in _REDRAWN:
        _REDRAWN[key] = _redraw(images, labels, seed)
    return _REDRAWN[key]


def _redraw(images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs, kept = [], []
    for index, digit in enumerate(images):
        look = LOOKS[index % len(LOOKS)]
        written = compose(digit[None], "normal", look, rng)
        try:
            inputs.append(bytes_to_mnist(render(written.ink, look, rng)).image)
        except ImageError:
            continue
        kept.append(labels[index])
    return np.stack(inputs), np.asarray(kept)


def calibrate_run(run: str | os.PathLike | Run, *, dataset: MNISTData | None = None,
                  data_dir: str | os.PathLike | None = None, model=None,
                  target: float = TARGET_ACCEPTED_ACCURACY) -> dict[str, Any]:
    """Fit the run's temperature and threshold on its held-out digits; record them in its config."""
    run = run if isinstance(run, Run) else open_run(run)
    if not run.config["training"].get("val_split"):
        raise InvalidArgument(f"{run.path} held no digits out of training (val_split=0), and calibrating on "
                              "digits it trained on, or on a test set, would flatter it; train with val_split > 0")
    dataset = dataset or load_dataset(data_dir or run.config["data"].get("data_dir"))
    model = model or run.load_model()
    spec = get_spec(run.config["model"])
    images, labels = split_arrays(run, dataset, "val")
    pick = np.random.default_rng(run.config["training"]["seed"]).permutation(len(labels))[:REDRAWN]
    uploads, upload_labels = redrawn_uploads(images[pick], labels[pick], run.config["training"]["seed"])

    non_digits, _ = negative_inputs(TRAINING_KINDS, NON_DIGITS, run.config["training"]["seed"] + NON_DIGIT_SEED_OFFSET,
                                    images)

    every = normalised(model.predict(spec.prepare(np.concatenate([images, uploads, non_digits])),
                                     batch_size=1024, verbose=0))
    clean, redrawn = every[:len(images)], every[len(images):len(images) + len(uploads)]
    temperature = fit_temperature(np.concatenate([clean, redrawn]), np.concatenate([labels, upload_labels]))
    calibrated = tempered(redrawn, temperature)
    non_digit_confidence = tempered(every[len(images) + len(uploads):], temperature).max(axis=1)
    threshold = max(choose_threshold(calibrated, upload_labels, target),
                    refusing_threshold(calibrated.max(axis=1), non_digit_confidence))
    kept = calibrated.max(axis=1) >= threshold
    record = {
        "temperature": temperature, "threshold": threshold, "target_accepted_accuracy": target,
        "fitted_on": {"held_out_digits": int(len(labels)), "redrawn_uploads": int(len(upload_labels)),
                      "non_digits": int(len(non_digits)), "non_digit_kinds": list(TRAINING_KINDS)},
        "held_out_ece": {"before": round(expected_calibration_error(clean, labels), 5),
                         "after": round(expected_calibration_error(tempered(clean, temperature), labels), 5)},
        "redrawn_accepted": round(float(kept.mean()), 4),
        "redrawn_accepted_accuracy": round(float((calibrated.argmax(axis=1) == upload_labels)[kept].mean()), 5)
        if kept.any() else None,
        "non_digits_refused": round(float((non_digit_confidence < threshold).mean()), 4) if len(non_digits) else None,
    }
    run.update_config(calibration=record)
    return record
