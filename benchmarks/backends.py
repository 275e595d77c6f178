"""Which Keras backend should digitlab use by default? Measure, on this machine, side by side.

For each backend (jax, tensorflow, torch) this creates a venv under ``.bench-venvs/`` from the pins in
``benchmarks/backend-pins/``, then runs the probe below inside it: ``import keras`` time, venv size,
seconds per epoch of the lesson's model (Dense(10, sigmoid), Adam, batch 32), of the one-hidden-layer
model (Dense(128, relu), batch 32) and of the Keras ``mnist_convnet`` CNN (batch 128), and predict
throughput, on the full 60k/10k MNIST. Results go to ``benchmarks/results/backends.json`` and the
table in ``benchmarks/README.md``.

    python -m benchmarks.backends                 # all three backends (about 10 minutes on 2 cores)
    python -m benchmarks.backends --backends jax  # one
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".bench-venvs"
PINS = ROOT / "benchmarks" / "backend-pins"
RESULTS = ROOT / "benchmarks" / "results" / "backends.json"
BACKENDS = ("jax", "tensorflow", "torch")


def _ensure_venv(backend: str) -> Path:
    venv = VENVS / backend
    python = venv / "bin" / "python"
    marker = venv / ".pins"
    pins = (PINS / f"{backend}.txt").read_text()
    if not (python.exists() and marker.exists() and marker.read_text() == pins):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(PINS / f"{backend}.txt")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)], check=True)
        marker.write_text(pins)
    return python


def _directory_megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def run_all(backends: list[str]) -> list[dict]:
    results = []
    for backend in backends:
        python = _ensure_venv(backend)
        environment = dict(os.environ, KERAS_BACKEND=backend)
        completed = subprocess.run([str(python), "-m", "benchmarks.backends", "--probe"], cwd=ROOT,
                                   env=environment, check=True, stdout=subprocess.PIPE, text=True)
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        result["venv_megabytes"] = round(_directory_megabytes(VENVS / backend))
        print(json.dumps(result), file=sys.stderr)
        results.append(result)
    return results


# ------------------------------------------------------------------------------------------------
# The probe: runs inside one backend's venv.


def _import_seconds(repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import keras"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def probe() -> dict:
    import keras

    from digitlab.data import load_mnist, preprocess

    (x_train, y_train), (x_test, y_test) = load_mnist(verbose=False)
    flat_train, flat_test = preprocess(x_train), preprocess(x_test)
    image_train, image_test = flat_train.reshape(-1, 28, 28, 1), flat_test.reshape(-1, 28, 28, 1)

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    def measure(name, layers, x, x_eval, batch_size, epochs):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(layers)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = EpochTimer()
        model.fit(x, y_train, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer])
        accuracy = float(model.evaluate(x_eval, y_test, verbose=0)[1])
        model.predict(x_eval[:1024], batch_size=1024, verbose=0)  # warm-up / compile
        predict_times = []
        for _ in range(3):
            started = time.perf_counter()
            model.predict(x_eval, batch_size=1024, verbose=0)
            predict_times.append(time.perf_counter() - started)
        steady = timer.seconds[1:] or timer.seconds
        return {
            f"{name}_first_epoch_seconds": round(timer.seconds[0], 2),
            f"{name}_seconds_per_epoch": round(statistics.median(steady), 2),
            f"{name}_epochs": epochs,
            f"{name}_test_accuracy": round(accuracy, 4),
            f"{name}_predict_images_per_second": round(len(x_eval) / statistics.median(predict_times)),
        }

    layers = keras.layers
    result = {"backend": keras.backend.backend(), "keras": keras.__version__,
              "python": platform.python_version(), "cpu_count": os.cpu_count(),
              "import_keras_seconds": round(_import_seconds(), 2)}
    result |= measure("linear", [keras.Input((784,)), layers.Dense(10, activation="sigmoid")],
                      flat_train, flat_test, batch_size=32, epochs=3)
    result |= measure("mlp", [keras.Input((784,)), layers.Dense(128, activation="relu"),
                              layers.Dense(10, activation="softmax")],
                      flat_train, flat_test, batch_size=32, epochs=3)
    result |= measure("convnet", [keras.Input((28, 28, 1)),
                                  layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                                  layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                                  layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")],
                      image_train, image_test, batch_size=128, epochs=2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--probe", action="store_true", help="(internal) measure the backend of this venv")
    arguments = parser.parse_args()
    if arguments.probe:
        print(json.dumps(probe()))
        return
    results = run_all(arguments.backends)
    previous = json.loads(RESULTS.read_text())["results"] if RESULTS.exists() else []
    merged = {r["backend"]: r for r in previous} | {r["backend"]: r for r in results}
    from benchmarks.report import machine_info, write_results

    write_results(RESULTS, {"command": "python -m benchmarks.backends", "machine": machine_info(),
                            "results": [merged[b] for b in BACKENDS if b in merged]})
    print("render the tables with: python -m benchmarks.report", file=sys.stderr)


if __name__ == "__main__":
    main()
