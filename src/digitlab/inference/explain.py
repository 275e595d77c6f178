"""Why did the model say 4? Saliency maps over the 28x28 input: the evidence for a digit, pixel by pixel.

Two methods:

- **occlusion** (the default): hide one small square of the input at a time (set it to background) and
  see how much the digit's log-probability drops. All the hidden copies of an image go to the model in one
  batch, so it runs wherever the model runs (ONNX included) and takes milliseconds. A pixel's saliency is
  the mean drop of the squares covering it: positive where the pixel's ink is evidence for the digit,
  negative where hiding it makes the digit more likely.
- **integrated-gradients** (Sundararajan et al. 2017): the gradient of the digit's log-probability,
  averaged along the straight path from a blank image to the input, times the input. It needs the Keras
  model and a backend whose gradients digitlab can take (TensorFlow).

Both give maps for every digit at once (occlusion) or for the requested ones (integrated gradients), so the
runner-up's evidence ("what makes it look like a 9") comes with the predicted digit's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from digitlab.data import IMAGE_SIDE
from digitlab.errors import InvalidArgument
from digitlab.inference.predictor import Predictor, normalised

METHODS = ("occlusion", "integrated-gradients")
WINDOW = 4  # occluded squares are 4x4 pixels (a pen stroke is about 2-3 px wide) ...
STRIDE = 2  # ... every 2 pixels: 13 x 13 = 169 hidden copies per image (about 5 ms for the cnn on ONNX)
STEPS = 32  # integrated gradients: points on the path from the blank image to the input
CHUNK = 4096  # images per model call
FLOOR = 1e-7  # probabilities are clipped here before the log, so a certain "no" stays finite

Classify = Callable[[np.ndarray], np.ndarray]  # uint8 (n, 28, 28) -> probabilities (n, 10)


@dataclass(frozen=True)
class Explanation:
    """One image's reading with the evidence for its digit and for the runner-up."""

    digit: int
    confidence: float
    runner_up: int
    runner_up_confidence: float
    input: np.ndarray  # (28, 28) uint8: what the model saw
    saliency: np.ndarray  # (28, 28) float32: evidence for ``digit``
    saliency_runner_up: np.ndarray  # (28, 28) float32: evidence for ``runner_up``
    method: str

    def to_json(self) -> dict:
        return {"digit": self.digit, "confidence": round(self.confidence, 6), "runner_up": self.runner_up,
                "runner_up_confidence": round(self.runner_up_confidence, 6), "method": self.method,
                "input": self.input.astype(int).tolist(), "saliency": rounded(self.saliency),
                "saliency_runner_up": rounded(self.saliency_runner_up)}


def rounded(saliency: np.ndarray) -> list[list[float]]:
    return np.round(saliency.astype(np.float64), 4).tolist()


def _windows() -> np.ndarray:
    """(169, 784) 0/1: which pixels each occluded square covers."""
    starts = range(0, IMAGE_SIDE - WINDOW + 1, STRIDE)
    masks = []
    for top in starts:
        for left in starts:
            mask = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
            mask[top:top + WINDOW, left:left + WINDOW] = 1
            masks.append(mask.ravel())
    return np.stack(masks)


_COVER = _windows()
_HIDDEN = _COVER.reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(bool)
_COVERAGE = _COVER.sum(axis=0)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or images.dtype != np.uint8:
        raise InvalidArgument(f"expected uint8 images of shape (n, 28, 28), got {images.dtype} {images.shape}")
    return images


def _log(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(normalised(probabilities), FLOOR, None))


def _in_chunks(classify: Classify, images: np.ndarray) -> np.ndarray:
    return np.concatenate([classify(images[start:start + CHUNK]) for start in range(0, len(images), CHUNK)])


