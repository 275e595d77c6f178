"""ONNX export: Keras' own ``model.export(format="onnx")``, checked against Keras before it is kept.

ONNX is the format for serving without TensorFlow (ONNX Runtime is ~180 MB and starts in a fraction
of a second), for mobile (ONNX Runtime Mobile), the browser (onnxruntime-web) and other languages.
The file is written beside the run's model.keras only after ONNX Runtime's outputs matched Keras' on
a batch of test images, and its SHA-256 is recorded in config.json so that it is verified before use.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from digitlab.data import load_dataset
from digitlab.errors import DigitlabError
from digitlab.fileio import sha256_file
from digitlab.models import get_spec
from digitlab.runs import ONNX_FILE, Run, open_run

TOLERANCE = 1e-4


class ExportError(DigitlabError):
    """The exported model could not be written or does not reproduce the Keras model."""


def write_checked_onnx(model, inputs: np.ndarray, target: Path, tolerance: float = TOLERANCE) -> tuple[float, float]:
    """Export a Keras model to ``target``, kept only if ONNX Runtime reproduces Keras on ``inputs`` within
    ``tolerance`` (else ExportError, and nothing is written). Returns (max |ONNX - Keras|, export seconds)."""
    import onnxruntime

    temporary = target.with_name(f".{target.stem}.tmp-{os.getpid()}.onnx")
    started = time.perf_counter()
    try:
        model(inputs[:1])  # some backends need the model called once before export
        try:
            with warnings.catch_warnings():  # tf2onnx's own NumPy deprecation noise
                warnings.simplefilter("ignore", FutureWarning)
                model.export(str(temporary), format="onnx", verbose=False)
        except Exception as error:
            raise ExportError(f"ONNX export failed: {type(error).__name__}: {error}") from None
        seconds = time.perf_counter() - started
        session = onnxruntime.InferenceSession(str(temporary), providers=["CPUExecutionProvider"])
        onnx_outputs = session.run(None, {session.get_inputs()[0].name: inputs})[0]
        keras_outputs = np.asarray(model.predict(inputs, batch_size=1024, verbose=0))
        difference = float(np.max(np.abs(onnx_outputs - keras_outputs)))
        if not difference <= tolerance:
            raise ExportError(f"ONNX outputs differ from Keras by up to {difference:.2e} (tolerance {tolerance:g}); "
                              "the exported file was not kept")
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return difference, seconds


def export_onnx(run: str | os.PathLike | Run, *, check_images: np.ndarray | None = None,
                tolerance: float = TOLERANCE) -> dict:
    """Write RUN/model.onnx and return what was checked: max |ONNX - Keras| over ``check_images``.

    ``check_images`` defaults to the first 1,000 MNIST test images.
    """
    run = run if isinstance(run, Run) else open_run(run)
    model = run.load_model()
    spec = get_spec(run.config["model"])
    if check_images is None:

        check_images = load_dataset(run.config["data"].get("data_dir"), verbose=False).x_test[:1000]
    inputs = spec.prepare(check_images)

    target = run.file(ONNX_FILE)
    difference, seconds = write_checked_onnx(model, inputs, target, tolerance)
    record = {"file": ONNX_FILE, "sha256": sha256_file(target), "max_abs_difference": difference,
              "checked_images": int(len(inputs)), "export_seconds": round(seconds, 2),
              "bytes": target.stat().st_size}
    run.update_config(onnx=record)
    return record
