"""A writer MNIST lacks, before and after their corrections.

The writer slants every digit hard to the right (a shear of 0.6 and a 10 degree turn), writes narrow (half
the width) and draws on the page's canvas (18 px pen on 280x280): MNIST digits re-written so are what this
writer's uploads look like; they reach the model through `digitlab.reading.imaging` like any upload.

The writer's held-out set is 2,000 MNIST *test* digits in that style. Their corrections are the same style
applied to class-balanced MNIST *training* digits, sent through the real path: stored in a corrections store
(as `POST /v1/feedback` does), exported as IDX (`digitlab feedback --export`), and used by
`digitlab train --from BASE --extra-data DIR` (fine-tuning the base run on all of MNIST's training images
plus the corrections, each seen `--extra-weight` times an epoch, 10% of them held back for validation).
"0 corrections" fine-tunes the same way without them, to tell the corrections' effect from more training.
Accuracy is at the final epoch, the mean over seeds; nothing is chosen on either test set.

    python -m benchmarks.writer runs/quickstart/cnn [--seeds 2] [--counts 50 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "writer.json"
SHEAR, SQUASH, TURN = 0.6, 0.5, 10.0
HELD_OUT = 2000
FINE_TUNE = {"epochs": 2, "learning_rate": 3e-4, "schedule": "cosine"}
EXTRA_WEIGHT = 20.0


def writer_style(digit: np.ndarray) -> np.ndarray:
    """One MNIST digit as this writer writes it: slanted, turned and narrow (an affine map about the centre)."""
    from scipy import ndimage

    angle = np.deg2rad(TURN)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = np.array([[1.0, 0.0], [SHEAR, 1.0]]) @ np.diag([1.0, 1.0 / SQUASH]) @ turn  # output -> input
    centre = np.array([13.5, 13.5])
    moved = ndimage.affine_transform(digit.astype(np.float32), matrix, offset=centre - matrix @ centre, order=1)
    return np.clip(moved, 0, 255).astype(np.uint8)


def as_uploaded(digits: np.ndarray) -> np.ndarray:
    """The 28x28 inputs the model sees when the writer draws these digits on the page."""
    from benchmarks.uploads import canvas_png
    from digitlab.reading.imaging import bytes_to_mnist

    return np.stack([bytes_to_mnist(canvas_png(writer_style(digit))).image for digit in digits])


def balanced(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` indices, as many of each digit as can be, drawn with ``seed``."""
    generator = np.random.default_rng(seed)
    per_class = [generator.permutation(np.flatnonzero(labels == digit)) for digit in range(10)]
    return np.sort(np.concatenate([chosen[:count // 10 + (digit < count % 10)]
                                   for digit, chosen in enumerate(per_class)]))


def correction_export(inputs: np.ndarray, labels: np.ndarray, base, directory: Path) -> Path:
    """The corrections through a real store and its IDX export, as the server and `digitlab feedback` do."""
    from digitlab.feedback.store import FeedbackStore
    from digitlab.feedback.summary import summarise
    from digitlab.inference.predictor import Predictor

    store = FeedbackStore(directory / "store")
    predictor = Predictor(base)
    read = predictor.predict_batch(inputs).digits
    for image, label, prediction in zip(inputs, labels, read, strict=True):
        store.add(label=str(label), inputs=image[None], prediction=str(prediction), model_sha256=base.model_sha256())
    store.close()
    summarise(directory / "store", export=directory / "export", gallery=directory / "gallery.png")
    return directory / "export"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="the base run (runs/quickstart/cnn)")
    parser.add_argument("--seeds", type=int, default=2, help="fine-tuning seeds per count (default: %(default)s)")
    parser.add_argument("--counts", type=int, nargs="+", default=[50, 200], help="corrections (default: 50 200)")
    arguments = parser.parse_args()
    from digitlab import load_dataset
    from digitlab.inference.predictor import Predictor
    from digitlab.pipeline import train
    from digitlab.runs import open_run

    base = open_run(arguments.run)
    mnist = load_dataset(verbose=False)
    writer_inputs = as_uploaded(mnist.x_test[:HELD_OUT])
    writer_labels = mnist.y_test[:HELD_OUT]

    def accuracies(run) -> dict:
        predictor = Predictor(run, engine="keras")
        return {"writer_accuracy": float((predictor.predict_batch(writer_inputs).digits == writer_labels).mean()),
                "mnist_test_accuracy": float(run.metrics["test"]["accuracy"])}

    before = accuracies(base)
    rows = []
    with tempfile.TemporaryDirectory(prefix="digitlab-writer-") as scratch:
        for count in [0, *arguments.counts]:
            members = []
            for seed in range(arguments.seeds):
                directory = Path(scratch) / f"{count}-{seed}"
                directory.mkdir()
                extra = None
                if count:
                    chosen = balanced(mnist.y_train, count, seed)
                    extra = correction_export(as_uploaded(mnist.x_train[chosen]), mnist.y_train[chosen], base,
                                              directory)
                started = time.perf_counter()
                tuned = train(base.config["model"], dataset=mnist, out=directory / "run", from_run=base.path,
                              extra_data=extra, extra_weight=EXTRA_WEIGHT, seed=seed, verbose=0, **FINE_TUNE)
                members.append({"seed": seed, **accuracies(tuned), "seconds": round(time.perf_counter() - started, 1)})
                print(count, members[-1], flush=True)
            writer = statistics.mean(m["writer_accuracy"] for m in members)
            mnist_accuracy = statistics.mean(m["mnist_test_accuracy"] for m in members)
            rows.append({"corrections": count, "writer_accuracy": round(writer, 4),
                         "writer_error_ratio": round((1 - writer) / (1 - before["writer_accuracy"]), 3),
                         "mnist_test_accuracy": round(mnist_accuracy, 4),
                         "mnist_change_points": round(100 * (mnist_accuracy - before["mnist_test_accuracy"]), 2),
                         "members": members})
    from benchmarks.report import publish

    publish(RESULTS, {"command": f"python -m benchmarks.writer {arguments.run} --seeds {arguments.seeds} --counts "
                          f"{' '.join(map(str, arguments.counts))}",
               "model": base.config["model"], "writer": {"shear": SHEAR, "squash": SQUASH, "turn_degrees": TURN,
                                                         "held_out": HELD_OUT},
               "fine_tune": {**FINE_TUNE, "extra_weight": EXTRA_WEIGHT}, "before": before, "results": rows})


if __name__ == "__main__":
    main()
