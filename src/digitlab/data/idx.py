"""The IDX file format: a big-endian header (0x00 0x00, a type code, the number of dimensions, the
dimensions) followed by the raw array, as MNIST and its relatives are distributed.

Reading tells gzipped files from plain ones by their content, not their name, since both circulate
under both names.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from digitlab.errors import DataFormatError, InvalidArgument
from digitlab.fileio import atomic_write_bytes

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
        raise InvalidArgument(f"IDX cannot store dtype {array.dtype}; "
                              "use uint8, int8, int16, int32, float32 or float64")
    if array.ndim == 0 or array.ndim > 255:
        raise InvalidArgument(f"IDX needs an array of 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()


def gunzip_if_needed(raw: bytes, name: str) -> bytearray:
    """The bytes as they are, or decompressed when they start with the gzip magic number."""
    if raw[:2] != b"\x1f\x8b":
        return bytearray(raw)
    try:
        return bytearray(gzip.decompress(raw))
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise DataFormatError(f"{name}: corrupt gzip data ({error})") from None


def read_file_bytes(path: Path) -> bytearray:
    """A file's bytes, decompressed if gzipped, or a DataFormatError naming the file."""
    try:
        return gunzip_if_needed(path.read_bytes(), str(path))
    except OSError as error:
        raise DataFormatError(f"{path}: cannot read ({error.strerror or error})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or not."""
    path = Path(path)
    return parse_idx(read_file_bytes(path), str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, atomically; a ``.gz`` suffix gzips it."""
    data = encode_idx(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)
