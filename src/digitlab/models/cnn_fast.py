"""``cnn-fast``: the quickest way to 99% test accuracy (see benchmarks/README.md)."""

from __future__ import annotations

from digitlab.data import IMAGE_SIDE
from digitlab.models.spec import ModelSpec, Parameter, keras_module, output_layer


def build_fast_cnn(filters: int = 32, first_kernel_size: int = 5, dense_units: int = 0,
                   output_activation: str = "softmax"):
    """A wide first convolution, max-pool, a second convolution, max-pool, and the 10 outputs straight
    after (no dropout: it slows down early learning). ``dense_units`` > 0 puts a hidden dense layer
    before the outputs: by default none, the recipe benchmark measures what one is worth.
    """
    keras = keras_module()
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((IMAGE_SIDE, IMAGE_SIDE)),
            layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1)),
            layers.Conv2D(filters, first_kernel_size, padding="same", activation="relu"),
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
        "cnn-fast", "two narrow conv + max-pool blocks, no dense head: 99% in 2-3 epochs", True, build_fast_cnn,
        {"epochs": 3, "batch_size": 256, "learning_rate": 8e-3, "schedule": "cosine", "precision": "auto"},
        (
            Parameter("filters", "categorical", choices=(16, 24, 32, 48)),
            Parameter("first_kernel_size", "categorical", choices=(3, 5, 7)),
        ),
        order=5,
    ),
)
