"""Training settings, declared once: each field's type, default, allowed values and help live here.

The ``train`` command's flags are generated from these declarations, tuning takes its choices from
them, and a run's reproducing command is written back from them, so a new setting is one field here
(plus what it does in fit.py). The defaults for epochs, batch size and learning rate are overridden by
each model's ``training_defaults``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from digitlab.cpu import parse_cpuinfo, this_cpu
from digitlab.errors import InvalidArgument, option
from digitlab.models import get_spec
from digitlab.rules import Rule, setting
from digitlab.training.recipes import get_recipe


def _adam(keras, learning_rate):
    return keras.optimizers.Adam(learning_rate)


def _sgd(keras, learning_rate):
    return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)


def _rmsprop(keras, learning_rate):
    return keras.optimizers.RMSprop(learning_rate)


# name -> factory(keras, learning_rate): Adam as in the lesson; SGD with Nesterov momentum 0.9; RMSprop.
OPTIMIZERS: dict[str, Callable[[Any, Any], Any]] = {"adam": _adam, "sgd": _sgd, "rmsprop": _rmsprop}
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("float32", "bfloat16", "auto")
AUGMENT_STYLES = ("geometric", "writers")  # see digitlab.training.augment


@dataclass(frozen=True)
class TrainingSettings:
    """How to train. Frozen: resolving ``auto`` or folds gives a new copy (see :meth:`resolved`)."""

    epochs: int = setting(20, Rule(int, "epochs (default: the model's)", low=1))
    batch_size: int = setting(32, Rule(int, "batch size (default: the model's)", low=1))
    learning_rate: float = setting(1e-3, Rule(float, "learning rate (default: the model's)", low=0, high=10,
                                              low_open=True, high_open=True, flag="--lr"))
    optimizer: str = setting("adam", Rule(str, "optimizer (default: adam)", choices=tuple(OPTIMIZERS)))
    schedule: str = setting("constant", Rule(str, "learning-rate schedule: constant, or a short warm-up then "
                                             "cosine decay to zero (default: the model's)", choices=SCHEDULES))
    val_split: float = setting(0.1, Rule(float, "fraction of the training set held out for validation "
                                         "(default 0.1; 0 = none)", low=0, high=1, low_open=True, high_open=True,
                                         or_zero=True, exclusive_with="folds"))
    folds: int | None = setting(None, Rule(int, "k-fold cross-validation (K >= 2) before training the final model "
                                           "on all data", low=2, metavar="K"))
    seed: int = setting(0, Rule(int, "random seed (default 0): the same seed gives the same metrics", low=0))
    early_stopping: int | None = setting(None, Rule(int, "stop when the validation loss has not improved for "
                                                    "PATIENCE epochs", low=1, metavar="PATIENCE"))
    keep_best: bool = setting(False, Rule(bool, "keep the weights of the best validation epoch"))
    subset: int | None = setting(None, Rule(int, "train on a class-balanced subset of N images", low=20,
                                            metavar="N"))
    augment: float = setting(0.0, Rule(float, "augmentation strength 0-1: random rotations, zooms and shifts each "
                                       "epoch (default 0; cnn: 0.5)", low=0, high=1, metavar="S"))
    augment_style: str = setting("geometric", Rule(str, "what augmentation varies: geometric (rotation, zoom, "
                                                   "shift) or writers (also elastic distortion, slant, aspect, "
                                                   "pen width, frame filling, blur; default: geometric)",
                                                   choices=AUGMENT_STYLES, flag="--augment-style"))
    precision: str = setting("float32", Rule(str, "bfloat16: mixed precision, about 2x faster on CPUs with AMX; "
                                             "auto: bfloat16 where it was measured faster (AMX, AMD's AVX-512 BF16) "
                                             "(default: float32; cnn-fast: auto). The saved model is float32",
                                             choices=PRECISIONS))
    outlier_exposure: float = setting(0.0, Rule(float, "outlier exposure: add this share of the training set "
                                                "again as images that are not digits (letters, scribbles, "
                                                "shapes, overlapping digits), each taught to give every digit "
                                                "the same probability (default 0; cnn: 0.1)", low=0, high=1,
                                                high_open=True, metavar="SHARE"))

    def validated(self) -> TrainingSettings:
        """Itself, if every field and every combination is allowed; else an InvalidArgument."""
        for name, rule in setting_rules().items():
            value = getattr(self, name)
            if value is None and name not in OPTIONAL_SETTINGS:
                raise InvalidArgument(f"{name} needs a value")
            rule.check(name, value)
        if (self.early_stopping or self.keep_best) and not self.val_split and not self.folds:
            raise InvalidArgument("early stopping and keep-best watch the validation loss: they need a val_split > 0")
        if self.folds and (self.early_stopping or self.keep_best):
            raise InvalidArgument("early stopping and keep-best need a validation split, which "
                                  f"{option('folds', None)} replaces")
        return self

    def resolved(self) -> TrainingSettings:
        """A validated copy with ``auto`` precision decided for this CPU and, with folds, no validation
        split (the folds are the validation; the final model uses all the data). ``self`` is unchanged."""
        self.validated()
        precision = self.precision
        if precision == "auto":
            precision = "bfloat16" if bfloat16_is_fast() else "float32"
        return dataclasses.replace(self, precision=precision, val_split=0.0 if self.folds else self.val_split)


def setting_rules() -> dict[str, Rule]:
    """Every training setting's name and rule, in declaration order."""
    return {item.name: item.metadata["rule"] for item in fields(TrainingSettings)}


