"""The model registry: a name maps to a ``ModelSpec`` (a builder of a ``keras.Sequential``, its
defaults and its search space).

Every module in this package that defines ``SPECS`` is an architecture and is found here on its own:
adding an architecture means adding one module (and its test), nothing else.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module
from typing import Any

from digitlab.errors import InvalidArgument
from digitlab.models.spec import ModelSpec, Parameter


def _discover() -> dict[str, ModelSpec]:
    specs: list[ModelSpec] = []
    for module_info in pkgutil.iter_modules(__path__):
        specs += getattr(import_module(f"{__name__}.{module_info.name}"), "SPECS", ())
    return {spec.name: spec for spec in sorted(specs, key=lambda spec: (spec.order, spec.name))}


MODELS: dict[str, ModelSpec] = _discover()


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise InvalidArgument(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def validate_hyper(name: str, hyper: dict[str, Any]) -> dict[str, Any]:
    """The full hyper-parameter dict for ``name`` (defaults filled in), or an InvalidArgument."""
    return get_spec(name).validate_hyper(hyper)


def build_model(name: str, **hyper: Any):
    """A fresh, uncompiled ``keras.Sequential`` for the named architecture."""
    return get_spec(name).builder(**validate_hyper(name, hyper))


__all__ = ["MODELS", "ModelSpec", "Parameter", "build_model", "get_spec", "validate_hyper"]
