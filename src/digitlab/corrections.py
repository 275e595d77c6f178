"""``digitlab feedback STORE``: what the stored corrections say, as counts, a confusion matrix and a gallery;
exported as IDX for training (``digitlab train --extra-data DIR``); or one record deleted.

Every digit of a correction is one training example: a correction of "2026" holds four 28x28 inputs
labelled 2, 0, 2, 6.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.data import PART_FILES, write_idx
from digitlab.errors import DigitlabError, InvalidArgument
from digitlab.serving.feedback import Correction, open_store

GALLERY_FILE = "gallery.png"
GALLERY_LIMIT = 60  # the newest corrected digits the gallery shows


def examples(records: list[Correction]) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
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


@dataclass(frozen=True)
class FeedbackSummary:
    store: str
    count: int  # corrections
    digits: int  # corrected digits (training examples)
    per_digit: dict[str, int]  # right label -> digits
    confusion: list[list[int]]  # [right][read] over digits the model had read at all
    wrong: int  # digits the model had read as another digit
    models: dict[str, int]  # model SHA-256 -> corrections
    records: list[dict]
    gallery: str | None
    export: dict | None

    def to_json(self) -> dict:
        return {"store": self.store, "count": self.count, "digits": self.digits, "per_digit": self.per_digit,
                "confusion": self.confusion, "wrong": self.wrong, "models": self.models, "records": self.records,
                "gallery": self.gallery, "export": self.export}


def summarise(store: str | os.PathLike, *, gallery: str | os.PathLike | None = None,
              export: str | os.PathLike | None = None, overwrite: bool = False) -> FeedbackSummary:
    """Counts per digit, the model's confusion on the corrected digits, and (where asked) the gallery PNG and
    the IDX export. A directory store gets its gallery in the directory unless another path is given."""
    from digitlab import plots

    corrections = open_store(store, create=False)
    try:
        records = corrections.records()
        location = corrections.safe_location
    finally:
        corrections.close()
    images, labels, predicted = examples(records)
    confusion = np.zeros((10, 10), dtype=int)
    for label, read in zip(labels, predicted, strict=True):
        if read is not None:
            confusion[label, int(read)] += 1
    models: dict[str, int] = {}
    for record in records:
        models[record.model_sha256 or "unknown"] = models.get(record.model_sha256 or "unknown", 0) + 1
    if gallery is None and "://" not in os.fspath(store):
        gallery = Path(store) / GALLERY_FILE
    written = None
    if gallery is not None and len(images):
        newest = slice(max(0, len(images) - GALLERY_LIMIT), len(images))
        titles = [f"{read}\u2192{label}" if read is not None and read != str(label) else f"{label}"
                  for label, read in zip(labels[newest], predicted[newest], strict=True)]
        colors = ["crimson" if read is not None and read != str(label) else "black"
                  for label, read in zip(labels[newest], predicted[newest], strict=True)]
        plots.save_figure(plots.digit_grid(images[newest], titles, columns=10, title_colors=colors,
                                           suptitle="Corrected digits, newest last (read\u2192right in red)"), gallery)
        written = str(gallery)
    exported = export_idx(images, labels, export, overwrite=overwrite) if export is not None else None
    return FeedbackSummary(
        store=location, count=len(records), digits=len(labels),
        per_digit={str(digit): int((labels == digit).sum()) for digit in range(10)},
        confusion=confusion.tolist(), wrong=int(confusion.sum() - np.trace(confusion)), models=models,
        records=[record.summary() for record in records], gallery=written, export=exported)


def export_idx(images: np.ndarray, labels: np.ndarray, directory: str | os.PathLike, *,
               overwrite: bool = False) -> dict:
    """The corrected digits as an MNIST-format training pair (train-images-idx3-ubyte, train-labels-idx1-ubyte)
    in ``directory``, which ``read_idx`` and ``digitlab train --extra-data`` read."""
    if not len(images):
        raise DigitlabError("the store holds no corrections to export")
    directory = Path(directory)
    paths = [directory / PART_FILES["train_images"], directory / PART_FILES["train_labels"]]
    if any(path.exists() for path in paths) and not overwrite:
        raise DigitlabError(f"{directory} already holds an export; pass --overwrite to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(paths[0], images)
    write_idx(paths[1], labels)
    return {"directory": str(directory), "images": int(len(images)), "files": [str(path) for path in paths]}


def delete_correction(store: str | os.PathLike, record_id: str) -> None:
    """Remove one correction from the store, for good."""
    if not record_id:
        raise InvalidArgument("give the id of the correction to delete")
    corrections = open_store(store, create=False)
    try:
        if not corrections.delete(record_id):
            raise DigitlabError(f"no correction with id {record_id!r} in {corrections.safe_location}")
    finally:
        corrections.close()
