"""The model that ships in the package: a run directory under ``digitlab/shipped`` (its ONNX model, its mark
model, its config with the calibration and the command that trained it, its metrics), which every command
that reads images uses when it is given no RUN. ``make shipped-model`` makes it (benchmarks/ship.py); a run
given explicitly always wins.
"""

from __future__ import annotations

import os
from pathlib import Path

from digitlab.runs import CONFIG_FILE, RunError, open_run

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped"


def shipped_run() -> Path:
    """The shipped run's directory, or a RunError saying that this install has none."""
    if not (SHIPPED_DIR / CONFIG_FILE).is_file():
        raise RunError("no model ships with this install of digitlab; give a RUN (digitlab train makes one)")
    return SHIPPED_DIR


def run_or_shipped(run: str | os.PathLike | None) -> Path:
    """``run`` itself, or the shipped run when it is None."""
    return Path(run) if run is not None else shipped_run()


def is_run_directory(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run directory (a directory with a run config), so that a command's first
    argument can be a RUN or already one of the images it reads."""
    try:
        open_run(path, require_complete=False)
    except RunError:
        return False
    return True
