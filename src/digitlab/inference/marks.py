"""Is this piece of ink one whole digit? The mark model answers it for the number reader.

The digit classifier cannot: it reads two touching digits ("18") as one ("8") with a confidence near 1,
and a piece of a single digit cut in two just as surely. The reader cuts a wide mark at every candidate
cut and reads each piece (``numbers.py``); the mark model is a small CNN that sees a piece normalised as
the classifier sees it (28x28) and gives the log-odds that it is *not* exactly one whole digit: several
touching digits, a fragment of one, or a digit with a piece of its neighbour. ``digitlab train-marks RUN``
trains it on numbers written with the run's own training digits (``reading/mark_training.py``) and stores it
beside the run's model as ``marks.onnx``, its SHA-256 recorded in the run's config; a reader uses it when
the run has one, and only if that hash matches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitlab.fileio import sha256_file
from digitlab.inference.predictor import onnx_session
from digitlab.runs import Run, RunError

MARKS_FILE = "marks.onnx"
MARKS_VERSION = 2  # 1 answered "several digits?" of whole marks only; 2 answers "one whole digit?" of any piece


def verified_marks(run: Run) -> Path | None:
    """The run's marks.onnx, None when it has none; a RunError if its SHA-256 is not the one recorded or it
    was trained for an earlier version of the reader."""
    path = run.file(MARKS_FILE)
    if not path.exists():
        return None
    record = run.config.get("marks", {})
    if record.get("sha256") is None or sha256_file(path) != record["sha256"]:
        raise RunError(f"{path}: its SHA-256 does not match the one recorded when it was trained; "
                       f"refusing to load it (re-run: digitlab train-marks {run.path})")
    if record.get("version") != MARKS_VERSION:
        raise RunError(f"{path} was trained for an earlier version of the number reader "
                       f"(re-run: digitlab train-marks {run.path})")
    return path


def mark_model_info(run: Run) -> dict | None:
    """What a server or an app says of the run's mark model: its SHA-256, or None when it has none."""
    return {"sha256": run.config["marks"]["sha256"]} if run.file(MARKS_FILE).exists() else None


class MarkModel:
    """The mark model of a run, in ONNX Runtime."""

    def __init__(self, path: str | Path, *, threads: int | None = None):
        self._session = onnx_session(path, threads)
        self._input_name = self._session.get_inputs()[0].name

    @classmethod
    def of_run(cls, run: Run, *, threads: int | None = None) -> MarkModel | None:
        path = verified_marks(run)
        return None if path is None else cls(path, threads=threads)

    def log_one_digit(self, images: np.ndarray) -> np.ndarray:
        """uint8 inputs (n, 28, 28) -> the log-probability that each is exactly one whole digit."""
        logits = self._session.run(None, {self._input_name: as_inputs(images)})[0].reshape(-1).astype(np.float64)
        return -np.logaddexp(0.0, logits)  # log(1 - sigmoid(logit)), exact where the sigmoid would round to 1


def as_inputs(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> the float32 (n, 28, 28, 1) in [0, 1] the mark model takes."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]
