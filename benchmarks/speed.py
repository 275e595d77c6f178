"""Training speed, side by side in one run: digitlab against plain Keras.

1. Seed-model cost: the lesson's model (Dense(10, sigmoid), Adam, 20 epochs, batch 32) trained through
   `digitlab.train` (checkpoints, history, evaluation, plots, report) against the same model in a bare
   Keras script (load, scale, flatten, fit, evaluate). Alternating, `--repeats` times; median ratio.
2. Time to 99.0% test accuracy: digitlab's `cnn-fast` and `cnn` (each with its training defaults, on all
   60k images) against the Keras `mnist_convnet` example (Conv32-Pool-Conv64-Pool-Dropout-Dense, Adam,
   batch 128, validation_split 0.1, up to 15 epochs), all with the test accuracy checked every quarter
   epoch; the checks are not counted in the time. Alternating rounds; medians and their ratios.

   With --beside, only the time to 99% is measured, and kept beside the main figures (under `beside`,
   labelled with this CPU's maker and bfloat16 hardware, with the machine) instead of replacing them: how
   a second machine of another kind records its figures. --without-amx does the same with TensorFlow's
   oneDNN kernels capped at AVX-512 BF16 (what a CPU without AMX has), so that a CPU with AMX can measure
   the path one without takes.

    python -m benchmarks.speed [--repeats 3] [--skip-seed] [--skip-time-to-99] [--beside] [--without-amx]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "speed.json"
FIGURE = RESULTS.with_name("time-to-99.png")


def bare_keras_lesson() -> float:
    """The lesson as a bare Keras script; returns its wall time from the data to the evaluation."""
    from digitlab import keras, load_mnist

    started = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = load_mnist(verbose=False)
    x_train = (x_train / 255).reshape(len(x_train), 784)
    x_test = (x_test / 255).reshape(len(x_test), 784)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="sigmoid")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    model.evaluate(x_test, y_test, verbose=0)
    return time.perf_counter() - started


def digitlab_lesson(directory: str) -> float:
    from digitlab import train

    started = time.perf_counter()
    train("linear", epochs=20, batch_size=32, val_split=0.0, out=Path(directory) / "linear", overwrite=True,
          verbose=0)
    return time.perf_counter() - started


def seed_cost(repeats: int) -> dict:
    bare, ours = [], []
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(repeats):
            bare.append(bare_keras_lesson())
            ours.append(digitlab_lesson(directory))
    ratios = [o / b for o, b in zip(ours, bare, strict=True)]
    return {"bare_keras_seconds": [round(t, 2) for t in bare], "digitlab_seconds": [round(t, 2) for t in ours],
            "median_ratio": round(statistics.median(ratios), 3)}


def target_timer(x_test, y_test, target: float, every: int):
    """A Keras callback that checks test accuracy every ``every`` batches, pausing the clock while it checks."""
    from digitlab import keras

    class TimeToTarget(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.elapsed, self.reached, self.batches, self.history = 0.0, None, 0, []

        def on_train_begin(self, logs=None):
            self.started, self.epoch_start = time.perf_counter(), 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = self.batches

        def on_train_batch_end(self, batch, logs=None):
            # ``batch`` is the last batch the call ran: with steps_per_execution, a call runs several
            before, self.batches = self.batches, self.epoch_start + batch + 1
            if self.batches // every == before // every:
                return
            self.elapsed += time.perf_counter() - self.started
            accuracy = float(self.model.evaluate(x_test, y_test, batch_size=2048, verbose=0)[1])
            self.history.append((round(self.elapsed, 2), round(accuracy, 4)))
            if accuracy >= target:
                self.reached = self.elapsed
                self.model.stop_training = True
            self.started = time.perf_counter()

    return TimeToTarget()


def time_to_target(build, x_train, y_train, x_test, y_test, *, batch_size: int, epochs: int, validation_split: float,
                   target: float = 0.99) -> dict:
    steps = int(len(x_train) * (1 - validation_split)) // batch_size
    model = build()
    # Checks every quarter epoch, rounded to whole compiled calls (digitlab's models run
    # STEPS_PER_EXECUTION batches a call; the reference one), so that no check waits for a call to end.
    per_call = model.steps_per_execution
    callback = target_timer(x_test, y_test, target, max(per_call, round(steps / 4 / per_call) * per_call))
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=validation_split, verbose=0,
              callbacks=[callback])
    return {"seconds_to_target": None if callback.reached is None else round(callback.reached, 2),
            "checks": callback.history}


def reference_convnet():
    from digitlab import keras

    layers = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                              layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                              layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def time_reference(images_train, y_train, images_test, y_test) -> dict:
    """The Keras example as its script trains it (one-hot labels, batch 128, 10% held out, up to 15 epochs)."""
    from digitlab import keras

    return time_to_target(reference_convnet, images_train[..., None], keras.utils.to_categorical(y_train, 10),
                          images_test[..., None], keras.utils.to_categorical(y_test, 10), batch_size=128, epochs=15,
                          validation_split=0.1)


def recipe_of(settings) -> dict:
    """The training settings a time-to-99 figure depends on, as recorded beside it."""
    return {key: getattr(settings, key) for key in ("epochs", "batch_size", "learning_rate", "schedule", "precision")}


def timed() -> dict[str, tuple[str, dict]]:
    """What is timed: cnn-fast, the fast recipe (precision auto); cnn-fast in the precision auto did not
    choose on this CPU (what the choice is worth); and the cnn beside it."""
    from digitlab.training.settings import bfloat16_is_fast

    other = "float32" if bfloat16_is_fast() else "bfloat16"
    return {"cnn-fast": ("cnn-fast", {}), f"cnn-fast {other}": ("cnn-fast", {"precision": other}),
            "cnn": ("cnn", {})}


def time_to_99(repeats: int) -> dict:
    """Alternating rounds: the reference, then each digitlab model with its own training defaults (all 60k)."""
    from digitlab import keras, load_mnist
    from digitlab.models import get_spec
    from digitlab.training.fit import build_compiled_model
    from digitlab.training.settings import settings_for

    (x_train, y_train), (x_test, y_test) = load_mnist(verbose=False)
    images_train, images_test = get_spec("cnn").prepare(x_train), get_spec("cnn").prepare(x_test)
    rounds, contenders = [], timed()
    for repeat in range(repeats):
        keras.utils.set_random_seed(repeat)
        measured = {"reference": time_reference(images_train, y_train, images_test, y_test)}
        for name, (model, overrides) in contenders.items():
            spec = get_spec(model)
            settings = settings_for(spec.training_defaults, {**overrides, "val_split": 0.0, "seed": repeat})
            keras.utils.set_random_seed(repeat)
            measured[name] = time_to_target(
                lambda spec=spec, settings=settings: build_compiled_model(spec, spec.hyper_defaults, settings,
                                                                          len(x_train)),
                images_train, y_train, images_test, y_test, batch_size=settings.batch_size,
                epochs=settings.epochs, validation_split=0.0)
            measured[name]["settings"] = recipe_of(settings)
        rounds.append(measured)

    def median(key):
        values = [r[key]["seconds_to_target"] for r in rounds]
        return None if None in values else statistics.median(values)

    reference = median("reference")
    models = {}
    for name in contenders:
        ours = median(name)
        models[name] = {"median_seconds": ours, "settings": rounds[0][name]["settings"],
                        "speedup": None if not (reference and ours) else round(reference / ours, 2)}
    return {"rounds": rounds, "reference_median_seconds": reference, "models": models}


def plot_time_to_99(result: dict, path: Path) -> None:
    """Test accuracy against training time, first round, one line per contender, the 99% line dashed."""
    from matplotlib.figure import Figure

    from digitlab.plots import save_figure

    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    for name, measured in result["rounds"][0].items():
        seconds, accuracies = zip(*measured["checks"], strict=True)
        label = "Keras mnist_convnet (reference)" if name == "reference" else f"digitlab {name}"
        axes.plot(seconds, [100 * a for a in accuracies], marker="o", markersize=3, label=label)
    axes.axhline(99.0, color="grey", linestyle="--", linewidth=1)
    axes.set(xlabel="training time (s), checks excluded", ylabel="test accuracy (%)", ylim=(97, 99.5),
             title="Time to 99% test accuracy (round 1)")
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    save_figure(figure, path)


def main() -> None:
    from benchmarks.report import BESIDE_HELP, record, turn_off_amx
    from digitlab.cpu import this_cpu

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--skip-time-to-99", action="store_true")
    parser.add_argument("--beside", action="store_true", help="time to 99%% only; " + BESIDE_HELP)
    parser.add_argument("--without-amx", action="store_true",
                        help="as --beside, with oneDNN capped at AVX-512 BF16 (as on a CPU without AMX)")
    arguments = parser.parse_args()
    command = "python -m benchmarks.speed " + " ".join(
        f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')} {v}"
        for k, v in vars(arguments).items() if v not in (False, None))
    # Each section keeps the command that measured it; a skipped section keeps its earlier measurement.
    result = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result.pop("command", None)
    if arguments.beside or arguments.without_amx:  # the main machine stays; this section records its own
        if "time_to_99" not in result:
            raise SystemExit("run python -m benchmarks.speed first: these figures go beside its own")
        if arguments.without_amx:
            if "amx_bf16" not in this_cpu().flags:
                raise SystemExit("this CPU has no AMX to turn off: measure it as it is, with --beside")
            turn_off_amx()
        measured = record(RESULTS, {"time_to_99": {"command": command, **time_to_99(arguments.repeats)}}, beside=True)
        print(json.dumps(measured, indent=2))
        return
    result["threads"] = os.cpu_count()
    if not arguments.skip_seed:
        result["seed_model_cost"] = {"command": command, **seed_cost(arguments.repeats)}
    if not arguments.skip_time_to_99:
        result["time_to_99"] = {"command": command, **time_to_99(arguments.repeats)}
        plot_time_to_99(result["time_to_99"], FIGURE)
    record(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
