"""digitlab: handwritten-digit classification on MNIST with Keras 3.

The public API mirrors the command line one to one::

    from digitlab import load_mnist, preprocess
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train_flat = preprocess(x_train)          # float32 in [0, 1], shape (60000, 784)
"""

from digitlab.data import (
    MNISTData,
    describe,
    load_dataset,
    load_mnist,
    preprocess,
    read_idx,
    to_images,
    write_idx,
)
from digitlab.errors import DataFormatError, DataUnavailableError, DigitlabError

__version__ = "0.1.0"

__all__ = [
    "DataFormatError",
    "DataUnavailableError",
    "DigitlabError",
    "MNISTData",
    "describe",
    "load_dataset",
    "load_mnist",
    "preprocess",
    "read_idx",
    "to_images",
    "write_idx",
]
