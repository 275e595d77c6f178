"""Training a run's mark model (see ``reading/marks.py``): one digit, or several touching?

Its examples are the marks the number reader itself finds, in numbers of 2 or 3 digits written with the
run's own training digits (``reading/synthetic.py``: every spacing and look; two in three touching). A
mark is labelled only where that is certain: when a number yields as many marks as it has digits, each
is one digit; when it yields one mark, that mark holds them all. The digits the run held out for
validation stay out, so that numbers built from them remain a fair tuning set.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

from digitlab.export import write_checked_onnx
from digitlab.fileio import sha256_file
from digitlab.reading.imaging import ImageError, decode_image, ink_map
from digitlab.reading.marks import MARKS_FILE, as_inputs
from digitlab.reading.numbers import READ_SIDE, number_marks
from digitlab.reading.synthetic import LOOKS, compose, render
from digitlab.runs import Run, open_run

TOUCHING_SHARE = 2 / 3  # of the numbers written for examples; the rest are tight, normal or wide


def mark_examples(images: np.ndarray, numbers: int, seed: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The marks found in ``numbers`` written numbers as 28x28 inputs (uint8), and 1 where a mark holds
    several digits, 0 where it holds one."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    inputs, several = [], []
    for index in tqdm(range(numbers), desc="writing numbers", unit="number", disable=not progress, file=sys.stderr):
        length = 2 + index % 2
        touching = rng.random() < TOUCHING_SHARE
        spacing = "touching" if touching else ("tight", "normal", "wide")[int(rng.integers(3))]
        look = LOOKS[int(rng.integers(len(LOOKS)))]
        ink, _ = compose(images[rng.choice(len(images), size=length, replace=False)], spacing, look, rng)
        try:
            number = number_marks(ink_map(decode_image(render(ink, look, rng)), READ_SIDE).ink)
        except ImageError:
            continue
        if len(number.marks) == length:
            labels = [0] * length
        elif len(number.marks) == 1:
            labels = [1]
        else:
            continue  # some marks hold several digits, and which is not known
        inputs += [number.to_mnist(piece) for piece in number.pieces]
        several += labels
    return np.stack(inputs), np.asarray(several, dtype=np.int64)


def _training_digits(run: Run, data_dir: str | os.PathLike | None) -> np.ndarray:
    """The run's training digits, less those it held out for validation."""
    from digitlab.data.dataset import load_mnist
    from digitlab.training.splits import checked_split

    (x_train, y_train), _ = load_mnist(data_dir, verbose=False)
    record = run.config.get("split")
    if not record or not record.get("validation_count"):
        return x_train
    fit, _ = checked_split(y_train, record, record, str(run.path))
    return x_train[fit]


def build_mark_model():
    """A small CNN: 28x28 -> the probability of several digits."""
    from digitlab._keras import keras

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def train_marks(run: str | os.PathLike | Run, *, numbers: int = 24000, epochs: int = 10, seed: int = 0,
                data_dir: str | os.PathLike | None = None, progress: bool = False, verbose: int = 0) -> dict[str, Any]:
    """Train the run's mark model, write RUN/marks.onnx (atomically) and record it in the run's config."""
    run = run if isinstance(run, Run) else open_run(run)
    from digitlab.training.fit import reproducible  # Keras loads here, after the run is known to be one

    started = time.perf_counter()
    inputs, several = mark_examples(_training_digits(run, data_dir), numbers, seed, progress)
    with reproducible(seed):  # the same seed gives the same model
        model = build_mark_model()
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        history = model.fit(as_inputs(inputs), several, epochs=epochs, batch_size=128, validation_split=0.1,
                            verbose=verbose)
    target = run.file(MARKS_FILE)
    write_checked_onnx(model, as_inputs(inputs[:1000]), target)  # as digitlab export: checked against Keras
    record = {
        "file": MARKS_FILE, "sha256": sha256_file(target), "numbers": numbers, "epochs": epochs, "seed": seed,
        "examples": int(len(several)), "several": int(several.sum()),
        "validation_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
        "train_seconds": round(time.perf_counter() - started, 1),
        "command": f"digitlab train-marks {run.path} --numbers {numbers} --epochs {epochs} --seed {seed}",
    }
    run.update_config(marks=record)
    return record
