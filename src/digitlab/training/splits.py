"""Which training images a model fits on and which it validates on, and the record that pins them.

Splits come from the training set only (never the test set), stratified and seeded. A run records its
split (method, seed, sizes and a SHA-256 of each index list), and evaluation re-derives the split and
checks it against that record, so a library upgrade that changed the shuffling could not silently
evaluate a run on images it trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digitlab.fileio import sha256_bytes
from digitlab.runs import RunError

SPLIT_METHOD = "sklearn.model_selection.train_test_split(stratify=labels, random_state=seed), subset first"


def stratified_subset(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Indices of a class-balanced random subset (all indices when size is None)."""
    indices = np.arange(len(labels))
    if size is None or size >= len(labels):
        return indices
    from sklearn.model_selection import train_test_split

    chosen, _ = train_test_split(indices, train_size=size, stratify=labels, random_state=seed)
    return np.sort(chosen)


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit indices, validation indices), stratified and seeded."""
    indices = np.arange(len(labels))
    if not fraction:
        return indices, indices[:0]
    from sklearn.model_selection import train_test_split

    fit, held_out = train_test_split(indices, test_size=fraction, stratify=labels, random_state=seed)
    return np.sort(fit), np.sort(held_out)


def training_indices(labels: np.ndarray, *, subset: int | None, val_split: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of the training images (given by their ``labels``) the model fits on and which it validates on."""
    pool = stratified_subset(labels, subset, seed)
    fit, held_out = validation_split(labels[pool], val_split, seed)
    return pool[fit], pool[held_out]


def _indices_sha256(indices: np.ndarray) -> str:
    return sha256_bytes(np.ascontiguousarray(indices, dtype="<i8").tobytes())


def split_record(fit: np.ndarray, validation: np.ndarray, *, subset: int | None, val_split: float,
                 seed: int) -> dict[str, Any]:
    """What a run's config.json stores about its split."""
    return {"method": SPLIT_METHOD, "seed": seed, "subset": subset, "val_split": val_split,
            "fit_count": int(len(fit)), "validation_count": int(len(validation)),
            "fit_sha256": _indices_sha256(fit), "validation_sha256": _indices_sha256(validation)}


def checked_split(labels: np.ndarray, training: dict[str, Any], recorded: dict[str, Any] | None,
                  where: str) -> tuple[np.ndarray, np.ndarray]:
    """The split of a run's ``training`` settings, re-derived and checked against the ``recorded`` one."""
    fit, validation = training_indices(labels, subset=training.get("subset"), val_split=training["val_split"],
                                       seed=training["seed"])
    if recorded is not None and (recorded["fit_sha256"] != _indices_sha256(fit)
                                 or recorded["validation_sha256"] != _indices_sha256(validation)):
        raise RunError(f"{where}: the split re-derived from seed {training['seed']} differs from the one recorded "
                       "at training time (a library upgrade may have changed the shuffling); refusing to evaluate "
                       "on images the model may have trained on")
    return fit, validation
