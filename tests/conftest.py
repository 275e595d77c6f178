"""Shared fixtures and helpers: small synthetic MNIST-format datasets that the tests write themselves, the one
model trained on real MNIST that every test needing one shares, the CLI called in-process, and a real server
started and waited for.

One trained model per session: training is what a test suite on 2 cores spends its time on, so the real-MNIST
model (and its mark model) is made once, by `mnist_run` and `marked_mnist_run`, and each test that reads real
digits takes it from there. A test runs the CLI as a subprocess only where the process itself is what it checks
(Ctrl-C, kill -9, a closed pipe, a server); elsewhere `run_cli` calls `digitlab.cli.main` in this process and
saves the second Keras import.
"""

from __future__ import annotations

import inspect
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitlab.data import PART_FILES, write_idx

# `make check` runs the tests that train nothing (pytest -m "not trains"). A test trains when it takes a trained
# model from a fixture (these, or one built on them) or calls a training entry point itself.
TRAINED_MODEL_FIXTURES = frozenset({"exported_run", "mnist_run", "marked_mnist_run", "abstaining_run"})
TRAINING_CALLS = ("train(", "train_ensemble(", "tune(", "train_marks(", "quickstart", '"train"', "*TRAIN", '"tune"',
                  "train-marks", "execute(")


# The real-MNIST model is trained once per test process: with `pytest -n 2` (pytest-xdist, as make test runs),
# the tests that read it go to the same worker (--dist loadgroup), and the rest are shared out.
MNIST_MODEL_FIXTURES = frozenset({"mnist_run", "marked_mnist_run"})


def pytest_collection_modifyitems(items):
    for item in items:
        source = inspect.getsource(item.function) if hasattr(item, "function") else ""
        if TRAINED_MODEL_FIXTURES & set(item.fixturenames) or any(call in source for call in TRAINING_CALLS):
            item.add_marker(pytest.mark.trains)
        if MNIST_MODEL_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.xdist_group("mnist-model"))
        elif "abstaining_run" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("abstaining-model"))


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


