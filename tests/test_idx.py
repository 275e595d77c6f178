"""The IDX format: parsing against hand-built bytes, round trips, and every kind of bad file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from digitlab.data import encode_idx, parse_idx, read_idx, write_idx
from digitlab.errors import DataFormatError


def test_parses_hand_built_uint8_file():
    data = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2, 2, 3) + bytes(range(12))
    array = parse_idx(data)
    assert array.dtype == np.uint8
    assert array.shape == (2, 2, 3)
    assert array[1, 1, 2] == 11


def test_parses_big_endian_int32_and_float32():
    ints = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + struct.pack(">2i", -5, 70000)
    assert parse_idx(ints).tolist() == [-5, 70000]
    floats = bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + struct.pack(">f", 1.5)
    assert parse_idx(floats).tolist() == [1.5]


def test_encode_matches_the_standard_label_header():
    labels = np.array([5, 0, 4], dtype=np.uint8)
    assert encode_idx(labels) == b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x05\x00\x04"


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
    )
)
def test_round_trip(array):
    decoded = parse_idx(encode_idx(array))
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


def test_gzipped_and_raw_files_read_the_same(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "raw-idx3-ubyte", images)
    write_idx(tmp_path / "packed-idx3-ubyte.gz", images)
    packed = (tmp_path / "packed-idx3-ubyte.gz").read_bytes()
    assert gzip.decompress(packed) == (tmp_path / "raw-idx3-ubyte").read_bytes()
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-idx3-ubyte"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed-idx3-ubyte.gz"), images)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"\x12\x34\x08\x01\x00\x00\x00\x01\x05", "bad magic number 0x12340801"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "bad magic number"),  # unknown type code
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x04\x01\x02", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "trailing bytes"),
    ],
)
def test_bad_files_are_named_and_explained(data, message):
    with pytest.raises(DataFormatError, match=message) as caught:
        parse_idx(data, "some-file")
    assert str(caught.value).startswith("some-file: ")


def test_corrupt_gzip_is_reported(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(encode_idx(np.zeros(100, np.uint8)))[:30])
    with pytest.raises(DataFormatError, match=r"labels.gz: corrupt gzip"):
        read_idx(path)


def test_unreadable_file_is_reported(tmp_path):
    with pytest.raises(DataFormatError, match="cannot read"):
        read_idx(tmp_path / "missing")


def test_encode_refuses_unsupported_dtype():
    with pytest.raises(ValueError, match="cannot store dtype"):
        encode_idx(np.zeros(3, dtype=np.complex64))