OPTIONAL_SETTINGS = frozenset(item.name for item in fields(TrainingSettings) if item.default is None)


def option_name(name: str) -> str:
    """The command-line option of a setting: ``--lr`` for learning_rate, else --the-field-name."""
    return setting_rules()[name].flag or "--" + name.replace("_", "-")


def bfloat16_is_fast(cpuinfo: str | None = None, onednn_cap: str | None = None) -> bool:
    """Whether mixed bfloat16 trains faster than float32 on this CPU (or the one ``cpuinfo`` describes), as
    `python -m benchmarks.speed` measured it: on AMX tiles, about twice as fast; on an AMD EPYC's AVX-512
    BF16 (Zen 4), 1.7x in the issue's one run; but on an Intel Xeon's AVX-512 BF16 without AMX, slower than
    float32 (0.8x), and slower still where bfloat16 is emulated: on an AVX2-only CPU (AMD EPYC Zen 1: 119 s against
    30.5 s), or wherever TensorFlow runs without oneDNN (TF_ENABLE_ONEDNN_OPTS=0: 4 epochs of cnn-fast took 127 s
    on an AMD EPYC with AVX-512 BF16, against 9 s with oneDNN). AMX counts only when oneDNN is not capped below it
    (``ONEDNN_MAX_CPU_ISA``, or ``onednn_cap``)."""
    cpu = this_cpu() if cpuinfo is None else parse_cpuinfo(cpuinfo)
    if onednn_cap is None:
        onednn_cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "")
    if not cpu.tensorflow_uses_onednn(os.environ.get("TF_ENABLE_ONEDNN_OPTS")):
        return False
    amx_allowed = "AMX" in onednn_cap.upper() or onednn_cap.upper() in ("", "ALL", "DEFAULT")
    return ("amx_bf16" in cpu.flags and amx_allowed) or (cpu.vendor == "AuthenticAMD" and "avx512_bf16" in cpu.flags)


def settings_for(training_defaults: dict[str, Any], overrides: dict[str, Any],
                 base: TrainingSettings | None = None) -> TrainingSettings:
    """``base`` (else a model's training defaults), then the caller's non-None overrides, resolved and
    validated."""
    known = setting_rules()
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise InvalidArgument(f"unknown training setting {', '.join(unknown)}; known: {', '.join(known)}")
    given = {key: value for key, value in overrides.items() if value is not None}
    start = dataclasses.asdict(base) if base is not None else training_defaults
    return TrainingSettings(**{**start, **given}).resolved()


def train_command(config: dict[str, Any]) -> str:
    """The ``digitlab train`` command line that reproduces a run: only what differs from the defaults (its
    recipe's, when it was trained from one)."""
    spec = get_spec(config["model"])
    recipe = get_recipe(config["recipe"]) if config.get("recipe") else None
    hyper_defaults = recipe.hyper_defaults() if recipe else spec.hyper_defaults
    parts = ["digitlab train", f"--recipe {recipe.name}" if recipe else f"--model {config['model']}"]
    parts += [f"--param {key}={value}" for key, value in config["hyper"].items() if hyper_defaults.get(key) != value]
    defaults = dataclasses.asdict(settings_for(recipe.training_defaults() if recipe else spec.training_defaults, {}))
    rules = setting_rules()
    for key, value in config["training"].items():
        if key not in defaults or defaults[key] == value or value is None:
            continue
        partner = rules[key].exclusive_with
        if partner and config["training"].get(partner):
            continue  # implied by its partner (val_split 0 under --folds), and not allowed beside it
        option = option_name(key)
        parts.append(option if value is True else f"{option} {value:g}" if isinstance(value, float)
                     else f"{option} {value}")
    extra = config.get("extra_data")
    if extra:
        parts.append(f"--extra-data {extra['directory']} --extra-weight {extra['weight']:g}")
    if config.get("from"):
        parts.append(f"--from {config['from']['run']}")
    return " ".join(parts)
