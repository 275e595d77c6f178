"""Training a run's mark model (see ``inference/marks.py``): is a piece of ink one whole digit?

Its examples are the pieces the number reader itself reads, in numbers of 2 or 3 digits written with the
run's own training digits (``reading/synthetic.py``: every spacing and look; two in three touching): every
mark it finds, and for a mark it would cut, a sample of the pieces between its candidate cuts at the
column profile's minima (the finer grid the reader adds for hard marks is not sampled). Each piece
is labelled from where its ink came from (the writer knows which digit drew each pixel): one whole digit
when it holds nearly all of one digit's ink and next to none of any other's, not one when it holds too
little of its main digit (a fragment) or much of another (touching digits, or a cut in the wrong place);
pieces in between are left out. The digits the run held out for validation stay out, so that numbers
built from them remain a fair tuning set.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np
from PIL import Image

from digitlab.data.dataset import load_mnist
from digitlab.fileio import sha256_file
from digitlab.inference.export import write_checked_onnx
from digitlab.inference.marks import MARKS_FILE, MARKS_VERSION, as_inputs
from digitlab.models.marks import build_mark_model
from digitlab.models.spec import keras_module
from digitlab.reading.imaging import ImageError, bytes_to_image, ink_map
from digitlab.reading.numbers import MAYBE_WIDE_FRACTION, READ_SIDE, number_marks, piece_spans
from digitlab.reading.synthetic import LOOKS, compose, render
from digitlab.runs import Run, open_run
from digitlab.training.splits import checked_split

TOUCHING_SHARE = 2 / 3  # of the numbers written for examples; the rest are tight, normal or wide
ONE_DIGIT = 0.88  # a piece with this share of one digit's ink, and at most 1 - this of any other's, is one digit
NOT_ONE = 0.7  # one with less than this of its main digit's ink, or more than 1 - this of another's, is not
PIECES_PER_MARK = 24  # pieces sampled from each mark the reader would cut, besides the whole mark


def piece_label(owners: np.ndarray, ink: np.ndarray, totals: np.ndarray) -> int | None:
    """0 when a piece (its pixels' digits ``owners`` and their ``ink``) is one whole digit, 1 when it is
    not, None when it is too close to call; ``totals`` is each digit's ink in the whole number."""
    shares = np.bincount(owners.ravel(), weights=ink.ravel(), minlength=len(totals)) / np.maximum(totals, 1e-9)
    shares[0] = 0.0  # ink no digit drew (anti-aliasing, JPEG noise)
    main = int(np.argmax(shares))
    most, other = shares[main], np.delete(shares, main).max()
    if most >= ONE_DIGIT and other <= 1 - ONE_DIGIT:
        return 0
    if most < NOT_ONE or other > 1 - NOT_ONE:
        return 1
    return None


def mark_examples(images: np.ndarray, numbers: int, seed: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The pieces read in ``numbers`` written numbers as 28x28 inputs (uint8), and 1 where a piece is not
    exactly one whole digit, 0 where it is."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    inputs, not_one = [], []
    for index in tqdm(range(numbers), desc="writing numbers", unit="number", disable=not progress, file=sys.stderr):
        length = 2 + index % 2
        touching = rng.random() < TOUCHING_SHARE
        spacing = "touching" if touching else ("tight", "normal", "wide")[int(rng.integers(3))]
        look = LOOKS[int(rng.integers(len(LOOKS)))]
        written = compose(images[rng.choice(len(images), size=length, replace=False)], spacing, look, rng)
        try:
            found = ink_map(bytes_to_image(render(written.ink, look, rng)), READ_SIDE)
            number = number_marks(found.ink)
        except ImageError:
            continue
        owners = np.asarray(Image.fromarray(written.owners).resize(found.ink.shape[::-1], Image.Resampling.NEAREST))
        totals = np.bincount(owners.ravel(), weights=found.ink.ravel(), minlength=length + 1)
        for mark, piece in zip(number.marks, number.pieces, strict=True):
            own = owners[mark.top:mark.bottom, mark.left:mark.right]
            spans = [(0, mark.width)]
            if mark.width > MAYBE_WIDE_FRACTION * number.typical:
                cut = [span for span in piece_spans(piece, number.typical) if span != (0, mark.width)]
                spans += [cut[k] for k in rng.permutation(len(cut))[:PIECES_PER_MARK]]
            for start, stop in spans:
                label = piece_label(own[:, start:stop], piece[:, start:stop], totals)
                if label is not None:
                    inputs.append(number.image_to_mnist(piece[:, start:stop]))
                    not_one.append(label)
    return np.stack(inputs), np.asarray(not_one, dtype=np.int64)


def _training_digits(run: Run, data_dir: str | os.PathLike | None) -> np.ndarray:
    """The run's training digits, less those it held out for validation."""

    (x_train, y_train), _ = load_mnist(data_dir, verbose=False)
    record = run.config.get("split")
    if not record or not record.get("validation_count"):
        return x_train
    fit, _ = checked_split(y_train, record, record, str(run.path))
    return x_train[fit]


def train_marks(run: str | os.PathLike | Run, *, numbers: int = 24000, epochs: int = 10, seed: int = 0,
                data_dir: str | os.PathLike | None = None, progress: bool = False, verbose: int = 0) -> dict[str, Any]:
    """Train the run's mark model, write RUN/marks.onnx (atomically) and record it in the run's config."""
    run = run if isinstance(run, Run) else open_run(run)
    from digitlab.training.fit import STEPS_PER_EXECUTION, reproducible  # Keras loads here, after the run is known

    started = time.perf_counter()
    inputs, not_one = mark_examples(_training_digits(run, data_dir), numbers, seed, progress)
    keras = keras_module()
    with reproducible(seed):  # the same seed gives the same model
        model = build_mark_model()
        model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)], steps_per_execution=STEPS_PER_EXECUTION)
        history = model.fit(as_inputs(inputs), not_one, epochs=epochs, batch_size=128, validation_split=0.1,
                            verbose=verbose)
    target = run.file(MARKS_FILE)
    write_checked_onnx(model, as_inputs(inputs[:1000]), target)  # as digitlab export: checked against Keras
    record = {
        "file": MARKS_FILE, "version": MARKS_VERSION, "sha256": sha256_file(target), "numbers": numbers,
        "epochs": epochs, "seed": seed, "examples": int(len(not_one)), "not_one_digit": int(not_one.sum()),
        "validation_accuracy": round(float(history.history["val_binary_accuracy"][-1]), 4),
        "train_seconds": round(time.perf_counter() - started, 1),
        "command": f"digitlab train-marks {run.path} --numbers {numbers} --epochs {epochs} --seed {seed}",
    }
    run.update_config(marks=record)
    return record
