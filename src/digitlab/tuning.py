"""Hyper-parameter tuning with Optuna: search spaces, the objective, and study management.

Trials are scored on a validation split of the training set only; the best trial is then retrained on
the full training set and evaluated on the test set once, as a normal run directory. A study lives in
a storage Optuna understands: by default a SQLite file in the study's directory (nothing to start);
any RDB URL (``postgresql://...``) lets workers on many machines share one study. Heartbeats mark a
killed worker's running trial as failed, so a study is never left with a trial that never ends.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitlab.data import load_dataset
from digitlab.errors import DigitlabError
from digitlab.fileio import atomic_write_text
from digitlab.models import Parameter, get_spec
from digitlab.pipeline import train
from digitlab.plots import save_figure
from digitlab.rules import Rule
from digitlab.training.settings import TrainingSettings, setting_rules
from digitlab.training.splits import training_indices

DEFAULT_STUDIES_DIRECTORY = Path("studies")
MIN_TUNING_SUBSET = 100
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30


class TuningError(DigitlabError):
    """A study that cannot be used: unreachable storage, another model's study, bad arguments."""


# ------------------------------------------------------------------------------------------------
# Search spaces: the training dimensions every model shares, then the model's own (in its module)

TRAINING_SPACE = (
    Parameter("learning_rate", "float", 1e-4, 1e-2, log=True, target="training"),
    Parameter("batch_size", "categorical", choices=(32, 64, 128, 256), target="training"),
    Parameter("optimizer", "categorical", choices=setting_rules()["optimizer"].choices, target="training"),
)


def search_space(model: str) -> tuple[Parameter, ...]:
    return (*TRAINING_SPACE, *get_spec(model).search_space)


def space_text(model: str) -> str:
    lines = [f"Search space for {model} (scored on a validation split of the training set):"]
    width = max(16, *(len(parameter.name) + 1 for parameter in search_space(model)))
    for parameter in search_space(model):
        lines.append(f"  {parameter.name:{width}} {parameter.target:9} {parameter.describe()}")
    return "\n".join(lines)


def split_params(model: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial's params -> (model hyper-parameters, training settings)."""
    space = {parameter.name: parameter for parameter in search_space(model)}
    unknown = sorted(set(params) - set(space))
    if unknown:
        raise TuningError(f"parameter {', '.join(unknown)} is not in the {model} search space")
    hyper = {name: value for name, value in params.items() if space[name].target == "hyper"}
    training = {name: value for name, value in params.items() if space[name].target == "training"}
    return hyper, training


# ------------------------------------------------------------------------------------------------
# Storage and studies


def study_directory(study_name: str, root: str | os.PathLike | None = None) -> Path:
    return Path(root or DEFAULT_STUDIES_DIRECTORY) / study_name


def default_storage(study_name: str, root: str | os.PathLike | None = None) -> str:
    directory = study_directory(study_name, root)
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(directory / 'study.db').resolve()}"