def make_learnable_arrays(train: int = 600, test: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Digits a model can actually learn: class k lights up a 6x6 block at its own place, plus noise."""
    generator = np.random.default_rng(seed)

    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = (np.arange(count) % 10).astype(np.uint8)
        generator.shuffle(labels)
        images = generator.integers(0, 60, (count, 28, 28), dtype=np.uint8)
        for index, label in enumerate(labels):
            row, column = block_place(label)
            images[index, row:row + 6, column:column + 6] = 255
        return images, labels

    train_images, train_labels = split(train)
    test_images, test_labels = split(test)
    return {"train_images": train_images, "train_labels": train_labels,
            "test_images": test_images, "test_labels": test_labels}


@pytest.fixture
def learnable_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "learnable", make_learnable_arrays())


@pytest.fixture
def learnable_dataset(learnable_dir):
    from digitlab.data import load_idx_directory

    return load_idx_directory(learnable_dir)


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory):
    """A small trained and ONNX-exported run (linear on the learnable synthetic digits). It holds nothing out
    (val_split 0), so it is not calibrated and withholds no reading: the tests of serving see every answer."""
    from digitlab.data import load_idx_directory
    from digitlab.inference.export import export_onnx
    from digitlab.pipeline import train

    directory = write_dataset(tmp_path_factory.mktemp("data") / "learnable", make_learnable_arrays())
    dataset = load_idx_directory(directory)
    run = train("linear", dataset=dataset, out=tmp_path_factory.mktemp("runs") / "linear", epochs=2,
                learning_rate=0.01, val_split=0.0, verbose=0)
    export_onnx(run, check_images=dataset.x_test)
    return run


def block_place(label: int) -> tuple[int, int]:
    """Top row and left column of the learnable synthetic digit ``label``'s 6x6 block."""
    return 3 + 8 * (label // 4), 2 + 6 * (label % 4)


def block_image(label: int) -> np.ndarray:
    """The learnable synthetic digit ``label`` without noise: its block lit on black, 28x28 uint8."""
    image = np.zeros((28, 28), np.uint8)
    row, column = block_place(label)
    image[row:row + 6, column:column + 6] = 255
    return image


def block_digit(label: int, size: int = 28, dark_on_light: bool = False) -> bytes:
    """The learnable synthetic digit `label` (a lit block at its own place) as PNG bytes.

    At 28x28 white-on-black it is already MNIST-style and passes through the imaging pipeline as it is,
    so its position, which is what the synthetic classes encode, survives.
    """
    image = block_image(label)
    picture = Image.fromarray(255 - image if dark_on_light else image).resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _postgres_binaries() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server of our own (initdb in a temporary directory, a free port, trust auth), shared
    by the session; calling it with a name creates that database and gives its URL."""
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server installed (apt-get install postgresql; .ci/run does this in CI)")
    as_user: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="digitlab-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(directory, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = directory / "data"
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "digitlab", "-A", "trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-w", "-o",
                    f"-p {port} -k {directory} -c listen_addresses=127.0.0.1", "start"], check=True,
                   capture_output=True)

    def database(name: str) -> str:
        subprocess.run([*as_user, str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "digitlab",
                        name], check=True, capture_output=True)
        return f"postgresql://digitlab:unused-password@127.0.0.1:{port}/{name}"

    yield database
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
    shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# The CLI in this process, and a real server in another


@dataclass(frozen=True)
class CliResult:
    """What a command printed and returned: the fields of subprocess.CompletedProcess that the tests read."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*arguments: str) -> CliResult:
    """``digitlab ARGUMENTS`` called in-process: its exit code and what it wrote to stdout and stderr."""
    from digitlab import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            code = cli.main([str(argument) for argument in arguments])
        except SystemExit as exit:  # argparse's usage errors (2) and --help (0)
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def api_client(app, **options):
    """A TestClient that calls the app as a browser on this machine would (Host: localhost): the names a
    server answers by default."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://localhost", **options)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(run_path, *options: str, environment: dict[str, str] | None = None, ready: str = "/healthz",
                   timeout: float = 90) -> Iterator[tuple[subprocess.Popen, str]]:
    """``digitlab serve RUN OPTIONS`` on a free port, once it answers ``ready``: (the process, its URL). Its output
    goes to a file (a pipe nobody reads would fill and stall it) and is shown if it fails to start."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", str(run_path), "--port", str(port),
                                    *options], env=environment, stdout=log, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(url + ready, timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        pytest.fail(f"the server did not start: {log.read()[-3000:]}")
                    time.sleep(0.1)
            yield process, url
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


# ------------------------------------------------------------------------------------------------
# One model trained on real MNIST, shared by every test that reads real digits


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST, through the real source chain (cached after the first load)."""
    from digitlab import load_dataset

    return load_dataset(verbose=False)


@pytest.fixture(scope="session")
def mnist_run(mnist, tmp_path_factory):
    """A cnn-fast trained for one epoch on all of real MNIST (about 98.5% on its test set) and exported: good
    enough to read hand-drawn digits and numbers and to explain its readings. Without a mark model."""
    from digitlab.inference.export import export_onnx
    from digitlab.pipeline import train

    run = train("cnn-fast", dataset=mnist, out=tmp_path_factory.mktemp("runs") / "cnn-fast", epochs=1,
                val_split=0.0, verbose=0)
    export_onnx(run, check_images=mnist.x_test[:200])
    return run


@pytest.fixture(scope="session")
def abstaining_run(mnist, tmp_path_factory):
    """A cnn-fast that says "not a digit" and "not sure": trained with outlier exposure on 20,000 real MNIST
    digits for two epochs, calibrated on the digits it held out, and exported."""
    from digitlab.inference.export import export_onnx
    from digitlab.pipeline import train

    run = train("cnn-fast", dataset=mnist, out=tmp_path_factory.mktemp("runs") / "abstaining", epochs=2,
                subset=20000, val_split=0.1, outlier_exposure=0.15, verbose=0)
    export_onnx(run, check_images=mnist.x_test[:200])
    return run


@pytest.fixture(scope="session")
def marked_mnist_run(mnist_run, tmp_path_factory):
    """A copy of ``mnist_run`` given a mark model by the CLI's train-marks (the one test of that command) and
    the JSON it printed."""
    import json

    from digitlab.runs import open_run

    copy = tmp_path_factory.mktemp("marked") / "cnn-fast"
    shutil.copytree(mnist_run.path, copy)
    result = run_cli("train-marks", copy, "--numbers", "1500", "--epochs", "4", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    return open_run(copy), json.loads(result.stdout)
