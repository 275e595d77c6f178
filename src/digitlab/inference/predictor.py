"""The Predictor: load a run once, then classify 28x28 MNIST-style inputs, single or batched.

ONNX Runtime is used when the run has a verified ``model.onnx`` (fast to load, ~0.1 ms per image,
and it needs neither Keras nor TensorFlow); otherwise the run's ``model.keras`` through Keras.
Only those two files of the given run directory are ever loaded, and the ONNX file only if its
SHA-256 matches the one recorded by ``digitlab export``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.data import IMAGE_SIDE
from digitlab.errors import InvalidArgument
from digitlab.fileio import sha256_file
from digitlab.inference.calibration import Calibration, statuses, tempered
from digitlab.models import get_spec
from digitlab.rules import Rule
from digitlab.runs import MODEL_FILE, ONNX_FILE, Run, RunError, open_run

ENGINES = ("auto", "onnx", "keras")
MIN_CONFIDENCE_RULE = Rule(float, "withhold readings whose calibrated confidence is below this (default: the "
                           "run's threshold, chosen on held-out data; 0 gives every reading)", low=0, high=1)


@dataclass(frozen=True)
class Prediction:
    digit: int  # the most probable digit, given or not (see status)
    confidence: float  # calibrated
    probabilities: list[float]
    status: str = "ok"  # "ok", or withheld: "not-a-digit", "unsure" (see inference/calibration.py)

    @property
    def given(self) -> int | None:
        """The digit when it is given, None when the reading is withheld."""
        return self.digit if self.status == "ok" else None

    def top(self, count: int = 3) -> list[tuple[int, float]]:
        order = np.argsort(self.probabilities)[::-1][:count]
        return [(int(digit), float(self.probabilities[digit])) for digit in order]


@dataclass(frozen=True)
class BatchPrediction:
    probabilities: np.ndarray  # (n, 10), rows sum to 1, calibrated
    threshold: float = 0.0  # readings less confident than this are withheld

    @property
    def statuses(self) -> list[str]:
        return statuses(self.probabilities, self.threshold)

    @property
    def digits(self) -> np.ndarray:
        return np.argmax(self.probabilities, axis=1)

    @property
    def confidences(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    def __getitem__(self, index: int) -> Prediction:
        row = self.probabilities[index]
        probabilities = row.tolist()
        digit = int(row.argmax())
        return Prediction(digit, probabilities[digit], probabilities, statuses(row[None], self.threshold)[0])

    def __len__(self) -> int:
        return len(self.probabilities)


def normalised(probabilities: np.ndarray) -> np.ndarray:
    """Scores -> probabilities that sum to 1 (the lesson's sigmoid outputs do not)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    totals = probabilities.sum(axis=-1, keepdims=True)
    return probabilities / np.where(totals > 0, totals, 1.0)


def verified_onnx(run: Run) -> Path:
    """The run's model.onnx, only if its SHA-256 is the one ``digitlab export`` recorded."""
    path = run.file(ONNX_FILE)
    recorded = run.config.get("onnx", {}).get("sha256")
    if not path.exists():
        raise RunError(f"{run.path}: no {ONNX_FILE}; create it with: digitlab export {run.path}")
    if recorded is None or sha256_file(path) != recorded:
        raise RunError(f"{path}: its SHA-256 does not match the one recorded at export; "
                       f"refusing to load it (re-run: digitlab export {run.path})")
    return path


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session; ``threads`` (if given) caps its threads, which then sleep when idle."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle pool threads spin-wait by default, taking CPU from the web server between requests.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Predictor:
    """Classifies 28x28 uint8 MNIST-style images with a trained run.

    ``threads`` limits ONNX Runtime's threads: 1 suits a server answering single images (no spinning
    idle threads); the default, all cores, suits large batches. Probabilities are calibrated with the run's
    temperature, and a reading less confident than ``min_confidence`` is withheld (default: the run's
    threshold, chosen on held-out data; 0 gives every reading).
    """

    def __init__(self, run: str | os.PathLike | Run, *, engine: str = "auto", threads: int | None = None,
                 min_confidence: float | None = None):
        if engine not in ENGINES:
            raise InvalidArgument(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
        MIN_CONFIDENCE_RULE.check("min_confidence", min_confidence)
        self.run = run if isinstance(run, Run) else open_run(run)
        self.calibration = Calibration.of_config(self.run.config)
        self.threshold = self.calibration.threshold if min_confidence is None else float(min_confidence)
        self.spec = get_spec(self.run.config["model"])
        onnx_path = self.run.file(ONNX_FILE)
        use_onnx = engine == "onnx" or (engine == "auto" and onnx_path.exists())
        if use_onnx:
            self._session = self._load_onnx(onnx_path, threads)
            self.engine = "onnx"
        else:
            self._model = self.run.load_model(MODEL_FILE)
            self.engine = "keras"

    def _load_onnx(self, path, threads: int | None):
        session = onnx_session(verified_onnx(self.run), threads)
        self._input_name = session.get_inputs()[0].name
        self._output_names = [output.name for output in session.get_outputs()]  # named, not looked up each call
        return session

    @property
    def model_sha256(self) -> str:
        """The SHA-256 of the model file in use (recorded with corrections, so that each names its model)."""
        if self.engine == "onnx":
            return self.run.config["onnx"]["sha256"]
        return self.run.model_sha256()

    @property
    def input_spec(self) -> dict:
        return {"shape": [IMAGE_SIDE, IMAGE_SIDE], "dtype": "uint8", "range": [0, 255],
                "polarity": "white digit on black, as MNIST"}

    def predict_batch(self, images: np.ndarray) -> BatchPrediction:
        """uint8 images (n, 28, 28), already MNIST-style (see digitlab.reading.imaging), -> probabilities."""
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise InvalidArgument(f"expected images of shape (n, 28, 28), got {images.shape}")
        inputs = self.spec.prepare(images)
        if self.engine == "onnx":
            scores = self._session.run(self._output_names, {self._input_name: inputs})[0]
        else:
            scores = np.asarray(self._model.predict_on_batch(inputs))
        return BatchPrediction(tempered(normalised(scores), self.calibration.temperature), self.threshold)

    def predict(self, image: np.ndarray) -> Prediction:
        """One 28x28 image."""
        return self.predict_batch(np.asarray(image)[None] if np.ndim(image) == 2 else image)[0]