def safe_url(url: str) -> str:
    """The storage URL with any password masked, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<storage URL>"


def open_storage(url: str, grace_seconds: int = GRACE_SECONDS, attempts: int = 5):
    """Optuna's RDB storage with heartbeats: a trial whose worker stopped beating for ``grace_seconds``
    is stale, and is marked failed by the next worker that opens the study.

    Workers that start together race to create the tables of a new database and to stamp its schema
    version; the loser sees a duplicate key (an IntegrityError: "duplicate key" on PostgreSQL, "UNIQUE
    constraint failed" on SQLite) or a table that already exists, and simply tries again.
    """
    import random

    import optuna
    from sqlalchemy.exc import IntegrityError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    heartbeat_interval=min(HEARTBEAT_SECONDS, max(1, grace_seconds // 2)),
                    grace_period=grace_seconds,
                    engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None,
                )
        except Exception as error:  # sqlalchemy OperationalError, IntegrityError, ArgumentError, missing driver...
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            racing = isinstance(error, IntegrityError) or "already exists" in reason
            if racing and attempt < attempts - 1:
                time.sleep(0.2 + random.random())
                continue
            raise TuningError(f"cannot use storage {safe_url(url)}: {reason}") from None
    raise AssertionError("unreachable")


def load_study(study_name: str, storage_url: str, model: str, seed: int | None = 0, create: bool = True,
               grace_seconds: int = GRACE_SECONDS):
    """The named study (created if new), checked to belong to ``model``; stale trials are marked failed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(storage_url, grace_seconds)
    try:
        study = optuna.create_study(
            study_name=study_name, storage=storage, direction="maximize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=8),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0),
        ) if create else optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise TuningError(f"no study named {study_name!r} in {safe_url(storage_url)}") from None
    except Exception as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise TuningError(f"cannot use storage {safe_url(storage_url)}: {reason}") from None
    owner = study.user_attrs.get("model")
    if owner is None:
        study.set_user_attr("model", model)
    elif owner != model:
        raise TuningError(f"study {study_name!r} was created for model {owner!r}, not {model!r}; "
                          "choose another --study name")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fail_stale_trials is marked experimental
        optuna.storages.fail_stale_trials(study)
    return study


# ------------------------------------------------------------------------------------------------
# The objective


@dataclass(frozen=True)
class TuneSettings:
    model: str
    epochs: int = 3
    subset: int | None = None
    val_split: float = 0.1
    seed: int = 0
    data_dir: str | None = None


def objective_for(settings: TuneSettings, dataset):
    """Optuna objective: train with the trial's params, report validation accuracy every epoch."""
    import optuna

    from digitlab._keras import keras
    from digitlab.training.fit import build_compiled_model, fit_data

    spec = get_spec(settings.model)
    base = TrainingSettings(epochs=settings.epochs, val_split=settings.val_split, seed=settings.seed,
                            subset=settings.subset)
    fit_indices, val_indices = training_indices(dataset.y_train, subset=settings.subset,
                                                val_split=settings.val_split, seed=settings.seed)
    y_fit = dataset.y_train[fit_indices]
    x_val, y_val = spec.prepare(dataset.x_train[val_indices]), dataset.y_train[val_indices]

    class ReportToTrial(keras.callbacks.Callback):
        def __init__(self, trial):
            super().__init__()
            self.trial, self.best = trial, 0.0

        def on_epoch_end(self, epoch, logs=None):
            accuracy = float((logs or {}).get("val_accuracy", 0.0))
            if not math.isfinite(accuracy):
                raise optuna.TrialPruned("validation accuracy is not a number")
            self.best = max(self.best, accuracy)
            self.trial.report(accuracy, epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} at {accuracy:.4f}")

    def objective(trial) -> float:
        hyper, training = split_params(settings.model, {p.name: p.suggest(trial) for p in search_space(settings.model)})
        run_settings = dataclasses.replace(base, **training).resolved()
        keras.utils.set_random_seed(settings.seed + trial.number)
        model = build_compiled_model(spec, hyper, run_settings, len(fit_indices))
        reporter = ReportToTrial(trial)
        data = fit_data(spec, dataset.x_train[fit_indices], y_fit, run_settings, settings.seed + trial.number)
        model.fit(**data, epochs=run_settings.epochs, validation_data=(x_val, y_val), callbacks=[reporter], verbose=0)
        return reporter.best

    return objective


def _worker(study_name: str, storage_url: str, settings: TuneSettings, trials: int, timeout: float | None,
            index: int = 0, report=None) -> list[int]:
    """One worker process: optimise until the study holds ``trials`` finished trials (or the timeout).

    Each worker seeds its sampler differently (seed + index) so that workers do not propose the same points.
    """
    import optuna


    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    study = load_study(study_name, storage_url, settings.model, settings.seed + index)
    dataset = load_dataset(settings.data_dir, verbose=False)
    mine: list[int] = []

    def remember(study, trial) -> None:
        mine.append(trial.number)
        if report:
            report(trial)

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    stop = optuna.study.MaxTrialsCallback(trials, states=finished)
    if len(study.get_trials(deepcopy=False, states=finished)) < trials:
        study.optimize(objective_for(settings, dataset), n_trials=trials, timeout=timeout,
                       callbacks=[remember, stop], catch=(), gc_after_trial=True)
    return mine


def _worker_process(arguments) -> list[int]:
    return _worker(*arguments)


# What tune() accepts (the CLI offers the same through its own flags).
TUNE_RULES = {
    "trials": Rule(int, "finished trials the study should hold", low=1),
    "workers": Rule(int, "local worker processes", low=1),
    "epochs": Rule(int, "epochs per trial", low=1),
    "subset": Rule(int, "training images to tune on", low=MIN_TUNING_SUBSET),
}


def tune(
    model: str,
    trials: int,
    *,
    study_name: str | None = None,
    storage: str | None = None,
    workers: int = 1,
    timeout: float | None = None,
    epochs: int = 3,
    subset: int | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    root: str | os.PathLike | None = None,
    retrain: bool = False,
    final_epochs: int | None = None,
    report: Callable[[Any], None] | None = None,
    say: Callable[[str], None] | None = None,
    verbose: int | str = 0,
) -> dict[str, Any]:
    """Run (or continue) a study with ``workers`` local processes, then write its report (trials.csv,
    best.json, plots) into the study directory under ``root`` and, with ``retrain``, retrain the best
    trial on the full training set into ``STUDY/best-run``. Returns a summary of the study.

    ``report`` is called with each finished trial of this process, ``say`` with a line before each slow step.
    """
    for name, value in (("trials", trials), ("workers", workers), ("epochs", epochs), ("subset", subset)):
        TUNE_RULES[name].check(name, value)
    search_space(model)
    study_name = study_name or f"{model}-study"
    storage = storage or default_storage(study_name, root)
    settings = TuneSettings(model=model, epochs=epochs, subset=subset, seed=seed, data_dir=data_dir)
    load_study(study_name, storage, model, seed)  # validates storage and ownership before any worker starts

    started = time.perf_counter()
    if workers == 1:
        numbers = [_worker(study_name, storage, settings, trials, timeout, 0, report)]
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers) as pool:
            numbers = pool.map(_worker_process,
                               [(study_name, storage, settings, trials, timeout, index) for index in range(workers)])
    summary = study_summary(study_name, storage, model)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["trials_by_worker"] = numbers
    directory = study_directory(study_name, root)
    summary["directory"] = str(directory)
    summary["written"] = [str(path) for path in write_study_report(summary, study_name, storage, directory)]
    if retrain and summary["best"] is not None:
        if say:
            say(f"Retraining the best trial (#{summary['best']['number']}) on the full training set...")
        run = retrain_best(summary, out=directory / "best-run", epochs=final_epochs, data_dir=data_dir, seed=seed,
                           verbose=verbose)
        summary["final_run"] = {"path": str(run.path), "test_accuracy": run.metrics["test"]["accuracy"],
                                "macro_f1": run.metrics["test"]["macro"]["f1"]}
    return summary


