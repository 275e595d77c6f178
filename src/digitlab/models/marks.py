"""The number reader's mark model (see ``inference/marks.py``): a small CNN that tells whether a piece of ink
is exactly one whole digit. It is not one of the digit classifiers of the registry; ``digitlab train-marks``
trains it (``reading/mark_training.py``)."""

from __future__ import annotations

from digitlab.models.spec import keras_module


def build_mark_model():
    """A small CNN: 28x28 -> the log-odds that it is not one whole digit."""
    keras = keras_module()
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1),  # log-odds: the reader needs log(1 - p) where p rounds to 1
    ])
