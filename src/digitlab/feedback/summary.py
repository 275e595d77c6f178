"""``digitlab feedback STORE``: what the stored corrections say, as counts, a confusion matrix and a gallery
(and, where asked, the IDX export of ``feedback/export.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import plots
from digitlab.feedback.export import examples, export_idx, exported_statuses
from digitlab.feedback.store import REVIEW_STATUSES, open_store

GALLERY_FILE = "gallery.png"
GALLERY_LIMIT = 60  # the newest corrected digits the gallery shows


@dataclass(frozen=True)
class FeedbackSummary:
    store: str
    count: int  # corrections
    digits: int  # corrected digits (training examples)
    per_digit: dict[str, int]  # right label -> digits
    confusion: list[list[int]]  # [right][read] over digits the model had read at all
    wrong: int  # digits the model had read as another digit
    models: dict[str, int]  # model SHA-256 -> corrections
    by_status: dict[str, int]  # pending, approved, rejected -> corrections
    records: list[dict]
    gallery: str | None
    export: dict | None

    def to_json(self) -> dict:
        return {"store": self.store, "count": self.count, "digits": self.digits, "per_digit": self.per_digit,
                "confusion": self.confusion, "wrong": self.wrong, "models": self.models, "by_status": self.by_status,
                "records": self.records, "gallery": self.gallery, "export": self.export,
                "exported": None if self.export is None else self.export["images"]}


def summarise(store: str | os.PathLike, *, gallery: str | os.PathLike | None = None,
              export: str | os.PathLike | None = None, overwrite: bool = False,
              include_pending: bool = False) -> FeedbackSummary:
    """Counts per digit and per review status, the model's confusion on the corrected digits, and (where
    asked) the gallery PNG and the IDX export of the approved corrections (and pending ones, with
    ``include_pending``). A directory store gets its gallery in the directory unless another path is given.
    Uploads are never loaded: only the 28x28 inputs, a batch of rows at a time."""
    corrections = open_store(store, create=False)
    try:
        records = list(corrections.iter_records(uploads=False))
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
    exported = None
    if export is not None:
        statuses = exported_statuses(include_pending)
        chosen = [record for record in records if record.status in statuses]
        exported = export_idx(*examples(chosen)[:2], export, overwrite=overwrite, statuses=statuses,
                              records=len(chosen))
    return FeedbackSummary(
        store=location, count=len(records), digits=len(labels),
        per_digit={str(digit): int((labels == digit).sum()) for digit in range(10)},
        confusion=confusion.tolist(), wrong=int(confusion.sum() - np.trace(confusion)), models=models,
        by_status={status: sum(record.status == status for record in records) for status in REVIEW_STATUSES},
        records=[record.summary() for record in records], gallery=written, export=exported)
