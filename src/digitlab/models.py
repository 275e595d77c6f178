"""The model registry: a name maps to a builder of a ``keras.Sequential`` and its defaults.

The names follow the lesson: ``linear`` is its first network, ``mlp`` adds the hidden layer,
``flatten-mlp`` lets a ``Flatten`` layer take the 28x28 images, and ``cnn`` is the accurate one.
``cnn-fast`` is the quickest to reach 99% test accuracy (see benchmarks/README.md).
Builders take keyword hyper-parameters only, validated here so that a typo fails with a message
that lists what is allowed, before any training starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitlab.data import IMAGE_SIDE, NUM_CLASSES, NUM_PIXELS, preprocess

MODEL_NAMES = ("linear", "mlp", "flatten-mlp", "cnn", "cnn-fast")
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "elu", "selu", "swish")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
PRECISIONS = ("float32", "bfloat16", "auto")  # training arithmetic; see training.precision_policy


@dataclass(frozen=True)
class ModelSpec:
    """A named architecture: how to build it, what it eats, and how it trains by default."""

    name: str
    summary: str
    takes_images: bool  # True: (n, 28, 28) input; False: flattened (n, 784)
    builder: Callable[..., Any]
    hyper_defaults: dict[str, Any]
    training_defaults: dict[str, Any] = field(default_factory=dict)

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (n, 28, 28) -> the float32 input this model expects."""
        return preprocess(images, flatten=not self.takes_images)


# ------------------------------------------------------------------------------------------------
# Builders


def _keras():
    """Keras is imported on first use, so that listing models or parsing options stays instant."""
    from digitlab._keras import keras

    return keras


def _outputs(output_activation: str):
    """The 10-way output layer. It computes in float32 even under mixed precision: a softmax in bfloat16
    rounds small probabilities away and makes the loss noisy."""
    return _keras().layers.Dense(NUM_CLASSES, activation=output_activation, dtype="float32")


def _dense_classifier(name: str, inputs: list, units: int, count: int, activation: str, dropout: float,
                      output_activation: str):
    """``inputs``, then ``count`` hidden Dense layers (each with optional dropout), then the 10 outputs."""
    keras = _keras()
    hidden = []
    for _ in range(count):
        hidden.append(keras.layers.Dense(units, activation=activation))
        if dropout:
            hidden.append(keras.layers.Dropout(dropout))
    return keras.Sequential([*inputs, *hidden, _outputs(output_activation)], name=name)


def build_linear(output_activation: str = "sigmoid"):
    """The lesson's first network: 784 inputs straight into 10 sigmoid neurons."""
    keras = _keras()
    return keras.Sequential([keras.Input((NUM_PIXELS,)), _outputs(output_activation)], name="linear")


def build_mlp(
    hidden_units: int = 128,
    hidden_layers: int = 1,
    activation: str = "relu",
    dropout: float = 0.0,
    output_activation: str = "softmax",
):
    """The lesson's improvement: hidden layer(s) between the 784 inputs and the 10 outputs."""
    keras = _keras()
    return _dense_classifier("mlp", [keras.Input((NUM_PIXELS,))], hidden_units, hidden_layers, activation, dropout,
                             output_activation)


def build_flatten_mlp(
    hidden_units: int = 128,
    hidden_layers: int = 1,
    activation: str = "relu",
    dropout: float = 0.0,
    output_activation: str = "softmax",
):
    """The same network, but a Flatten layer takes 28x28 images so nobody flattens by hand."""
    keras = _keras()
    return _dense_classifier("flatten_mlp", [keras.Input((IMAGE_SIDE, IMAGE_SIDE)), keras.layers.Flatten()],
                             hidden_units, hidden_layers, activation, dropout, output_activation)


