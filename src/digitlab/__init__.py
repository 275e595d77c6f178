"""digitlab: handwritten-digit classification on MNIST with Keras 3.

The public API mirrors the command line one to one::

    from digitlab import load_mnist, preprocess, build_model, train, evaluate
    (x_train, y_train), (x_test, y_test) = load_mnist()     # digitlab data
    run = train("mlp", epochs=10)                           # digitlab train --model mlp --epochs 10
    evaluation = evaluate(run)                              # digitlab evaluate RUN
    print(evaluation.accuracy, evaluation.macro["f1"])

Keras (and its backend) is imported only when a function that needs it is first used, so that
``import digitlab`` and the data functions stay fast.
"""

from importlib import import_module

from digitlab.data import (
    MNISTData,
    describe,
    inspect_dataset,
    load_dataset,
    load_mnist,
    preprocess,
    read_idx,
    to_images,
    write_idx,
)
from digitlab.errors import DataFormatError, DataUnavailableError, DigitlabError, InvalidArgument
from digitlab.version import __version__  # noqa: F401 - digitlab.__version__

# name -> module that defines it; imported on first access (PEP 562).
_LAZY = {
    "keras": "digitlab._keras",
    "build_model": "digitlab.models",
    "MODELS": "digitlab.models",
    "train": "digitlab.pipeline",
    "resume": "digitlab.pipeline",
    "train_ensemble": "digitlab.pipeline",
    "quickstart": "digitlab.pipeline",
    "TrainingSettings": "digitlab.training.settings",
    "evaluate": "digitlab.evaluation",
    "Evaluation": "digitlab.evaluation",
    "evaluate_ensemble": "digitlab.evaluation",
    "open_run": "digitlab.runs",
    "leaderboard": "digitlab.runs",
    "Run": "digitlab.runs",
    "Predictor": "digitlab.inference.predictor",
    "bytes_to_mnist": "digitlab.reading.imaging",
    "image_to_mnist": "digitlab.reading.imaging",
    "bytes_to_image": "digitlab.reading.imaging",
    "predict_paths": "digitlab.reading.files",
    "Reader": "digitlab.reading.numbers",
    "explain": "digitlab.inference.explain",
    "Explainer": "digitlab.inference.explain",
    "explain_paths": "digitlab.reading.files",
    "read_number": "digitlab.reading.numbers",
    "train_marks": "digitlab.reading.mark_training",
    "export_onnx": "digitlab.inference.export",
    "tune": "digitlab.tuning",
    "create_app": "digitlab.serving.app",
    "ServeConfig": "digitlab.serving.config",
}


# The names earlier releases gave two of imaging's entry points.
_RENAMED = {"load_image_file": "bytes_to_mnist", "to_mnist": "image_to_mnist"}


def __getattr__(name: str):
    name = _RENAMED.get(name, name)
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'digitlab' has no attribute {name!r}")


__all__ = [
    "DataFormatError",
    "DataUnavailableError",
    "DigitlabError",
    "InvalidArgument",
    "MNISTData",
    "describe",
    "inspect_dataset",
    "load_dataset",
    "load_mnist",
    "preprocess",
    "read_idx",
    "to_images",
    "write_idx",
    *_LAZY,
    *_RENAMED,
]
