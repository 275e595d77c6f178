"""Outlier exposure (Hendrycks et al. 2019): what it adds to the training digits, and the targets it trains on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitlab.data import NUM_CLASSES


@dataclass(frozen=True)
class Outliers:
    """What outlier exposure adds to the training digits: non-digit images (uniform targets), and digits
    drawn as uploads and brought back by imaging, as the negatives are (their own labels)."""

    negatives: np.ndarray
    imaged_digits: np.ndarray
    imaged_labels: np.ndarray


def with_outliers(images: np.ndarray, labels: np.ndarray, outliers: Outliers) -> tuple[np.ndarray, np.ndarray]:
    """Outlier exposure (Hendrycks et al. 2019): the digits, the imaged digits among them, with one-hot
    targets, and the non-digit images with uniform ones, so that the model learns to spread its probability
    over every digit for them."""
    images = np.concatenate([images, outliers.imaged_digits])
    labels = np.concatenate([labels, outliers.imaged_labels])
    negatives = outliers.negatives
    targets = np.zeros((len(labels) + len(negatives), NUM_CLASSES), np.float32)
    targets[np.arange(len(labels)), labels] = 1.0
    targets[len(labels):] = 1.0 / NUM_CLASSES
    return np.concatenate([images, negatives]), targets
