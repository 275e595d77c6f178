"""Train, then evaluate: the one place the two are composed, for a run, a resumed run, an ensemble of
seeds, and the lesson's quickstart.

training/ knows how to fit a model into a run directory and evaluation.py how to judge a run; neither
imports the other. A run is marked ``complete`` only here, after both have finished.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.abstention import calibrate_run, redrawn_uploads
from digitlab.data import ExtraData, MNISTData, load_dataset, load_extra_data
from digitlab.errors import InvalidArgument, option
from digitlab.evaluation import Evaluation, evaluate_ensemble, evaluate_run
from digitlab.gate import gate
from digitlab.models import get_spec, validate_hyper
from digitlab.reading.negatives import TRAINING_KINDS, negative_inputs
from digitlab.runs import Run, RunError, create_run, leaderboard, next_free_path, open_run, package_versions
from digitlab.training.outliers import Outliers
from digitlab.training.recipes import model_and_defaults
from digitlab.training.settings import TrainingSettings, settings_for
from digitlab.training.splits import training_indices

DEFAULT_RUNS_DIRECTORY = Path("runs")
EXTRA_WEIGHT = 10.0  # each extra image is seen this many times an epoch: a few hundred corrections among 54,000
ENSEMBLE_FILE = "ensemble.json"
LEADERBOARD_FILE = "leaderboard.md"


def train(
    model: str | None = None,
    settings: TrainingSettings | None = None,
    *,
    recipe: str | None = None,
    hyper: dict[str, Any] | None = None,
    extra_data: str | os.PathLike | None = None,
    extra_weight: float = EXTRA_WEIGHT,
    from_run: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    data_dir: str | os.PathLike | None = None,
    dataset: MNISTData | None = None,
    verbose: str | int = "auto",
    **overrides: Any,
) -> Run:
    """Train ``model`` into a new run directory and evaluate it on the test set; returns the Run.

    ``settings`` says how to train (a :class:`TrainingSettings`; None: the model's defaults, see
    ``digitlab models``); keyword ``overrides`` change single settings of it as the CLI's flags do
    (``train("mlp", epochs=10)``; None keeps the setting as it is). ``hyper`` holds the model's
    hyper-parameters. ``extra_data`` is a directory with an IDX training pair (``digitlab feedback --export``)
    mixed into the training images, each seen ``extra_weight`` times an epoch, part of it held back for
    validation like MNIST's; ``from_run`` starts from that run's trained weights instead of fresh ones
    (fine-tuning). ``recipe`` names a recipe (``digitlab.training.recipes``) whose model, hyper-parameters
    and settings are the defaults instead of the model's (``model`` is then implied; None alone is "linear").
    """
    model, recipe_hyper, defaults = model_and_defaults(model, recipe)
    hyper_given = bool(hyper)
    hyper = validate_hyper(model, {**recipe_hyper, **(hyper or {})})
    settings = settings_for(defaults, overrides, base=settings)
    if isinstance(extra_weight, bool) or not isinstance(extra_weight, int | float) or not 0 < extra_weight <= 1000:
        raise InvalidArgument(f"extra_weight must be a number in (0, 1000], got {extra_weight!r}")
    start = open_run(from_run) if from_run is not None else None
    if start is not None and start.config["model"] != model:
        raise InvalidArgument(f"{start.path} is a {start.config['model']} run; fine-tuning it needs "
                              f"{option('model', start.config['model'])}")
    if start is not None:
        hyper = start.config["hyper"] if not hyper_given else hyper
        if hyper != start.config["hyper"]:
            raise InvalidArgument(f"fine-tuning keeps {start.path}'s architecture; drop {option('hyper', None)}")
    extra = load_extra_data(extra_data) if extra_data is not None else None
    dataset = dataset or load_dataset(data_dir)
    path = Path(out) if out else next_free_path(DEFAULT_RUNS_DIRECTORY / model)
    run = create_run(path, {
        "model": model,
        "recipe": recipe,
        "hyper": hyper,
        "training": asdict(settings),
        "data": {"source": dataset.source, "fingerprint": dataset.fingerprint,
                 "data_dir": str(data_dir) if data_dir else None},
        "extra_data": None if extra is None else {"directory": str(Path(extra.directory).resolve()),
                                                  "sha256": extra.sha256, "images": len(extra.labels),
                                                  "weight": float(extra_weight),
                                                  "export": extra.manifest},
        "from": None if start is None else {"run": str(start.path.resolve()), "model_sha256": start.model_sha256()},
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "epochs_done": 0,
        "train_seconds": 0.0,
    }, overwrite=overwrite)
    return _fit_and_evaluate(run, settings, dataset, verbose, extra, start)


def resume(path: str | os.PathLike, *, dataset: MNISTData | None = None, verbose: str | int = "auto") -> Run:
    """Continue an interrupted run from its last checkpoint, with the settings it was started with."""
    run = open_run(path, require_complete=False)
    if run.status == "complete":
        raise RunError(f"{run.path}: the run is already complete; nothing to resume")
    config = run.config
    settings = TrainingSettings(**config["training"]).validated()
    dataset = dataset or load_dataset(config["data"].get("data_dir"))
    if dataset.fingerprint != config["data"]["fingerprint"]:
        raise RunError(f"{run.path}: the data differs from the data this run was started on")
    extra = start = None
    if config.get("extra_data"):
        extra = load_extra_data(config["extra_data"]["directory"])
        if extra.sha256 != config["extra_data"]["sha256"]:
            raise RunError(f"{run.path}: the extra data in {extra.directory} differs from what this run started on")
    if config.get("from"):
        start = open_run(config["from"]["run"])
    run.update_config(status="running")
    return _fit_and_evaluate(run, settings, dataset, verbose, extra, start)


def _fit_and_evaluate(run: Run, settings: TrainingSettings, dataset: MNISTData, verbose: str | int,
                      extra: ExtraData | None = None, start: Run | None = None) -> Run:
    from digitlab.training.fit import fit_run

    config = run.config
    weight = config["extra_data"]["weight"] if extra is not None else 0.0
    model = fit_run(run, get_spec(config["model"]), config["hyper"], settings, dataset, verbose,
                    extra=extra, extra_weight=weight, start=start, outliers=outliers_for(run, settings, dataset))
    if settings.val_split:  # the temperature and threshold, fitted on what training held out
        calibrate_run(run, dataset=dataset, model=model)
    evaluate_run(run, dataset=dataset, split="test", model=model)
    if start is not None:  # fine-tuned: may it replace its base? (digitlab train --from exits 1 if not)
        run.update_config(gate=gate(run, start, dataset).to_json())
    run.update_config(status="complete", finished=datetime.now(UTC).isoformat(timespec="seconds"))
    return run


def outliers_for(run: Run, settings: TrainingSettings, dataset: MNISTData) -> Outliers | None:
    """The non-digit images outlier exposure trains on (``settings.outlier_exposure`` of the training digits'
    count, of reading.negatives' training kinds; overlaps drawn from the training digits only), and as many
    training digits drawn as uploads and brought back by imaging as the negatives are: the negatives all come
    through imaging, and without digits that do too, a model learns that imaging's look means "not a digit"
    (the accurate recipe did: it read 32% of re-drawn held-out digits right, and let 11.8% of them through).
    The same for a resumed run; recorded in it."""
    if not settings.outlier_exposure:
        return None
    fit_indices, _ = training_indices(dataset.y_train, subset=settings.subset, val_split=settings.val_split,
                                      seed=settings.seed)
    count = max(1, round(settings.outlier_exposure * len(fit_indices)))
    negatives, kinds = negative_inputs(TRAINING_KINDS, count, settings.seed, dataset.x_train[fit_indices])
    chosen = np.random.default_rng([settings.seed, 1]).choice(fit_indices, size=min(count, len(fit_indices)),
                                                              replace=False)
    uploads, upload_labels = redrawn_uploads(dataset.x_train[chosen], dataset.y_train[chosen], settings.seed)
    run.update_config(outliers={"kinds": list(TRAINING_KINDS), "images": len(negatives),
                                "per_kind": {kind: kinds.count(kind) for kind in TRAINING_KINDS},
                                "imaged_digits": len(upload_labels)})
    return Outliers(negatives, uploads, upload_labels)


def train_ensemble(
    model: str,
    members: int,
    *,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    dataset: MNISTData | None = None,
    data_dir: str | os.PathLike | None = None,
    on_member: Callable[[Run], None] | None = None,
    **options: Any,
) -> tuple[list[Run], Evaluation]:
    """Train ``members`` runs of ``model`` that differ only in their seed (seed, seed+1, ...) into
    ``out/seedN``, then evaluate the ensemble that averages their class probabilities on the test set.

    Returns (runs, ensemble evaluation); the evaluation is also written to ``out/ensemble.json``.
    Other keyword arguments are those of :func:`train`.
    """
    if not isinstance(members, int) or isinstance(members, bool) or members < 2:
        raise InvalidArgument(f"an ensemble needs at least 2 members, got {members!r}")
    directory = Path(out) if out else next_free_path(DEFAULT_RUNS_DIRECTORY / f"{model}-ensemble")
    dataset = dataset or load_dataset(data_dir)
    runs = []
    for member_seed in range(seed, seed + members):
        run = train(model, out=directory / f"seed{member_seed}", seed=member_seed, dataset=dataset,
                    data_dir=data_dir, **options)
        runs.append(run)
        if on_member:
            on_member(run)
    evaluation = evaluate_ensemble([run.path for run in runs], dataset=dataset, out=directory / ENSEMBLE_FILE)
    return runs, evaluation


# ------------------------------------------------------------------------------------------------
# The main job: the whole lesson, one model after another


# The lesson's three models with their own training defaults (the first: 20 epochs, batch 32, Adam), then a
# CNN. The CNN is cnn-fast trained for 4 epochs instead of its time-to-99% recipe's 2: 99.3% on the test set
# (like `cnn`'s 6 epochs) for about a sixth of `cnn`'s multiply-adds, which is what a 2-core AVX2-only CPU
# pays for (benchmarks/README.md, quickstart).
QUICKSTART_SETTINGS: dict[str, dict[str, Any]] = {"linear": {}, "mlp": {}, "flatten-mlp": {}, "cnn-fast": {"epochs": 4}}
QUICKSTART_MODELS = tuple(QUICKSTART_SETTINGS)


def quickstart(
    out: str | os.PathLike = DEFAULT_RUNS_DIRECTORY / "quickstart",
    *,
    data_dir: str | os.PathLike | None = None,
    dataset: MNISTData | None = None,
    models: tuple[str, ...] | None = None,
    epochs: int | None = None,
    subset: int | None = None,
    verbose: str | int = "auto",
    on_data: Callable[[MNISTData], None] | None = None,
    on_start: Callable[[str, TrainingSettings], None] | None = None,
    on_done: Callable[[Run], None] | None = None,
) -> list[Run]:
    """Train and evaluate the lesson's models in turn under ``out/`` (replacing earlier quickstart runs),
    then write ``out/leaderboard.md``. The callbacks see the dataset, each model's settings before it
    trains, and each finished run."""
    dataset = dataset or load_dataset(data_dir)
    if on_data:
        on_data(dataset)
    runs = []
    for name in QUICKSTART_MODELS:
        if models and name not in models:
            continue
        overrides = {**QUICKSTART_SETTINGS[name], **({"epochs": epochs} if epochs else {}), "subset": subset}
        if on_start:
            on_start(name, settings_for(get_spec(name).training_defaults, overrides))
        run = train(name, out=Path(out) / name, overwrite=True, dataset=dataset, data_dir=data_dir, verbose=verbose,
                    **overrides)
        runs.append(run)
        if on_done:
            on_done(run)
    leaderboard([run.path for run in runs], markdown=Path(out) / LEADERBOARD_FILE)
    return runs
