"""Training: one ``model.fit`` loop wired to a run directory, with seeds, splits, checkpoints and resume.

The loop is Keras' own. What digitlab adds is around it: a validation split held out from the
training set (never the test set) or k-fold cross-validation, seeding for reproducibility, a checkpoint
after every epoch so that Ctrl-C or a kill loses at most the running epoch, and the evaluation and
report at the end.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from digitlab._keras import keras
from digitlab.data import MNISTData, load_dataset
from digitlab.errors import Interrupted
from digitlab.models import OPTIMIZERS, PRECISIONS, ModelSpec, compile_model, get_spec, validate_hyper
from digitlab.runs import (
    CHECKPOINT_FILE,
    MODEL_FILE,
    Run,
    RunError,
    create_run,
    next_free_path,
    open_run,
    package_versions,
    write_json,
)

SCHEDULES = ("constant", "cosine")
DEFAULT_RUNS_DIRECTORY = Path("runs")


class TrainingInterrupted(Interrupted):
    """Ctrl-C during training; the run keeps its last checkpoint and can be resumed."""


@dataclass
class TrainingSettings:
    """How to train; the defaults for epochs, batch size and learning rate come from the model."""

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    val_split: float = 0.1
    folds: int | None = None
    seed: int = 0
    early_stopping: int | None = None
    keep_best: bool = False
    subset: int | None = None
    augment: float = 0.0
    precision: str = "float32"

    def validate(self) -> TrainingSettings:
        def whole(name: str, value: Any, minimum: int) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")

        whole("epochs", self.epochs, 1)
        whole("batch_size", self.batch_size, 1)
        whole("seed", self.seed, 0)
        if self.folds is not None:
            whole("folds", self.folds, 2)
        if self.early_stopping is not None:
            whole("early_stopping (patience)", self.early_stopping, 1)
        if self.subset is not None:
            whole("subset", self.subset, 20)
        if not (isinstance(self.learning_rate, int | float) and 0 < self.learning_rate < 10):
            raise ValueError(f"learning_rate must be in (0, 10), got {self.learning_rate!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if not (isinstance(self.augment, int | float) and 0 <= self.augment <= 1):
            raise ValueError(f"augment (strength) must be in [0, 1], got {self.augment!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        if self.precision == "auto":  # resolved here, so that the run's config records what was used
            self.precision = "bfloat16" if bfloat16_is_fast() else "float32"
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        if not (isinstance(self.val_split, int | float) and (self.val_split == 0 or 0 < self.val_split < 1)):
            raise ValueError(f"val_split must be in (0, 1), or 0 for none, got {self.val_split!r}")
        if self.folds and self.val_split:
            self.val_split = 0.0  # with k-fold, the folds are the validation; the final model uses all the data
        if (self.early_stopping or self.keep_best) and not self.val_split:
            raise ValueError("early stopping and keep-best watch the validation loss: they need a val_split > 0")
        return self


def bfloat16_is_fast() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16). There, mixed precision
    trains convolutions about twice as fast; elsewhere bfloat16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


@contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Layers built inside compute in ``precision`` (bfloat16: mixed, the weights stay float32)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def resolve_settings(spec: ModelSpec, overrides: dict[str, Any]) -> TrainingSettings:
    """The model's training defaults, then the caller's non-None overrides, validated."""
    known = {f.name for f in fields(TrainingSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown training setting {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    given = {key: value for key, value in overrides.items() if value is not None}
    return TrainingSettings(**{**spec.training_defaults, **given}).validate()


_OPTION_NAMES = {"learning_rate": "lr"}  # settings whose CLI option is not the field's name


def train_command(config: dict[str, Any]) -> str:
    """The ``digitlab train`` command line that reproduces a run: only what differs from the defaults."""
    spec = get_spec(config["model"])
    parts = ["digitlab train", f"--model {config['model']}"]
    parts += [f"--param {key}={value}" for key, value in config["hyper"].items()
              if spec.hyper_defaults.get(key) != value]
    defaults = asdict(resolve_settings(spec, {}))
    for key, value in config["training"].items():
        if key not in defaults or defaults[key] == value or value is None:
            continue
        option = "--" + _OPTION_NAMES.get(key, key).replace("_", "-")
        parts.append(option if value is True else f"{option} {value:g}" if isinstance(value, float)
                     else f"{option} {value}")
    return " ".join(parts)


def seed_everything(seed: int) -> None:
    """Python, NumPy and backend seeds, and deterministic TensorFlow ops: same seed, same metrics."""
    random.seed(seed)
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


# ------------------------------------------------------------------------------------------------
# Data splits


def stratified_subset(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Indices of a class-balanced random subset (all indices when size is None)."""
    indices = np.arange(len(labels))
    if size is None or size >= len(labels):
        return indices
    from sklearn.model_selection import train_test_split

    chosen, _ = train_test_split(indices, train_size=size, stratify=labels, random_state=seed)
    return np.sort(chosen)


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit indices, validation indices), stratified and seeded, taken from the training set only."""
    indices = np.arange(len(labels))
    if not fraction:
        return indices, indices[:0]
    from sklearn.model_selection import train_test_split

    fit, held_out = train_test_split(indices, test_size=fraction, stratify=labels, random_state=seed)
    return np.sort(fit), np.sort(held_out)


def training_indices(dataset: MNISTData, settings: TrainingSettings) -> tuple[np.ndarray, np.ndarray]:
    """Which training-set images the model fits on and which it validates on, for these settings."""
    pool = stratified_subset(dataset.y_train, settings.subset, settings.seed)
    fit, held_out = validation_split(dataset.y_train[pool], settings.val_split, settings.seed)
    return pool[fit], pool[held_out]


# ------------------------------------------------------------------------------------------------
# Callbacks


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """Keras writes the .keras zip in place; write it beside the target and rename it over."""
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class RunCheckpoint(keras.callbacks.Callback):
    """After every epoch: checkpoint.keras, then history.json and the epoch count in config.json."""

    def __init__(self, run: Run, history: dict[str, list[float]], seconds_before: float):
        super().__init__()
        self.run, self.history, self.seconds = run, history, seconds_before

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self.started
        for key, value in (logs or {}).items():
            if key != "learning_rate":
                self.history.setdefault(key, []).append(float(value))
        save_model_atomically(self.model, self.run.file(CHECKPOINT_FILE))
        write_json(self.run.file("history.json"), self.history)
        self.run.update_config(epochs_done=epoch + 1, train_seconds=round(self.seconds, 2))


def fit_data(spec: ModelSpec, images: np.ndarray, labels: np.ndarray, settings: TrainingSettings,
             seed: int) -> dict[str, Any]:
    """The training-data arguments of ``model.fit``: arrays, or augmented batches made fresh each epoch."""
    if not settings.augment:
        return {"x": spec.prepare(images), "y": labels, "batch_size": settings.batch_size, "shuffle": True}
    from digitlab.augment import AugmentedBatches

    batches = AugmentedBatches(spec.prepare(images).reshape(len(images), 28, 28), labels,
                               batch_size=settings.batch_size, strength=settings.augment, seed=seed,
                               flatten=not spec.takes_images, workers=2)
    return {"x": batches}


def learning_rate_for(settings: TrainingSettings, steps_per_epoch: int):
    """A constant rate, or a short linear warm-up then cosine decay to zero over the whole run."""
    if settings.schedule == "constant":
        return settings.learning_rate
    total = settings.epochs * steps_per_epoch
    warmup = max(1, total // 10)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=total - warmup, warmup_target=settings.learning_rate,
        warmup_steps=warmup,
    )


def float32_model(spec: ModelSpec, hyper: dict, model: keras.Model) -> keras.Model:
    """The trained weights in a float32 twin of ``model``: what is saved, evaluated and exported, so that
    inference (ONNX Runtime's CPU kernels included) never depends on bfloat16 support."""
    if all(layer.compute_dtype == "float32" for layer in model.layers):
        return model
    with precision_policy("float32"):
        twin = spec.builder(**hyper)
    twin.set_weights(model.get_weights())
    compile_model(twin)  # compiled like every saved model, so that it loads ready to evaluate,
    twin.optimizer.build(twin.trainable_variables)  # with optimizer slots, or loading it warns of a mismatch
    return twin


def build_compiled_model(spec: ModelSpec, hyper: dict, settings: TrainingSettings, fit_count: int) -> keras.Model:
    """A fresh model compiled with the settings' optimizer, learning-rate schedule and precision."""
    with precision_policy(settings.precision):
        model = spec.builder(**hyper)
    steps = math.ceil(fit_count / settings.batch_size)
    return compile_model(model, settings.optimizer, learning_rate_for(settings, steps))


# ------------------------------------------------------------------------------------------------
# The public entry points


def train(
    model: str = "linear",
    *,
    hyper: dict[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    data_dir: str | os.PathLike | None = None,
    dataset: MNISTData | None = None,
    verbose: str | int = "auto",
    **settings: Any,
) -> Run:
    """Train ``model`` into a new run directory and evaluate it on the test set; returns the Run.

    ``settings`` are the fields of :class:`TrainingSettings` (epochs, batch_size, learning_rate,
    optimizer, schedule, val_split, folds, seed, early_stopping, keep_best, subset, augment, precision).
    """
    spec = get_spec(model)
    hyper = validate_hyper(model, hyper or {})
    resolved = resolve_settings(spec, settings)
    dataset = dataset or load_dataset(data_dir)
    path = Path(out) if out else next_free_path(DEFAULT_RUNS_DIRECTORY / model)
    run = create_run(path, {
        "model": model,
        "hyper": hyper,
        "training": asdict(resolved),
        "data": {"source": dataset.source, "fingerprint": dataset.fingerprint,
                 "data_dir": str(data_dir) if data_dir else None},
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "epochs_done": 0,
        "train_seconds": 0.0,
    }, overwrite=overwrite)
    return _train_run(run, spec, hyper, resolved, dataset, verbose)


ENSEMBLE_FILE = "ensemble.json"


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
) -> tuple[list[Run], Any]:
    """Train ``members`` runs of ``model`` that differ only in their seed (seed, seed+1, ...) into
    ``out/seedN``, then evaluate the ensemble that averages their class probabilities on the test set.

    Returns (runs, ensemble evaluation); the evaluation is also written to ``out/ensemble.json``.
    Other keyword arguments are those of :func:`train`.
    """
    from digitlab.evaluation import ensemble_json, evaluate_ensemble
    from digitlab.fileio import atomic_write_text

    if not isinstance(members, int) or isinstance(members, bool) or members < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {members!r}")
    directory = Path(out) if out else next_free_path(DEFAULT_RUNS_DIRECTORY / f"{model}-ensemble")
    dataset = dataset or load_dataset(data_dir)
    runs = []
    for member_seed in range(seed, seed + members):
        run = train(model, out=directory / f"seed{member_seed}", seed=member_seed, dataset=dataset,
                    data_dir=data_dir, **options)
        runs.append(run)
        if on_member:
            on_member(run)
    paths = [run.path for run in runs]
    evaluation = evaluate_ensemble(paths, dataset=dataset)
    payload = ensemble_json(paths, evaluation, tta=False)
    atomic_write_text(directory / ENSEMBLE_FILE, json.dumps(payload, indent=2) + "\n")
    return runs, evaluation


def resume(path: str | os.PathLike, *, dataset: MNISTData | None = None, verbose: str | int = "auto") -> Run:
    """Continue an interrupted run from its last checkpoint, with the settings it was started with."""
    run = open_run(path, require_complete=False)
    if run.status == "complete":
        raise RunError(f"{run.path}: the run is already complete; nothing to resume")
    config = run.config
    spec = get_spec(config["model"])
    settings = TrainingSettings(**config["training"]).validate()
    dataset = dataset or load_dataset(config["data"].get("data_dir"))
    if dataset.fingerprint != config["data"]["fingerprint"]:
        raise RunError(f"{run.path}: the data differs from the data this run was started on")
    run.update_config(status="running")
    return _train_run(run, spec, config["hyper"], settings, dataset, verbose)


def _train_run(run: Run, spec: ModelSpec, hyper: dict, settings: TrainingSettings, dataset: MNISTData,
               verbose: str | int) -> Run:
    from digitlab.evaluation import evaluate_run

    seed_everything(settings.seed)
    if settings.folds:
        cross_validate(run, spec, hyper, settings, dataset, verbose)
    fit_indices, val_indices = training_indices(dataset, settings)
    data = fit_data(spec, dataset.x_train[fit_indices], dataset.y_train[fit_indices], settings, settings.seed)
    validation = None
    if len(val_indices):
        validation = (spec.prepare(dataset.x_train[val_indices]), dataset.y_train[val_indices])

    config = run.config
    if run.file(CHECKPOINT_FILE).exists() and config.get("epochs_done", 0) > 0:
        model = run.load_model(CHECKPOINT_FILE)
        history, initial_epoch = run.history, config["epochs_done"]
    else:
        model = build_compiled_model(spec, hyper, settings, len(fit_indices))
        history, initial_epoch = {}, 0
    run.update_config(parameters=int(model.count_params()))

    callbacks: list[keras.callbacks.Callback] = [RunCheckpoint(run, history, config.get("train_seconds", 0.0))]
    if settings.early_stopping or settings.keep_best:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=settings.early_stopping or settings.epochs,
            restore_best_weights=settings.keep_best, verbose=1 if verbose else 0,
        ))
    try:
        model.fit(**data, epochs=settings.epochs, initial_epoch=initial_epoch, validation_data=validation,
                  callbacks=callbacks, verbose=verbose)
    except KeyboardInterrupt:
        run.update_config(status="interrupted")
        done = run.config.get("epochs_done", 0)
        raise TrainingInterrupted(
            f"training interrupted after {done} of {settings.epochs} epochs; the last checkpoint is in {run.path}. "
            f"Continue with: digitlab train --resume {run.path}"
        ) from None
    model = float32_model(spec, hyper, model)
    save_model_atomically(model, run.file(MODEL_FILE))
    evaluate_run(run, dataset=dataset, split="test", model=model)
    run.update_config(status="complete", finished=datetime.now(UTC).isoformat(timespec="seconds"))
    return run


