"""What an architecture declares: how to build it, what it eats, how it trains by default, and the
hyper-parameters worth searching. Every architecture module fills in one ``ModelSpec`` per model.

Hyper-parameters are checked generically from the builder's defaults, so that a typo fails with a
message listing what is allowed before any training starts: a whole-number default takes whole
numbers >= 1 (0 too for the sizes in ``ZERO_MEANS_NONE``), a fractional default (dropout) a number in
[0, 1), a named choice one of ``CHOICES``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitlab.data import NUM_CLASSES, preprocess
from digitlab.errors import InvalidArgument

ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "elu", "selu", "swish")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")
PADDINGS = ("same", "valid")
NORMALIZATIONS = ("none", "batch")
CHOICES = {"activation": ACTIVATIONS, "output_activation": OUTPUT_ACTIVATIONS, "first_padding": PADDINGS,
           "normalization": NORMALIZATIONS}
ZERO_MEANS_NONE = {"dense_units"}  # cnn-fast's hidden dense layer: 0 leaves it out


@dataclass(frozen=True)
class Parameter:
    """One dimension of a search space; ``target`` says whether it is a model or a training setting."""

    name: str
    kind: str  # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    target: str = "hyper"

    def suggest(self, trial) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"one of {', '.join(map(str, self.choices))}"
        scale = "log scale" if self.log else "uniform"
        return f"{self.kind} in [{self.low:g}, {self.high:g}], {scale}"


def builder_defaults(builder: Callable) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(builder).parameters.items()}


@dataclass(frozen=True)
class ModelSpec:
    """A named architecture: how to build it, what it eats, how it trains by default, what to tune.

    ``order`` places it in listings (the lesson's order); ``search_space`` holds the model's own
    dimensions (tuning adds the training ones every model shares).
    """

    name: str
    summary: str
    takes_images: bool  # True: (n, 28, 28) input; False: flattened (n, 784)
    builder: Callable[..., Any]
    training_defaults: dict[str, Any] = field(default_factory=dict)
    search_space: tuple[Parameter, ...] = ()
    order: int = 100

    @property
    def hyper_defaults(self) -> dict[str, Any]:
        return builder_defaults(self.builder)

    def describe(self) -> dict[str, Any]:
        """What ``digitlab models`` lists: the summary, the input, the hyper-parameters and training defaults."""
        return {"summary": self.summary, "input": "28x28" if self.takes_images else "784",
                "hyper": self.hyper_defaults, "training": self.training_defaults}

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (n, 28, 28) -> the float32 input this model expects."""
        return preprocess(images, flatten=not self.takes_images)

    def validate_hyper(self, hyper: dict[str, Any]) -> dict[str, Any]:
        """The full hyper-parameter dict (defaults filled in), or an InvalidArgument saying what is wrong."""
        defaults = self.hyper_defaults
        unknown = sorted(set(hyper) - set(defaults))
        if unknown:
            raise InvalidArgument(
                f"model {self.name!r} has no hyper-parameter {', '.join(unknown)}; "
                f"it takes: {', '.join(f'{k}={v}' for k, v in defaults.items())}"
            )
        merged = {**defaults, **hyper}
        for key, value in merged.items():
            _check_hyper(key, value, defaults[key])
        return merged


def _check_hyper(key: str, value: Any, default: Any) -> None:
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise InvalidArgument(f"{key} must be one of {', '.join(CHOICES[key])}, got {value!r}")
    elif isinstance(default, bool) or not isinstance(default, int | float):
        return
    elif isinstance(default, int):
        least = 0 if key in ZERO_MEANS_NONE else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise InvalidArgument(f"{key} must be a whole number >= {least}, got {value!r}")
    elif not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise InvalidArgument(f"{key} must be in [0, 1), got {value!r}")


def keras_module():
    """Keras is imported on first use, so that listing models or parsing options stays instant."""
    from digitlab._keras import keras

    return keras


def output_layer(output_activation: str):
    """The 10-way output layer. It computes in float32 even under mixed precision: a softmax in bfloat16
    rounds small probabilities away and makes the loss noisy."""
    return keras_module().layers.Dense(NUM_CLASSES, activation=output_activation, dtype="float32")
