"""MNIST-format data: the IDX format (idx.py), where the data comes from (sources.py), and loading,
facts and preprocessing (dataset.py). The names most code needs are re-exported here."""

from digitlab.data.dataset import (
    IMAGE_SIDE,
    NUM_CLASSES,
    NUM_PIXELS,
    ExtraData,
    MNISTData,
    describe,
    inspect_dataset,
    load_dataset,
    load_extra_data,
    load_idx_directory,
    load_mnist,
    preprocess,
    to_images,
)
from digitlab.data.idx import encode_idx, parse_idx, read_idx, write_idx
from digitlab.data.sources import CANONICAL_SHA256, PART_FILES, cache_directory

__all__ = [
    "CANONICAL_SHA256",
    "IMAGE_SIDE",
    "NUM_CLASSES",
    "NUM_PIXELS",
    "PART_FILES",
    "ExtraData",
    "MNISTData",
    "cache_directory",
    "describe",
    "inspect_dataset",
    "encode_idx",
    "load_dataset",
    "load_extra_data",
    "load_idx_directory",
    "load_mnist",
    "parse_idx",
    "preprocess",
    "read_idx",
    "to_images",
    "write_idx",
]