# ------------------------------------------------------------------------------------------------
# Results


def study_summary(study_name: str, storage: str, model: str) -> dict[str, Any]:
    import optuna

    study = load_study(study_name, storage, model, create=False)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        duration = trial.duration.total_seconds() if trial.duration else None
        rows.append({"number": trial.number, "state": trial.state.name, "value": trial.value,
                     "duration_seconds": None if duration is None else round(duration, 2), "params": trial.params})
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = max(complete, key=lambda t: t.value) if complete else None
    return {
        "study": study_name,
        "storage": safe_url(storage),
        "model": model,
        "trials": rows,
        "counts": {state: sum(row["state"] == state for row in rows)
                   for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")},
        "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params},
    }


def write_study_report(summary: dict[str, Any], study_name: str, storage: str, directory: Path) -> list[Path]:
    """trials.csv, best.json and the Optuna plots (history, importances, parallel coordinates) as PNG."""
    import csv
    import io
    import json

    import matplotlib

    matplotlib.use("Agg")
    import optuna
    from optuna.visualization import matplotlib as optuna_plots


    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    names = sorted({name for row in summary["trials"] for name in row["params"]})
    writer = csv.writer(buffer)
    writer.writerow(["number", "state", "value", "duration_seconds", *names])
    for row in summary["trials"]:
        writer.writerow([row["number"], row["state"], row["value"], row["duration_seconds"],
                         *(row["params"].get(name) for name in names)])
    atomic_write_text(directory / "trials.csv", buffer.getvalue())
    atomic_write_text(directory / "best.json", json.dumps(summary["best"], indent=2) + "\n")
    written = [directory / "trials.csv", directory / "best.json"]

    study = load_study(study_name, storage, summary["model"], create=False)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    plots = [("history.png", optuna_plots.plot_optimization_history, 1),
             ("importances.png", optuna_plots.plot_param_importances, 2),
             ("parallel.png", optuna_plots.plot_parallel_coordinate, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, plot, needed in plots:
            if len(complete) < needed:
                continue
            try:
                axes = plot(study)
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue  # e.g. importances when every trial has the same value
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            save_figure(figure, directory / name)
            import matplotlib.pyplot as pyplot

            pyplot.close(figure)
            written.append(directory / name)
    return written


def retrain_best(summary: dict[str, Any], *, out: str | os.PathLike, epochs: int | None = None,
                 data_dir: str | None = None, seed: int = 0, verbose: int | str = 0):
    """The best trial's settings trained on the full training set and evaluated once on the test set."""

    if summary["best"] is None:
        raise TuningError(f"study {summary['study']!r} has no completed trial to retrain")
    hyper, training = split_params(summary["model"], summary["best"]["params"])
    return train(summary["model"], hyper=hyper, out=out, overwrite=True, data_dir=data_dir, verbose=verbose,
                 epochs=epochs, val_split=0.0, seed=seed, **training)
