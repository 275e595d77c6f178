"""Run directories: everything needed to reproduce, inspect and use one trained model.

    config.json      model name, hyper-parameters, training settings, seed, data source + hash,
                     package versions, and the run's status (running / interrupted / complete)
    checkpoint.keras the model after the last finished epoch (what --resume continues from)
    model.keras      the final model (safe-mode loadable; never a pickle)
    history.json     per-epoch loss/accuracy (train and validation) and seconds
    metrics.json     evaluation results per split
    curves.png, confusion.png, misclassified.png, report.md

All files are written atomically, so a run killed at any moment is readable and says how far it got.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitlab.errors import DigitlabError, option
from digitlab.fileio import atomic_write_text, sha256_file
from digitlab.tables import markdown_table

RUN_FORMAT = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
CHECKPOINT_FILE = "checkpoint.keras"
ONNX_FILE = "model.onnx"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
CURVES_PNG, CONFUSION_PNG, MISCLASSIFIED_PNG = "curves.png", "confusion.png", "misclassified.png"
SPLITS = ("test", "train", "val")  # what a run can be evaluated on; metrics.json holds one entry per split


class RunError(DigitlabError):
    """A run directory is missing, foreign, from an incompatible version, or not in the needed state."""


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("digitlab", "keras", "tensorflow", "tensorflow-cpu", "jax", "torch", "numpy", "scikit-learn",
                    "onnxruntime"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    versions["keras_backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    return versions


def write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


@dataclass
class Run:
    """A handle on a run directory; reads lazily, writes atomically."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def config(self) -> dict[str, Any]:
        return self._read(CONFIG_FILE)

    def update_config(self, **changes: Any) -> None:
        write_json(self.file(CONFIG_FILE), {**self.config, **changes})

    @property
    def status(self) -> str:
        return self.config.get("status", "unknown")

    @property
    def metrics(self) -> dict[str, Any]:
        return self._read(METRICS_FILE) if self.file(METRICS_FILE).exists() else {}

    def update_metrics(self, **changes: Any) -> None:
        write_json(self.file(METRICS_FILE), {**self.metrics, **changes})

    @property
    def history(self) -> dict[str, list[float]]:
        return self._read(HISTORY_FILE) if self.file(HISTORY_FILE).exists() else {}

    def _read(self, name: str) -> Any:
        try:
            return json.loads(self.file(name).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise RunError(f"{self.file(name)}: unreadable ({error})") from None

    def model_sha256(self) -> str:
        """The SHA-256 of the trained model file: which model a correction or a fine-tuned run came from."""

        return sha256_file(self.file(MODEL_FILE))

    def load_model(self, which: str = MODEL_FILE):
        """The saved Keras model, loaded in safe mode (no arbitrary code from the file)."""
        from digitlab._keras import keras

        path = self.file(which)
        if not path.exists():
            raise RunError(f"{self.path}: no {which} (status: {self.status})")
        try:
            return keras.saving.load_model(path, safe_mode=True)
        except Exception as error:  # a damaged zip or config; report, do not crash
            raise RunError(f"{path}: cannot load the model ({type(error).__name__}: {error})") from None


def open_run(path: str | os.PathLike, *, require_complete: bool = True) -> Run:
    """A run directory written by a compatible digitlab, or a RunError saying why not."""
    run = Run(Path(path))
    if not run.path.is_dir():
        raise RunError(f"{run.path}: run directory not found")
    if not run.file(CONFIG_FILE).exists():
        raise RunError(f"{run.path}: not a digitlab run directory (no {CONFIG_FILE})")
    config = run.config
    if not isinstance(config, dict) or "digitlab_run_format" not in config:
        raise RunError(f"{run.path}: {CONFIG_FILE} is not a digitlab run config")
    if config["digitlab_run_format"] != RUN_FORMAT:
        raise RunError(
            f"{run.path}: written in run format {config['digitlab_run_format']} by digitlab "
            f"{config.get('versions', {}).get('digitlab', '?')}; this digitlab reads format {RUN_FORMAT}"
        )
    if require_complete and config.get("status") != "complete":
        raise RunError(
            f"{run.path}: the run is {config.get('status', 'incomplete')}, not complete; "
            f"continue it with: digitlab train --resume {run.path}"
        )
    return run


def create_run(path: str | os.PathLike, config: dict[str, Any], *, overwrite: bool = False) -> Run:
    """A new run directory holding ``config``; an existing one is replaced only with ``overwrite``.

    The new directory is assembled under a temporary name and renamed into place, so an existing run
    is never mixed with a new one.
    """
    target = Path(path)
    if target.exists():
        if not overwrite:
            raise RunError(f"{target}: already exists; pass {option('overwrite')} to replace it, or "
                           f"choose another {option('out', None)}")
        if target.is_dir() and any(target.iterdir()) and not (target / CONFIG_FILE).exists():
            raise RunError(f"{target}: exists and is not a digitlab run; refusing to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    write_json(staging / CONFIG_FILE, {"digitlab_run_format": RUN_FORMAT, "status": "running", **config})
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    os.replace(staging, target)
    return Run(target)


def next_free_path(base: str | os.PathLike) -> Path:
    """``base`` if free, else base-2, base-3, ...: the default --out never clobbers an earlier run."""
    base = Path(base)
    if not base.exists():
        return base
    counter = 2
    while (candidate := base.with_name(f"{base.name}-{counter}")).exists():
        counter += 1
    return candidate


# ------------------------------------------------------------------------------------------------
# The leaderboard


def expand_run_paths(paths: list[str | os.PathLike]) -> list[Path]:
    """Run directories as given, with a directory of runs (such as runs/quickstart) standing for its runs."""
    expanded = []
    for path in map(Path, paths):
        if path.is_dir() and not (path / CONFIG_FILE).exists():
            children = sorted(child for child in path.iterdir() if (child / CONFIG_FILE).exists())
            if children:
                expanded.extend(children)
                continue
        expanded.append(path)
    return expanded


def leaderboard(paths: list[str | os.PathLike], *, markdown: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per complete run (a directory of runs stands for its runs), best test accuracy first; with
    ``markdown``, also written there as a table."""
    rows = []
    for path in expand_run_paths(paths):
        run = open_run(path)
        config, test = run.config, run.metrics.get("test", {})
        rows.append({
            "run": str(run.path),
            "model": config["model"],
            "params": config.get("parameters"),
            "epochs": config.get("epochs_done", config["training"]["epochs"]),
            "train_seconds": config.get("train_seconds"),
            "test_accuracy": test.get("accuracy"),
            "macro_f1": test.get("macro", {}).get("f1"),
        })
    rows.sort(key=lambda row: -(row["test_accuracy"] or 0))
    if markdown is not None:
        atomic_write_text(markdown, markdown_table(*leaderboard_cells(rows)))
    return rows


LEADERBOARD_COLUMNS = (
    ("run", "run", "{}"),
    ("model", "model", "{}"),
    ("params", "params", "{:,}"),
    ("epochs", "epochs", "{}"),
    ("train_seconds", "train time", "{:.1f} s"),
    ("test_accuracy", "test accuracy", "{:.2%}"),
    ("macro_f1", "macro F1", "{:.4f}"),
)


def leaderboard_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = [title for _, title, _ in LEADERBOARD_COLUMNS]
    body = [
        [fmt.format(row[key]) if row[key] is not None else "-" for key, _, fmt in LEADERBOARD_COLUMNS]
        for row in rows
    ]
    return header, body
