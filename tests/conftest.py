"""Shared fixtures: small synthetic MNIST-format datasets that the tests write themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitlab.data import PART_FILES, write_idx


def make_arrays(train: int = 60, test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Random 28x28 uint8 images with every label 0-9 represented."""
    generator = np.random.default_rng(seed)
    return {
        "train_images": generator.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(train) % 10).astype(np.uint8),
        "test_images": generator.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(test) % 10).astype(np.uint8),
    }


def write_dataset(directory: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for part, stem in PART_FILES.items():
        write_idx(directory / (stem + (".gz" if gz else "")), arrays[part])
    return directory


@pytest.fixture
def synthetic_arrays() -> dict[str, np.ndarray]:
    return make_arrays()


@pytest.fixture
def synthetic_dir(tmp_path: Path, synthetic_arrays) -> Path:
    return write_dataset(tmp_path / "idx", synthetic_arrays)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path: Path):
    """No test reads the user's DIGITLAB_DATA_DIR or reaches a real mirror by accident."""
    monkeypatch.delenv("DIGITLAB_DATA_DIR", raising=False)
    monkeypatch.setenv("DIGITLAB_MIRRORS", "")