def build_cnn(
    filters: int = 32,
    kernel_size: int = 3,
    convs_per_block: int = 1,
    dense_units: int = 128,
    dropout: float = 0.4,
    activation: str = "relu",
    output_activation: str = "softmax",
):
    """Two conv blocks (filters, 2x filters) of ``convs_per_block`` convolutions, each block followed by
    max-pooling, then a dense head.

    The defaults are sized for a 2-core CPU: a few seconds per epoch, >= 99.2%. ``convs_per_block=2``
    (with augmentation and bfloat16) is the accurate recipe: see benchmarks/README.md.
    """
    keras = _keras()
    layers = keras.layers

    def block(width: int) -> list:
        convs = [layers.Conv2D(width, kernel_size, padding="same", activation=activation)
                 for _ in range(convs_per_block)]
        return [*convs, layers.MaxPooling2D()]

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
            _outputs(output_activation),
        ],
        name="cnn",
    )


def build_fast_cnn(filters: int = 32, first_kernel_size: int = 5, output_activation: str = "softmax"):
    """The quickest way to 99%: a wide first convolution, max-pool, a second convolution, max-pool, and
    the 10 outputs straight after (no hidden dense layer, no dropout: both slow down early learning).
    """
    keras = _keras()
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
            _outputs(output_activation),
        ],
        name="cnn_fast",
    )


def _defaults(builder: Callable) -> dict[str, Any]:
    import inspect

    return {name: p.default for name, p in inspect.signature(builder).parameters.items()}


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("linear", "the lesson's first model: Dense(10, sigmoid) on 784 inputs", False, build_linear,
                  _defaults(build_linear), {"epochs": 20, "batch_size": 32}),
        ModelSpec("mlp", "one hidden Dense(128, relu) layer, flattened input", False, build_mlp,
                  _defaults(build_mlp), {"epochs": 10, "batch_size": 32}),
        ModelSpec("flatten-mlp", "the mlp with a Flatten layer taking 28x28 images", True, build_flatten_mlp,
                  _defaults(build_flatten_mlp), {"epochs": 10, "batch_size": 32}),
        ModelSpec("cnn", "two conv + max-pool blocks and a dense head", True, build_cnn,
                  _defaults(build_cnn), {"epochs": 6, "batch_size": 128, "learning_rate": 3e-3,
                                         "schedule": "cosine"}),
        ModelSpec("cnn-fast", "two narrow conv + max-pool blocks, no dense head: 99% in 2-3 epochs", True,
                  build_fast_cnn, _defaults(build_fast_cnn),
                  {"epochs": 3, "batch_size": 256, "learning_rate": 8e-3, "schedule": "cosine",
                   "precision": "auto"}),
    )
}


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def validate_hyper(name: str, hyper: dict[str, Any]) -> dict[str, Any]:
    """The full hyper-parameter dict for ``name`` (defaults filled in), or a ValueError saying what is wrong."""
    spec = get_spec(name)
    unknown = sorted(set(hyper) - set(spec.hyper_defaults))
    if unknown:
        raise ValueError(
            f"model {name!r} has no hyper-parameter {', '.join(unknown)}; "
            f"it takes: {', '.join(f'{k}={v}' for k, v in spec.hyper_defaults.items())}"
        )
    merged = {**spec.hyper_defaults, **hyper}
    for key, value in merged.items():
        if key in ("hidden_units", "hidden_layers", "filters", "kernel_size", "dense_units",
                   "convs_per_block", "first_kernel_size"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key} must be a whole number >= 1, got {value!r}")
        elif key == "dropout":
            if not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"dropout must be in [0, 1), got {value!r}")
        elif key == "activation" and value not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {value!r}")
        elif key == "output_activation" and value not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {', '.join(OUTPUT_ACTIVATIONS)}, got {value!r}")
    return merged


def build_model(name: str, **hyper: Any):
    """A fresh, uncompiled ``keras.Sequential`` for the named architecture."""
    return get_spec(name).builder(**validate_hyper(name, hyper))


def make_optimizer(name: str, learning_rate):
    """Adam as in the lesson; SGD with Nesterov momentum 0.9; RMSprop. ``learning_rate`` may be a schedule."""
    keras = _keras()
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


def compile_model(model, optimizer: str = "adam", learning_rate=1e-3):
    """Compile as the lesson does: sparse categorical cross-entropy and accuracy."""
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
