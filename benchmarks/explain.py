"""What an explanation costs, and how faithful it is, for each method.

Cost: one image at a time, as `digitlab explain` and `?explain=true` call it (the whole Explainer call:
the occluded copies' model call or the gradient path, and building the maps), median and p90 over MNIST
test images after a warm-up. Occlusion runs on ONNX Runtime (the run must be exported) and on Keras;
integrated gradients on Keras (TensorFlow). Faithfulness: deleting (setting to background) the 40 most
salient pixels of each image against 40 random ink pixels, as the mean drop of the predicted digit's
probability over the same images (the test suite asserts the same on a smaller model).

    python -m benchmarks.explain runs/quickstart/cnn [--count 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "explain.json"
DELETED = 40


def measure(explainer, images: np.ndarray, judge) -> dict:
    """Per-image cost of ``explainer`` and the deletion check, judged by ``judge`` (a Predictor)."""
    from digitlab.inference.explain import deletion_check

    for image in images[:5]:
        explainer.explain(image)  # warm-up: sessions, graph tracing
    seconds, explanations = [], []
    for image in images:
        started = time.perf_counter()
        (explanation,) = explainer.explain(image)
        seconds.append(time.perf_counter() - started)
        explanations.append(explanation)
    check = deletion_check(judge, images, explanations, pixels=DELETED)
    engine = explainer.predictor.engine if explainer.method == "occlusion" else "keras"
    return {"method": explainer.method, "engine": engine, "images": len(images),
            "median_ms": round(1e3 * statistics.median(seconds), 2),
            "p90_ms": round(1e3 * float(np.percentile(seconds, 90)), 2),
            **{key: round(value, 4) for key, value in check.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="an exported run directory (runs/quickstart/cnn)")
    parser.add_argument("--count", type=int, default=200, help="MNIST test images (default: %(default)s)")
    arguments = parser.parse_args()
    from digitlab import load_mnist
    from digitlab.inference.explain import Explainer
    from digitlab.inference.predictor import Predictor
    from digitlab.runs import open_run

    run = open_run(arguments.run)
    if not run.file("model.onnx").exists():
        parser.error(f"{arguments.run} has no model.onnx; run: digitlab export {arguments.run}")
    _, (x_test, _) = load_mnist(verbose=False)
    images = x_test[:arguments.count]
    judge = Predictor(run, engine="onnx")
    results = [measure(Explainer(run, "occlusion", engine="onnx"), images, judge),
               measure(Explainer(run, "occlusion", engine="keras"), images, judge),
               measure(Explainer(run, "integrated-gradients"), images, judge)]
    from benchmarks.report import publish

    publish(RESULTS, {"command": f"python -m benchmarks.explain {arguments.run} --count {arguments.count}",
                      "model": run.config["model"], "deleted_pixels": DELETED, "results": results})


if __name__ == "__main__":
    main()
