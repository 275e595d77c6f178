"""The fit loop: one ``model.fit`` wired to a run directory, with seeds, precision, checkpoints and resume.

The loop is Keras' own. What digitlab adds is around it: the split (training set only), k-fold
cross-validation, seeding with deterministic ops for reproducibility, mixed precision, and a checkpoint
after every epoch so that Ctrl-C or a kill loses at most the running epoch. Nothing it switches on
(precision policy, op determinism) outlives the call.
"""

from __future__ import annotations

import math
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from digitlab._keras import keras
from digitlab.data import NUM_CLASSES, ExtraData, MNISTData
from digitlab.errors import Interrupted
from digitlab.models import ModelSpec
from digitlab.runs import CHECKPOINT_FILE, MODEL_FILE, Run, write_json
from digitlab.training.augment import AugmentedBatches
from digitlab.training.outliers import Outliers, with_outliers
from digitlab.training.settings import OPTIMIZERS, TrainingSettings, setting_rules
from digitlab.training.splits import checked_split, split_record, stratified_subset


class TrainingInterrupted(Interrupted):
    """Ctrl-C during training; the run keeps its last checkpoint and can be resumed."""


@contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Layers built inside compute in ``precision`` (bfloat16: mixed, the weights stay float32)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


@contextmanager
def reproducible(seed: int) -> Iterator[None]:
    """Python, NumPy and backend seeds, and deterministic TensorFlow ops while inside: same seed, same
    metrics. Op determinism is switched back off on the way out if it was off before."""
    random.seed(seed)
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # the switch back off is not public API

    was_enabled = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """Keras writes the .keras zip in place; write it beside the target and rename it over."""
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class RunCheckpoint(keras.callbacks.Callback):
    """After every epoch: checkpoint.keras, then history.json (with the epoch's seconds) and the epoch count in
    config.json."""

    def __init__(self, run: Run, history: dict[str, list[float]], seconds_before: float):
        super().__init__()
        self.run, self.history, self.seconds = run, history, seconds_before

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.started
        self.seconds += elapsed
        for key, value in (logs or {}).items():
            if key != "learning_rate":
                self.history.setdefault(key, []).append(float(value))
        self.history.setdefault("epoch_seconds", []).append(round(elapsed, 3))
        save_model_atomically(self.model, self.run.file(CHECKPOINT_FILE))
        write_json(self.run.file("history.json"), self.history)
        self.run.update_config(epochs_done=epoch + 1, train_seconds=round(self.seconds, 2))


class StopOnInterrupt(keras.callbacks.Callback):
    """Ctrl-C, noted by a signal handler and acted on between compiled calls (every STEPS_PER_EXECUTION batches).

    A KeyboardInterrupt raised wherever Python happens to be can land inside Keras' own code and be
    swallowed there (saving a checkpoint opens its weights file under a bare ``except:``), and training
    would run on as if nothing was pressed. A second Ctrl-C interrupts at once.
    """

    def __init__(self):
        super().__init__()
        self.requested = False

    @contextmanager
    def installed(self) -> Iterator[StopOnInterrupt]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signal handlers belong to the main thread; elsewhere Ctrl-C is not ours to take
            return
        previous = signal.signal(signal.SIGINT, self._note)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    def _note(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_train_batch_end(self, batch, logs=None):
        if self.requested:
            raise KeyboardInterrupt

    on_epoch_end = on_train_batch_end


def fit_data(spec: ModelSpec, images: np.ndarray, labels: np.ndarray, settings: TrainingSettings,
             seed: int) -> dict[str, Any]:
    """The training-data arguments of ``model.fit``: arrays, or augmented batches made fresh each epoch."""
    if not settings.augment:
        return {"x": spec.prepare(images), "y": labels, "batch_size": settings.batch_size, "shuffle": True}
    batches = AugmentedBatches(spec.prepare(images).reshape(len(images), 28, 28), labels,
                               batch_size=settings.batch_size, strength=settings.augment, seed=seed,
                               style=settings.augment_style, flatten=not spec.takes_images, workers=2)
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


# Batches run per call into the compiled training step. Each call costs Python and TensorFlow dispatch
# (about 2 ms on an AMD EPYC Zen 1), which for the lesson's small models outweighs the arithmetic of a batch
# of 32; 32 batches a call makes the same updates in the same order with a 32nd of that overhead. Callbacks
# (progress bar, Ctrl-C) then see every 32nd batch.
STEPS_PER_EXECUTION = 32


def compile_model(model: keras.Model, optimizer: str = "adam", learning_rate=1e-3, *,
                  soft_labels: bool = False) -> keras.Model:
    """Compile as the lesson does: sparse categorical cross-entropy and accuracy (STEPS_PER_EXECUTION batches
    per compiled call); with ``soft_labels``, the same cross-entropy on probability targets (outlier
    exposure's uniform ones among them)."""
    setting_rules()["optimizer"].check("optimizer", optimizer)
    loss = "categorical_crossentropy" if soft_labels else "sparse_categorical_crossentropy"
    model.compile(optimizer=OPTIMIZERS[optimizer](keras, learning_rate), loss=loss,
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy") if soft_labels else "accuracy"],
                  steps_per_execution=STEPS_PER_EXECUTION)
    return model


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]


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