def cross_validate(run: Run, spec: ModelSpec, hyper: dict, settings: TrainingSettings, dataset: MNISTData,
                   verbose: str | int) -> dict[str, Any]:
    """K stratified folds of the training set: train on k-1, score on the held-out one; progress is saved."""
    from sklearn.model_selection import StratifiedKFold

    pool = stratified_subset(dataset.y_train, settings.subset, settings.seed)
    labels = dataset.y_train[pool]
    results = run.metrics.get("cross_validation", {"fold_accuracies": []})
    folds = StratifiedKFold(n_splits=settings.folds, shuffle=True, random_state=settings.seed)
    for fold, (fit, held_out) in enumerate(folds.split(pool, labels)):
        if fold < len(results["fold_accuracies"]):
            continue  # done before an interruption
        if verbose:
            print(f"Fold {fold + 1}/{settings.folds}: training on {len(fit)}, validating on {len(held_out)}")
        keras.utils.set_random_seed(settings.seed + fold)
        model = build_compiled_model(spec, hyper, settings, len(fit))
        model.fit(**fit_data(spec, dataset.x_train[pool[fit]], labels[fit], settings, settings.seed + fold),
                  epochs=settings.epochs, verbose=verbose)
        _, accuracy = model.evaluate(spec.prepare(dataset.x_train[pool[held_out]]), labels[held_out],
                                     batch_size=1024, verbose=0)
        results["fold_accuracies"].append(float(accuracy))
        results |= {"folds": settings.folds, "mean": float(np.mean(results["fold_accuracies"])),
                    "std": float(np.std(results["fold_accuracies"]))}
        run.update_metrics(cross_validation=results)
    keras.utils.set_random_seed(settings.seed)
    return results


