"""Inference speed of trained runs, with Keras and with ONNX Runtime, beside the theoretical bound.

For each run: batch throughput on the 10,000 test images (batches of 1,000; median of 5), and
single-image latency (median and p99 of 500 calls, the way a server calls it). The bound is
multiply-adds per image (counted from the model's Dense and Conv2D layers) against this CPU's
measured float32 FLOP/s (a 2048x2048 NumPy matmul on all cores, median of 5): images/s <= FLOP/s /
(2 x multiply-adds). The gap to it is what framework overhead and memory traffic cost.

    python -m benchmarks.inference runs/quickstart     # a directory of runs, or run directories
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"


def measured_flops(size: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times)


def multiply_adds(model) -> int:
    """Multiply-adds per image of the Dense and Conv2D layers (the rest is negligible here)."""
    total = 0
    for layer in model.layers:
        kind = layer.__class__.__name__
        if kind == "Dense":
            total += int(np.prod(layer.kernel.shape))
        elif kind == "Conv2D":
            height, width = layer.output.shape[1:3]
            total += int(height * width * np.prod(layer.kernel.shape))
    return total


def _median_seconds(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_run(run_path: Path, images: np.ndarray, flops: float) -> dict:
    from digitlab.inference.predictor import Predictor
    from digitlab.runs import open_run

    run = open_run(run_path)
    model = run.load_model()
    macs = multiply_adds(model)
    result = {"run": str(run_path), "model": run.config["model"], "parameters": model.count_params(),
              "multiply_adds": macs, "bound_images_per_second": round(flops / (2 * macs)),
              "bound_single_ms": round(2 * macs / flops * 1e3, 5)}
    engines = ["keras", "onnx"] if run.file("model.onnx").exists() else ["keras"]
    for engine in engines:
        batch_predictor = Predictor(run, engine=engine)
        seconds = _median_seconds(lambda p=batch_predictor: [p.predict_batch(images[i:i + 1000])
                                                             for i in range(0, len(images), 1000)], 5)
        single = Predictor(run, engine=engine, threads=1)
        for image in images[:20]:
            single.predict(image)
        latencies = []
        for image in images[:500]:
            started = time.perf_counter()
            single.predict(image)
            latencies.append(time.perf_counter() - started)
        result[engine] = {"images_per_second": round(len(images) / seconds),
                          "single_median_ms": round(1e3 * statistics.median(latencies), 3),
                          "single_p99_ms": round(1e3 * float(np.percentile(latencies, 99)), 3)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories, or a directory holding runs")
    arguments = parser.parse_args()
    from digitlab import load_mnist
    from digitlab.runs import expand_run_paths

    _, (x_test, _) = load_mnist(verbose=False)
    flops = measured_flops()
    results = [measure_run(path, x_test, flops) for path in expand_run_paths(arguments.runs)]
    from benchmarks.report import machine_info, write_results

    payload = {"command": f"python -m benchmarks.inference {' '.join(arguments.runs)}",
               "measured_gflops": round(flops / 1e9, 1), "results": results, "machine": machine_info()}
    write_results(RESULTS, payload)
    print("render the tables with: python -m benchmarks.report", file=sys.stderr)
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
