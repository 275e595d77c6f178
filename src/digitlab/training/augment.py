"""Data augmentation: small random rotations, zooms and shifts of the training digits, made fresh each epoch.

Handwriting varies in slant, size and position; showing the model slightly moved copies of each digit
teaches it that these do not change the label. Augmentation happens outside the model (so exported
models and inference are unaffected), on the CPU in a Keras ``PyDataset`` that prepares the next batch
while the backend trains on the current one. ``shifted_views`` serves test-time augmentation: the
views of each test image whose predictions are averaged.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from digitlab._keras import keras
from digitlab.data import IMAGE_SIDE
from digitlab.errors import InvalidArgument

MAX_ROTATION_DEGREES = 12.0  # at strength 1
MAX_ZOOM = 0.12
MAX_SHIFT_PIXELS = 2.5


def augment_images(images: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A randomly rotated, zoomed and shifted copy of each (n, 28, 28) image; labels are unchanged.

    ``strength`` in [0, 1] scales every range; 0 returns the images as they are.
    """
    if strength <= 0:
        return images
    if not 0 < strength <= 1:
        raise InvalidArgument(f"augmentation strength must be in [0, 1], got {strength}")
    count = len(images)
    angles = np.deg2rad(rng.uniform(-1, 1, count) * MAX_ROTATION_DEGREES * strength)
    zooms = 1.0 + rng.uniform(-1, 1, count) * MAX_ZOOM * strength
    shifts = rng.uniform(-1, 1, (count, 2)) * MAX_SHIFT_PIXELS * strength
    centre = np.array([(IMAGE_SIDE - 1) / 2, (IMAGE_SIDE - 1) / 2])
    output = np.empty_like(images)
    for index in range(count):
        cosine, sine = math.cos(angles[index]) / zooms[index], math.sin(angles[index]) / zooms[index]
        matrix = np.array([[cosine, -sine], [sine, cosine]])
        offset = centre - matrix @ (centre + shifts[index])
        output[index] = ndimage.affine_transform(images[index], matrix, offset=offset, order=1, mode="constant",
                                                 cval=0.0)
    return output


TEST_TIME_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # (rows, columns): the image and 1-px moves


def shift_images(images: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """(n, 28, 28) images moved down by ``rows`` and right by ``columns`` pixels, background filling the gap."""
    shifted = np.zeros_like(images)
    height, width = images.shape[1:]
    shifted[:, max(rows, 0):height + min(rows, 0), max(columns, 0):width + min(columns, 0)] = \
        images[:, max(-rows, 0):height + min(-rows, 0), max(-columns, 0):width + min(-columns, 0)]
    return shifted


def shifted_views(images: np.ndarray) -> list[np.ndarray]:
    """The views whose predictions test-time augmentation averages: each image and its 1-pixel shifts.

    A digit moved by a pixel is the same digit; averaging over such views smooths out a model's
    sensitivity to exact position, the one variation MNIST's centring leaves.
    """
    return [images if (rows, columns) == (0, 0) else shift_images(images, rows, columns)
            for rows, columns in TEST_TIME_SHIFTS]


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled batches of (augmented inputs, labels) for ``model.fit``, reshuffled every epoch."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, batch_size: int, strength: float, seed: int,
                 flatten: bool, **options):
        super().__init__(**options)
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise InvalidArgument(f"expected (n, 28, 28) float images, got {images.shape}")
        self.images, self.labels = images, labels
        self.batch_size, self.strength, self.flatten = batch_size, strength, flatten
        self.seed, self.epoch = seed, 0
        self.order = np.random.default_rng([seed, 0]).permutation(len(images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        # Each batch's randomness depends only on (seed, epoch, batch), so results do not depend on which
        # worker thread prepares which batch.
        rng = np.random.default_rng([self.seed, self.epoch, index])
        batch = augment_images(self.images[chosen], rng, self.strength)
        if self.flatten:
            batch = batch.reshape(len(batch), -1)
        return batch, self.labels[chosen]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))
