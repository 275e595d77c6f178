"""Corrections as training data: every corrected digit is one example (a correction of "2026" holds four
28x28 inputs labelled 2, 0, 2, 6), exported as an MNIST-format pair that ``digitlab train --extra-data DIR``
reads like any dataset. Only corrections a reviewer approved are exported unless pending ones are asked for
too; the export's ``export.json`` says which, and a run trained on it records that."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from digitlab.data import PART_FILES, write_idx
from digitlab.data.dataset import EXPORT_MANIFEST
from digitlab.errors import DigitlabError, option
from digitlab.feedback.store import APPROVED, PENDING, Correction
from digitlab.fileio import atomic_write_text


def exported_statuses(include_pending: bool) -> tuple[str, ...]:
    return (APPROVED, PENDING) if include_pending else (APPROVED,)


def examples(records: Iterable[Correction]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Every corrected digit: its 28x28 input, its right label, and what the model had read there (None when
    the model found another number of digits)."""
    images, labels, predicted = [], [], []
    for record in records:
        reading = record.prediction if record.prediction and len(record.prediction) == len(record.label) else None
        for position, digit in enumerate(record.label):
            images.append(record.inputs[position])
            labels.append(int(digit))
            predicted.append(reading[position] if reading else None)
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), []
    return np.stack(images), np.asarray(labels, dtype=np.uint8), predicted


def export_idx(images: np.ndarray, labels: np.ndarray, directory: str | os.PathLike, *,
               overwrite: bool = False, statuses: tuple[str, ...] = (APPROVED,), records: int = 0) -> dict:
    """The corrected digits as an MNIST-format training pair (train-images-idx3-ubyte, train-labels-idx1-ubyte)
    in ``directory``, which ``read_idx`` and ``digitlab train --extra-data`` read, with its manifest."""
    if not len(images):
        raise DigitlabError(f"the store holds no {' or '.join(statuses)} corrections to export"
                            + ("" if PENDING in statuses else f" (approve some, or pass {option('include_pending')})"))
    directory = Path(directory)
    paths = [directory / PART_FILES["train_images"], directory / PART_FILES["train_labels"]]
    if any(path.exists() for path in paths) and not overwrite:
        raise DigitlabError(f"{directory} already holds an export; pass {option('overwrite')} to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(paths[0], images)
    write_idx(paths[1], labels)
    manifest = {"statuses": list(statuses), "corrections": records, "images": int(len(images))}
    atomic_write_text(directory / EXPORT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return {"directory": str(directory), "images": int(len(images)), "corrections": records,
            "statuses": list(statuses), "files": [str(path) for path in paths]}
