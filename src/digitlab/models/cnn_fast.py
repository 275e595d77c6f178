"""``cnn-fast``: the quickest way to 99% test accuracy (see benchmarks/README.md)."""

from __future__ import annotations

from digitlab.data import IMAGE_SIDE
from digitlab.models.spec import PADDINGS, ModelSpec, Parameter, keras_module, output_layer


def build_fast_cnn(filters: int = 16, first_kernel_size: int = 5, first_padding: str = "valid",
                   dense_units: int = 128, output_activation: str = "softmax"):
    """A wide first convolution, max-pool, a second convolution, max-pool, a small hidden dense layer and
    the 10 outputs (no dropout: it slows down early learning). The defaults are the cheapest recipe that
    reached 99% on every seed tried (benchmarks/README.md, recipes): 16 filters, and a "valid" first
    convolution, whose 24x24 output makes the second convolution ~27% cheaper than "same" padding's
    28x28. ``dense_units`` 0 drops the hidden layer.
    """
    keras = keras_module()
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((IMAGE_SIDE, IMAGE_SIDE)),
            layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1)),
            layers.Conv2D(filters, first_kernel_size, padding=first_padding, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(2 * filters, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            *([layers.Dense(dense_units, activation="relu")] if dense_units else []),
            output_layer(output_activation),
        ],
        name="cnn_fast",
    )


SPECS = (
    ModelSpec(
        "cnn-fast", "two narrow conv + max-pool blocks and a small dense layer: 99% in 2 epochs", True,
        build_fast_cnn,
        {"epochs": 2, "batch_size": 128, "learning_rate": 8e-3, "schedule": "cosine", "precision": "auto"},
        (
            Parameter("filters", "categorical", choices=(16, 24, 32, 48)),
            Parameter("first_kernel_size", "categorical", choices=(3, 5, 7)),
            Parameter("first_padding", "categorical", choices=PADDINGS),
        ),
        order=5,
    ),
)