def occlusion(classify: Classify, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (n, 10) and saliency maps (n, 10, 28, 28) for every digit, by occlusion.

    ``classify`` maps uint8 images (m, 28, 28) to probabilities (m, 10): a Predictor's, or a Keras
    model's through its spec's ``prepare``."""
    images = _check_images(images)
    copies = len(_HIDDEN) + 1
    batch = np.repeat(images, copies, axis=0).reshape(len(images), copies, IMAGE_SIDE, IMAGE_SIDE)
    batch[:, 1:][:, _HIDDEN] = 0  # copy 0 stays whole; copy k has square k hidden
    probabilities = _in_chunks(classify, batch.reshape(-1, IMAGE_SIDE, IMAGE_SIDE))
    scores = _log(probabilities).reshape(len(images), copies, -1)
    drops = scores[:, :1, :] - scores[:, 1:, :]  # (n, squares, 10): how much hiding each square costs
    maps = np.einsum("nsc,sp->ncp", drops, _COVER) / _COVERAGE
    whole = np.asarray(probabilities, dtype=np.float64).reshape(len(images), copies, -1)[:, 0]
    return whole, maps.reshape(len(images), -1, IMAGE_SIDE, IMAGE_SIDE).astype(np.float32)


def integrated_gradients(model, prepare: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                         classes: np.ndarray, *, steps: int = STEPS) -> np.ndarray:
    """Saliency maps (n, k, 28, 28) for ``classes`` (n, k) by integrated gradients from a blank image.

    ``prepare`` turns uint8 images into the model's input (scaled to [0, 1], flattened for dense models).
    Needs the TensorFlow backend, whose gradients it takes."""
    from digitlab._keras import keras

    if keras.backend.backend() != "tensorflow":
        raise InvalidArgument(f"integrated gradients needs the tensorflow Keras backend, not "
                              f"{keras.backend.backend()!r}; use --method occlusion")
    import tensorflow as tf

    images = _check_images(images)
    classes = np.asarray(classes).reshape(len(images), -1)
    inputs = np.asarray(prepare(images), dtype=np.float32)
    # Trapezoid rule on `steps` intervals: the end points count half.
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, dtype=np.float32)
    weights[[0, -1]] /= 2
    per_call = max(1, CHUNK // (classes.shape[1] * (steps + 1)))
    maps = []
    for start in range(0, len(images), per_call):
        chunk, targets = inputs[start:start + per_call], classes[start:start + per_call]
        count, wanted = len(chunk), targets.shape[1]
        # Every (image, class, path point) is one row: each row's output depends on its own input only,
        # so the gradient of the sum holds each row's own gradient.
        shape = (count, wanted, steps + 1, *chunk.shape[1:])
        scaled = alphas.reshape(1, 1, -1, *[1] * (chunk.ndim - 1)) * chunk[:, None, None]
        path = tf.constant(np.broadcast_to(scaled, shape).reshape(-1, *chunk.shape[1:]))
        rows = np.repeat(targets.reshape(-1), steps + 1)
        with tf.GradientTape() as tape:
            tape.watch(path)
            outputs = model(path, training=False)
            log_probabilities = tf.math.log(tf.clip_by_value(
                outputs / tf.reduce_sum(outputs, axis=-1, keepdims=True), FLOOR, 1.0))
            total = tf.reduce_sum(tf.gather(log_probabilities, rows[:, None], axis=1, batch_dims=1))
        gradients = tape.gradient(total, path).numpy().reshape(count, wanted, steps + 1, -1)
        average = np.tensordot(gradients, weights, axes=([2], [0]))  # (count, wanted, pixels)
        maps.append(average * chunk.reshape(count, 1, -1))
    return np.concatenate(maps).reshape(len(images), classes.shape[1], IMAGE_SIDE, IMAGE_SIDE).astype(np.float32)


def _top_two(probabilities: np.ndarray) -> np.ndarray:
    """(n, 2): each row's predicted digit and runner-up."""
    return np.argsort(-probabilities, axis=1, kind="stable")[:, :2]


class Explainer:
    """Explains readings of a trained run (a directory, a Run or a :class:`Predictor`): the Predictor for
    occlusion, the run's Keras model for integrated gradients (loaded on first use)."""

    def __init__(self, run, method: str = "occlusion", *, engine: str = "auto"):
        if method not in METHODS:
            raise InvalidArgument(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
        self.predictor = run if isinstance(run, Predictor) else Predictor(run, engine=engine)
        self.method = method
        self._model = None

    def classify(self, images: np.ndarray) -> np.ndarray:
        return self.predictor.predict_batch(images).probabilities

    def explain(self, images: np.ndarray) -> list[Explanation]:
        """One Explanation per uint8 28x28 image (a single image or a stack)."""
        images = _check_images(images)
        if self.method == "occlusion":
            probabilities, every = occlusion(self.classify, images)
            top = _top_two(probabilities)
            maps = np.take_along_axis(every, top[:, :, None, None], axis=1)
        else:
            if self._model is None:
                self._model = self.predictor.run.load_model()
            probabilities = self.classify(images)
            top = _top_two(probabilities)
            maps = integrated_gradients(self._model, self.predictor.spec.prepare, images, top)
        return [Explanation(int(first), float(row[first]), int(second), float(row[second]), image,
                            pair[0], pair[1], self.method)
                for (first, second), row, image, pair in zip(top, probabilities, images, maps, strict=True)]


def deletion_check(predictor, images: np.ndarray, explanations: list[Explanation], *, pixels: int = 40,
                   seed: int = 0) -> dict[str, float]:
    """Faithfulness: the mean probability of each image's predicted digit, whole, with its ``pixels`` most
    salient pixels deleted (set to background), and with as many random ink pixels deleted instead. A
    faithful map's pixels carry the evidence, so deleting them must cost far more than random ink."""
    images = _check_images(images)
    digits = np.array([explanation.digit for explanation in explanations])
    generator = np.random.default_rng(seed)
    salient, random_ink = images.copy(), images.copy()
    for index, (image, explanation) in enumerate(zip(images, explanations, strict=True)):
        salient[index].reshape(-1)[np.argsort(-explanation.saliency.ravel())[:pixels]] = 0
        ink = np.flatnonzero(image.ravel() > 0)
        random_ink[index].reshape(-1)[generator.choice(ink, min(pixels, len(ink)), replace=False)] = 0

    def probability(batch: np.ndarray) -> float:
        return float(predictor.predict_batch(batch).probabilities[np.arange(len(batch)), digits].mean())

    whole = probability(images)
    return {"probability": whole, "drop_salient": whole - probability(salient),
            "drop_random_ink": whole - probability(random_ink)}


def explain(run, images: np.ndarray, method: str = "occlusion") -> list[Explanation]:
    """Explain a trained run's readings of uint8 28x28 MNIST-style images (one, or a stack)."""
    return Explainer(run, method).explain(images)