# ------------------------------------------------------------------------------------------------
# The main job: the whole lesson, one model after another


QUICKSTART_PLAN: tuple[tuple[str, dict[str, Any]], ...] = (
    ("linear", {}),
    ("mlp", {}),
    ("flatten-mlp", {}),
    ("cnn", {}),
)


def quickstart(
    out: str | os.PathLike = DEFAULT_RUNS_DIRECTORY / "quickstart",
    *,
    data_dir: str | os.PathLike | None = None,
    dataset: MNISTData | None = None,
    models: tuple[str, ...] | None = None,
    verbose: str | int = "auto",
    on_start: Callable[[str, TrainingSettings], None] | None = None,
    on_done: Callable[[Run], None] | None = None,
    **settings: Any,
) -> list[Run]:
    """Train and evaluate the lesson's models in turn under ``out/`` (replacing earlier quickstart runs)."""
    dataset = dataset or load_dataset(data_dir)
    runs = []
    for name, extra in QUICKSTART_PLAN:
        if models and name not in models:
            continue
        if on_start:
            on_start(name, resolve_settings(get_spec(name), {**extra, **settings}))
        run = train(name, out=Path(out) / name, overwrite=True, dataset=dataset, verbose=verbose,
                    **{**extra, **settings})
        runs.append(run)
        if on_done:
            on_done(run)
    return runs
