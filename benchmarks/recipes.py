"""Accuracy against training time for each `cnn-fast` recipe tried, beside the Keras reference, in one run.

Each recipe is `cnn-fast` with some hyper-parameters and training settings changed; each is trained on
all 60k images for each seed, its test accuracy checked every quarter epoch as `benchmarks.speed` does
(the checks not counted in the time). Reported per recipe: multiply-adds per image, the time to 99.0%
(median over seeds; "not reached" if any seed misses it), the test accuracy at the final epoch (mean
over seeds), and the speed-up against the Keras `mnist_convnet` example timed in the same run (median
of per-seed ratios). The machine's CPU and its bfloat16/AMX features are recorded with the figures.

    python -m benchmarks.recipes [--seeds 5] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "recipes.json"
FIGURE = RESULTS.with_name("recipes.png")

# name -> (cnn-fast hyper-parameters, training settings), each over cnn-fast's defaults (16 filters, a
# "valid" 5x5 first convolution, a 128-unit hidden layer, 2 epochs of batch 128 at 0.008, bfloat16 where
# it is faster, as on AMX): the default, then what each of its choices is worth, then the previous default.
RECIPES: dict[str, tuple[dict, dict]] = {
    "default": ({}, {}),
    "float32": ({}, {"precision": "float32"}),
    "'same' first convolution": ({"first_padding": "same"}, {}),
    "no hidden layer": ({"dense_units": 0}, {}),
    "batch 256, lr 0.012": ({}, {"batch_size": 256, "learning_rate": 0.012}),
    "16 filters, 'same', no hidden layer, batch 256": ({"first_padding": "same", "dense_units": 0},
                                                       {"batch_size": 256}),
    "previous default: 32 filters, 'same', no hidden layer, 3 epochs, batch 256": (
        {"filters": 32, "first_padding": "same", "dense_units": 0}, {"epochs": 3, "batch_size": 256}),
}


def measure(seeds: int, names: list[str]) -> dict:
    from benchmarks.inference import multiply_adds
    from benchmarks.speed import recipe_of, time_reference, time_to_target
    from digitlab import keras, load_mnist
    from digitlab.models import build_model, get_spec
    from digitlab.training.fit import build_compiled_model
    from digitlab.training.settings import settings_for

    (x_train, y_train), (x_test, y_test) = load_mnist(verbose=False)
    spec = get_spec("cnn-fast")
    images_train, images_test = spec.prepare(x_train), spec.prepare(x_test)
    hypers = {name: spec.validate_hyper(RECIPES[name][0]) for name in names}
    costs = {name: multiply_adds(build_model("cnn-fast", **hypers[name])) for name in names}
    reference, measured = [], {name: [] for name in names}
    for seed in range(seeds):
        keras.utils.set_random_seed(seed)
        reference.append(time_reference(images_train, y_train, images_test, y_test))
        for name in names:
            hyper = hypers[name]
            settings = settings_for(spec.training_defaults, {**RECIPES[name][1], "val_split": 0.0, "seed": seed})
            keras.utils.set_random_seed(seed)
            result = time_to_target(lambda hyper=hyper, settings=settings: build_compiled_model(
                                        spec, hyper, settings, len(x_train)),
                                    images_train, y_train, images_test, y_test,
                                    batch_size=settings.batch_size, epochs=settings.epochs, validation_split=0.0,
                                    target=math.inf)  # never stop early: the final epoch's accuracy is reported
            checks = result["checks"]
            reached = next((seconds for seconds, accuracy in checks if accuracy >= 0.99), None)
            measured[name].append({"seed": seed, "seconds_to_99": reached, "final_accuracy": checks[-1][1],
                                   "seconds_total": checks[-1][0], "checks": checks,
                                   "settings": recipe_of(settings)})
    recipes = []
    for name in names:
        runs = measured[name]
        times = [run["seconds_to_99"] for run in runs]
        ratios = [r["seconds_to_target"] / t for r, t in zip(reference, times, strict=True)
                  if t and r["seconds_to_target"]]
        recipes.append({
            "name": name, "multiply_adds": costs[name], "settings": runs[0]["settings"], "hyper": hypers[name],
            "median_seconds_to_99": None if None in times else round(statistics.median(times), 2),
            "seeds_reaching_99": sum(t is not None for t in times),
            "mean_final_accuracy": round(statistics.mean(run["final_accuracy"] for run in runs), 5),
            "median_seconds_total": round(statistics.median(run["seconds_total"] for run in runs), 2),
            "median_speedup": round(statistics.median(ratios), 2) if len(ratios) == len(runs) else None,
            "runs": runs,
        })
    reference_times = [r["seconds_to_target"] for r in reference]
    return {"seeds": seeds, "reference": reference,
            "reference_median_seconds": None if None in reference_times else statistics.median(reference_times),
            "recipes": recipes}


def plot(result: dict, path: Path) -> None:
    """Final test accuracy against training time: one point per recipe and seed, the reference beside."""
    from matplotlib.figure import Figure

    from digitlab.plots import save_figure

    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    for recipe in result["recipes"]:
        axes.scatter([run["seconds_total"] for run in recipe["runs"]],
                     [100 * run["final_accuracy"] for run in recipe["runs"]], label=recipe["name"], s=22)
    reference = [(r["seconds_to_target"], 99.0) for r in result["reference"] if r["seconds_to_target"]]
    if reference:
        axes.scatter(*zip(*reference, strict=True), marker="x", color="black", label="Keras mnist_convnet (at 99%)")
    axes.axhline(99.0, color="grey", linestyle="--", linewidth=1)
    axes.set(xlabel="training time (s), checks excluded", ylabel="final test accuracy (%)",
             title="cnn-fast recipes: accuracy against time")
    axes.legend(fontsize=7, loc="lower right")
    axes.grid(alpha=0.3)
    save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds per recipe (default 5)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(RECIPES), help="only these recipes")
    arguments = parser.parse_args()
    names = arguments.only or list(RECIPES)
    from benchmarks.report import publish

    command = f"python -m benchmarks.recipes --seeds {arguments.seeds}" + (
        " --only " + " ".join(f"'{name}'" for name in names) if arguments.only else "")
    result = measure(arguments.seeds, names)
    plot(result, FIGURE)
    publish(RESULTS, {"command": command, **result})


if __name__ == "__main__":
    main()
