"""Named recipes: a model, its hyper-parameters and the training settings that differ from the model's
defaults, under one name (``digitlab train --recipe accurate``), so that a recipe the benchmarks measured is
one flag to repeat rather than a line of flags to copy. Flags given beside ``--recipe`` still win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from digitlab.errors import InvalidArgument
from digitlab.models import get_spec


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    model: str
    hyper: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # only what differs from the model's defaults

    def training_defaults(self) -> dict[str, Any]:
        """The model's training defaults with the recipe's own on top."""
        return {**get_spec(self.model).training_defaults, **self.training}

    def hyper_defaults(self) -> dict[str, Any]:
        """The model's hyper-parameter defaults with the recipe's own on top."""
        return {**get_spec(self.model).hyper_defaults, **self.hyper}

    def describe(self) -> dict[str, Any]:
        return {"summary": self.summary, "model": self.model, "hyper": self.hyper, "training": self.training}


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe for recipe in (
        Recipe("accurate", "the cnn with two convolutions a block, 40 epochs of augmentation: 99.6-99.7% "
               "(benchmarks: Accuracy); 5% held out to calibrate its confidence", "cnn",
               {"convs_per_block": 2}, {"epochs": 40, "augment": 0.6, "precision": "bfloat16", "val_split": 0.05}),
        Recipe("default", "the model that ships in the package: the accurate recipe with the writers' "
               "augmentation (elastic distortion, slant, pen width, blur) for hands MNIST lacks", "cnn",
               {"convs_per_block": 2}, {"epochs": 40, "augment": 0.6, "augment_style": "writers",
                                        "precision": "bfloat16", "val_split": 0.05}),
    )
}


def model_and_defaults(model: str | None, recipe: str | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """What a training starts from: the model (a recipe's, which ``model`` must agree with; neither: "linear"),
    the hyper-parameters the recipe sets, and the training defaults (the recipe's over the model's)."""
    if recipe is None:
        model = model or "linear"
        return model, {}, get_spec(model).training_defaults
    chosen = get_recipe(recipe)
    if model not in (None, chosen.model):
        raise InvalidArgument(f"the {recipe} recipe trains a {chosen.model}, not a {model}")
    return chosen.model, dict(chosen.hyper), chosen.training_defaults()


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise InvalidArgument(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None
