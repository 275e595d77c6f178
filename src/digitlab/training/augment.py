"""Data augmentation: small random rotations, zooms and shifts of the training digits, made fresh each epoch,
and with the ``writers`` style also how people's hands differ from MNIST's writers.

Handwriting varies in slant, size and position; showing the model slightly moved copies of each digit
teaches it that these do not change the label. The ``writers`` style adds, each to part of every batch,
what a new writer's digits differ in: elastic distortion (Simard et al. 2003: a smoothed random
displacement field), slant (a shear), narrow and wide hands (the aspect ratio), a thinner or thicker pen,
digits that fill their frame as scanners and forms crop them, and a loss of resolution or a blur.

Augmentation happens outside the model (so exported models and inference are unaffected), on the CPU in
a Keras ``PyDataset`` that prepares the next batch while the backend trains on the current one.
``shifted_views`` serves test-time augmentation: the views of each test image whose predictions are averaged.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from digitlab._keras import keras
from digitlab.data import IMAGE_SIDE
from digitlab.errors import InvalidArgument
from digitlab.training.settings import AUGMENT_STYLES

MAX_ROTATION_DEGREES = 12.0  # at strength 1
MAX_ZOOM = 0.12
MAX_SHIFT_PIXELS = 2.5
# The writers style, at strength 1: each change is applied to this share of the images, ...
WRITER_SHARE = 0.5
ELASTIC_ALPHA, ELASTIC_SIGMA = 34.0, 4.0  # Simard et al.'s displacement scale and smoothing (pixels)
MAX_SLANT = 0.45  # shear: horizontal shift per pixel of height
MAX_ASPECT = 0.3  # widths 0.7-1.3 of the height's scale
MAX_FILL = 0.3  # a digit cropped to fill its frame: up to 1.3x larger
BLUR_SIGMA = (0.5, 1.1)


def augment_images(images: np.ndarray, rng: np.random.Generator, strength: float,
                   style: str = "geometric") -> np.ndarray:
    """A randomly rotated, zoomed and shifted copy of each (n, 28, 28) image (``style`` "writers": also
    distorted, slanted, narrowed or widened, re-inked and blurred; see the module); labels are unchanged.

    ``strength`` in [0, 1] scales every range; 0 returns the images as they are.
    """
    if strength <= 0:
        return images
    if not 0 < strength <= 1:
        raise InvalidArgument(f"augmentation strength must be in [0, 1], got {strength}")
    if style not in AUGMENT_STYLES:
        raise InvalidArgument(f"unknown augmentation style {style!r}; choose one of: {', '.join(AUGMENT_STYLES)}")
    count = len(images)
    angles = np.deg2rad(rng.uniform(-1, 1, count) * MAX_ROTATION_DEGREES * strength)
    zooms = 1.0 + rng.uniform(-1, 1, count) * MAX_ZOOM * strength
    shifts = rng.uniform(-1, 1, (count, 2)) * MAX_SHIFT_PIXELS * strength
    # Each output pixel (row, column) samples the input at matrix @ (pixel - centre - shift) + centre.
    cosine, sine = np.cos(angles) / zooms, np.sin(angles) / zooms
    matrices = np.stack([np.stack([cosine, -sine], -1), np.stack([sine, cosine], -1)], 1)  # (n, 2, 2)
    writers = style == "writers"
    if writers:
        matrices = matrices @ _writer_matrices(rng, count, strength)
    centre = (IMAGE_SIDE - 1) / 2
    grid = np.stack(np.meshgrid(np.arange(IMAGE_SIDE), np.arange(IMAGE_SIDE), indexing="ij"), -1) - centre
    source = np.einsum("nij,nrcj->nrci", matrices, grid[None] - shifts[:, None, None, :]) + centre
    if writers:
        source += _elastic_displacements(rng, count, strength)
    batch = np.broadcast_to(np.arange(count, dtype=np.float64)[:, None, None], source.shape[:3])
    output = ndimage.map_coordinates(images, [batch, source[..., 0], source[..., 1]], order=1, mode="constant",
                                     cval=0.0).astype(images.dtype, copy=False)
    return _restyled_ink(output, rng, strength) if writers else output


def _chosen(rng: np.random.Generator, count: int, strength: float) -> np.ndarray:
    return rng.random(count) < WRITER_SHARE * strength


def _writer_matrices(rng: np.random.Generator, count: int, strength: float) -> np.ndarray:
    """Slant, aspect ratio and frame filling, as (n, 2, 2) maps from output to input (row, column)."""
    slant = np.where(_chosen(rng, count, strength), rng.uniform(-1, 1, count) * MAX_SLANT * strength, 0.0)
    aspect = np.where(_chosen(rng, count, strength), 1 + rng.uniform(-1, 1, count) * MAX_ASPECT * strength, 1.0)
    fill = np.where(_chosen(rng, count, strength), 1 + rng.uniform(0, 1, count) * MAX_FILL * strength, 1.0)
    matrices = np.zeros((count, 2, 2))
    matrices[:, 0, 0] = 1 / fill
    matrices[:, 1, 1] = 1 / (fill * aspect)
    matrices[:, 1, 0] = slant / fill  # a column shift that grows down the rows: a slanted hand
    return matrices


def _elastic_displacements(rng: np.random.Generator, count: int, strength: float) -> np.ndarray:
    """(n, 28, 28, 2) smoothed random displacements (Simard et al. 2003); zero for the images not chosen."""
    field = ndimage.gaussian_filter(rng.uniform(-1, 1, (count, IMAGE_SIDE, IMAGE_SIDE, 2)),
                                    sigma=(0, ELASTIC_SIGMA, ELASTIC_SIGMA, 0))
    return field * (ELASTIC_ALPHA * strength) * _chosen(rng, count, strength)[:, None, None, None]


def _restyled_ink(images: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A thicker pen for some images, a thinner one for others, and a loss of resolution or a blur for some."""
    count = len(images)
    pen = rng.random(count)
    thicker, thinner = pen < WRITER_SHARE * strength / 2, pen > 1 - WRITER_SHARE * strength / 2
    if thicker.any():
        images[thicker] = ndimage.grey_dilation(images[thicker], size=(1, 2, 2))
    if thinner.any():  # half the edge pixels' ink: a thin pen, without breaking 1-2 px strokes
        images[thinner] = (images[thinner] + ndimage.grey_erosion(images[thinner], size=(1, 2, 2))) / 2
    blurred = _chosen(rng, count, strength)
    if blurred.any():
        sigma = rng.uniform(*BLUR_SIGMA)
        images[blurred] = ndimage.gaussian_filter(images[blurred], sigma=(0, sigma, sigma))
        images[blurred] /= np.maximum(images[blurred].max(axis=(1, 2), keepdims=True), 1e-6)
    return images


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
                 flatten: bool, style: str = "geometric", **options):
        super().__init__(**options)
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise InvalidArgument(f"expected (n, 28, 28) float images, got {images.shape}")
        self.images, self.labels = images, labels
        self.batch_size, self.strength, self.flatten, self.style = batch_size, strength, flatten, style
        self.seed, self.epoch = seed, 0
        self.order = np.random.default_rng([seed, 0]).permutation(len(images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        # Each batch's randomness depends only on (seed, epoch, batch), so results do not depend on which
        # worker thread prepares which batch.
        rng = np.random.default_rng([self.seed, self.epoch, index])
        batch = augment_images(self.images[chosen], rng, self.strength, self.style)
        if self.flatten:
            batch = batch.reshape(len(batch), -1)
        return batch, self.labels[chosen]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))
