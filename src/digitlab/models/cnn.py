"""``cnn``: the accurate convolutional network (two conv + max-pool blocks and a dense head)."""

from __future__ import annotations

from digitlab.data import IMAGE_SIDE
from digitlab.models.spec import ModelSpec, Parameter, keras_module, output_layer


def build_cnn(
    filters: int = 32,
    kernel_size: int = 3,
    convs_per_block: int = 1,
    dense_units: int = 128,
    dropout: float = 0.4,
    activation: str = "relu",
    output_activation: str = "softmax",
    normalization: str = "none",
):
    """Two conv blocks (filters, 2x filters) of ``convs_per_block`` convolutions, each block followed by
    max-pooling, then a dense head.

    The defaults are sized for a 2-core CPU: a few seconds per epoch, >= 99.2%. ``convs_per_block=2``
    (with augmentation and bfloat16) is the accurate recipe: see benchmarks/README.md. ``normalization``
    "batch" puts batch normalization between each convolution and its activation (the convolution then
    needs no bias); what it costs per epoch on each CPU is `python -m benchmarks.epoch_cost`.
    """
    keras = keras_module()
    layers = keras.layers

    def convolution(width: int) -> list:
        if normalization == "batch":
            return [layers.Conv2D(width, kernel_size, padding="same", use_bias=False), layers.BatchNormalization(),
                    layers.Activation(activation)]
        return [layers.Conv2D(width, kernel_size, padding="same", activation=activation)]

    def block(width: int) -> list:
        return [*(layer for _ in range(convs_per_block) for layer in convolution(width)), layers.MaxPooling2D()]

    return keras.Sequential(
        [
            keras.Input((IMAGE_SIDE, IMAGE_SIDE)),
            layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1)),
            *block(filters),
            *block(2 * filters),
            layers.Flatten(),
            layers.Dropout(dropout),
            layers.Dense(dense_units, activation=activation),
            layers.Dropout(dropout),
            output_layer(output_activation),
        ],
        name="cnn",
    )


SPECS = (
    ModelSpec(
        "cnn", "two conv + max-pool blocks and a dense head", True, build_cnn,
        {"epochs": 6, "batch_size": 128, "learning_rate": 3e-3, "schedule": "cosine", "outlier_exposure": 0.1,
         "augment": 0.5},
        (
            Parameter("filters", "categorical", choices=(16, 24, 32, 48)),
            Parameter("kernel_size", "categorical", choices=(3, 5)),
            Parameter("convs_per_block", "categorical", choices=(1, 2)),
            Parameter("dense_units", "int", 64, 256, log=True),
            Parameter("dropout", "float", 0.0, 0.5),
            Parameter("activation", "categorical", choices=("relu", "gelu")),
            Parameter("augment", "float", 0.0, 1.0, target="training"),
        ),
        order=4,
    ),
)
