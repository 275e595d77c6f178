"""One digit, or several touching? The mark model answers it for the number reader.

The digit classifier cannot: it reads two touching digits ("18") as one ("8") with a confidence near 1,
and so does it the pieces of a single digit cut in two. The mark model is a small CNN that sees a mark
normalised as the classifier sees it (28x28) and gives the probability that it holds more than one
digit. ``digitlab train-marks RUN`` trains it on numbers written with the run's own training digits
(``training/marks.py``) and stores it beside the run's model as ``marks.onnx``, its SHA-256 recorded in
the run's config; a reader uses it when the run has one, and only if that hash matches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitlab.fileio import sha256_file
from digitlab.reading.inference import onnx_session
from digitlab.runs import Run, RunError

MARKS_FILE = "marks.onnx"
SEVERAL = 0.9  # a mark the mark model gives at least this probability of holding several digits is cut


def verified_marks(run: Run) -> Path | None:
    """The run's marks.onnx, None when it has none; a RunError if its SHA-256 is not the one recorded."""
    path = run.file(MARKS_FILE)
    if not path.exists():
        return None
    recorded = run.config.get("marks", {}).get("sha256")
    if recorded is None or sha256_file(path) != recorded:
        raise RunError(f"{path}: its SHA-256 does not match the one recorded when it was trained; "
                       f"refusing to load it (re-run: digitlab train-marks {run.path})")
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

    def several(self, images: np.ndarray) -> np.ndarray:
        """uint8 inputs (n, 28, 28) -> the probability that each holds more than one digit."""
        inputs = as_inputs(images)
        return self._session.run(None, {self._input_name: inputs})[0].reshape(-1).astype(np.float64)


def as_inputs(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> the float32 (n, 28, 28, 1) in [0, 1] the mark model takes."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]