def build_compiled_model(spec: ModelSpec, hyper: dict, settings: TrainingSettings, fit_count: int, *,
                         soft_labels: bool = False) -> keras.Model:
    """A fresh model compiled with the settings' optimizer, learning-rate schedule and precision."""
    with precision_policy(settings.precision):
        model = spec.builder(**hyper)
    steps = math.ceil(fit_count / settings.batch_size)
    return compile_model(model, settings.optimizer, learning_rate_for(settings, steps), soft_labels=soft_labels)


def fit_run(run: Run, spec: ModelSpec, hyper: dict, settings: TrainingSettings, dataset: MNISTData,
            verbose: str | int, *, extra: ExtraData | None = None, extra_weight: float = 0.0,
            start: Run | None = None, outliers: Outliers | None = None) -> keras.Model:
    """Train (or continue training) the run's model to its last epoch; saves and returns the float32 model.

    ``extra`` images join the training images, each ``extra_weight`` times (rounded over the set), with
    ``val_split`` of them held back for validation; ``start`` gives the initial weights (fine-tuning);
    ``outliers`` (images that are not digits) join them with uniform targets (outlier exposure), beside
    digits made by imaging as they were."""
    with reproducible(settings.seed):
        if settings.folds:
            cross_validate(run, spec, hyper, settings, dataset, verbose)
        fit_indices, val_indices = checked_split(dataset.y_train, asdict(settings), run.config.get("split"),
                                                 str(run.path))
        run.update_config(split=split_record(fit_indices, val_indices, subset=settings.subset,
                                             val_split=settings.val_split, seed=settings.seed))
        images, labels = dataset.x_train[fit_indices], dataset.y_train[fit_indices]
        held_images, held_labels = dataset.x_train[val_indices], dataset.y_train[val_indices]
        if extra is not None:
            extra_fit, extra_held = extra.split(settings.val_split, settings.seed)
            repeats = np.arange(max(1, round(extra_weight * len(extra_fit)))) % len(extra_fit)
            images = np.concatenate([images, extra.images[extra_fit][repeats]])
            labels = np.concatenate([labels, extra.labels[extra_fit][repeats]])
            held_images = np.concatenate([held_images, extra.images[extra_held]])
            held_labels = np.concatenate([held_labels, extra.labels[extra_held]])
            run.update_config(extra_data={**run.config["extra_data"], "fit": len(extra_fit),
                                          "held_out": len(extra_held), "seen_per_epoch": len(repeats)})
        soft = outliers is not None and len(outliers.negatives) > 0
        if soft:
            images, labels = with_outliers(images, labels, outliers)
            held_labels = one_hot(held_labels)
        data = fit_data(spec, images, labels, settings, settings.seed)
        validation = (spec.prepare(held_images), held_labels) if len(held_labels) else None

        config = run.config
        if run.file(CHECKPOINT_FILE).exists() and config.get("epochs_done", 0) > 0:
            model = run.load_model(CHECKPOINT_FILE)
            history, initial_epoch = run.history, config["epochs_done"]
        else:
            model = build_compiled_model(spec, hyper, settings, len(labels), soft_labels=soft)
            if start is not None:
                model.set_weights(start.load_model().get_weights())
            history, initial_epoch = {}, 0
        run.update_config(parameters=int(model.count_params()))

        callbacks: list[keras.callbacks.Callback] = [RunCheckpoint(run, history, config.get("train_seconds", 0.0))]
        if settings.early_stopping or settings.keep_best:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=settings.early_stopping or settings.epochs,
                restore_best_weights=settings.keep_best, verbose=1 if verbose else 0,
            ))
        stopper = StopOnInterrupt()
        try:
            with stopper.installed():
                model.fit(**data, epochs=settings.epochs, initial_epoch=initial_epoch, validation_data=validation,
                          callbacks=[*callbacks, stopper], verbose=verbose)
        except KeyboardInterrupt:
            run.update_config(status="interrupted")
            done = run.config.get("epochs_done", 0)
            raise TrainingInterrupted(
                f"training interrupted after {done} of {settings.epochs} epochs; the last checkpoint is in "
                f"{run.path}. Continue with: digitlab train --resume {run.path}"
            ) from None
    model = float32_model(spec, hyper, model)
    if soft:  # saved as every model is: ready to evaluate on digit labels
        compile_model(model)
        model.optimizer.build(model.trainable_variables)
    save_model_atomically(model, run.file(MODEL_FILE))
    return model


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
