"""The lesson's dense networks: ``linear`` (its first model), ``mlp`` (a hidden layer) and
``flatten-mlp`` (the same, with a Flatten layer taking 28x28 images so nobody flattens by hand)."""

from __future__ import annotations

from digitlab.data import IMAGE_SIDE, NUM_PIXELS
from digitlab.models.spec import ModelSpec, Parameter, keras_module, output_layer


def _dense_classifier(name: str, inputs: list, units: int, count: int, activation: str, dropout: float,
                      output_activation: str):
    """``inputs``, then ``count`` hidden Dense layers (each with optional dropout), then the 10 outputs."""
    keras = keras_module()
    hidden = []
    for _ in range(count):
        hidden.append(keras.layers.Dense(units, activation=activation))
        if dropout:
            hidden.append(keras.layers.Dropout(dropout))
    return keras.Sequential([*inputs, *hidden, output_layer(output_activation)], name=name)


def build_linear(output_activation: str = "sigmoid"):
    """The lesson's first network: 784 inputs straight into 10 sigmoid neurons."""
    keras = keras_module()
    return keras.Sequential([keras.Input((NUM_PIXELS,)), output_layer(output_activation)], name="linear")


def _hidden_layer_builder(name: str, takes_images: bool, why: str):
    """A builder of ``name``: hidden Dense layer(s) between the inputs and the 10 outputs, fed flattened
    784-pixel rows or (with ``takes_images``) 28x28 images through a Flatten layer."""

    def build(hidden_units: int = 128, hidden_layers: int = 1, activation: str = "relu", dropout: float = 0.0,
              output_activation: str = "softmax"):
        keras = keras_module()
        inputs = ([keras.Input((IMAGE_SIDE, IMAGE_SIDE)), keras.layers.Flatten()] if takes_images
                  else [keras.Input((NUM_PIXELS,))])
        return _dense_classifier(name.replace("-", "_"), inputs, hidden_units, hidden_layers, activation, dropout,
                                 output_activation)

    build.__name__ = build.__qualname__ = f"build_{name.replace('-', '_')}"
    build.__doc__ = why
    return build


build_mlp = _hidden_layer_builder("mlp", False, "The lesson's improvement: hidden layer(s) between the 784 inputs "
                                  "and the 10 outputs.")
build_flatten_mlp = _hidden_layer_builder("flatten-mlp", True, "The same network, but a Flatten layer takes 28x28 "
                                          "images so nobody flattens by hand.")


HIDDEN_LAYERS_SPACE = (
    Parameter("hidden_layers", "int", 1, 3),
    Parameter("hidden_units", "int", 32, 512, log=True),
    Parameter("activation", "categorical", choices=("relu", "gelu", "tanh", "sigmoid")),
    Parameter("dropout", "float", 0.0, 0.5),
)

SPECS = (
    ModelSpec("linear", "the lesson's first model: Dense(10, sigmoid) on 784 inputs", False, build_linear,
              {"epochs": 20, "batch_size": 32},
              (Parameter("output_activation", "categorical", choices=("sigmoid", "softmax")),), order=1),
    ModelSpec("mlp", "one hidden Dense(128, relu) layer, flattened input", False, build_mlp,
              {"epochs": 10, "batch_size": 32}, HIDDEN_LAYERS_SPACE, order=2),
    ModelSpec("flatten-mlp", "the mlp with a Flatten layer taking 28x28 images", True, build_flatten_mlp,
              {"epochs": 10, "batch_size": 32}, HIDDEN_LAYERS_SPACE, order=3),
)
