"""What does a 30-trial Optuna study of the `mlp` find on 2 cores, and how long does it take?

Runs `digitlab tune --model mlp --trials 30` (3 epochs per trial on the full 54k/6k split, median
pruning) in a fresh study, retrains the best trial on all 60,000 training images for the mlp's default
epochs, and trains the mlp with its default hyper-parameters the same way, so the two test accuracies
compare like for like.

    python -m benchmarks.tuning [--trials 30] [--epochs 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "tuning.json"


def measure(trials: int, epochs: int, workers: int) -> dict:
    from digitlab import train, tuning
    from digitlab.models import get_spec

    final_epochs = get_spec("mlp").training_defaults["epochs"]
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        summary = tuning.tune("mlp", trials, epochs=epochs, workers=workers, root=root, study_name="bench-mlp")
        search_seconds = time.perf_counter() - started
        started = time.perf_counter()
        best_run = tuning.retrain_best(summary, out=Path(root) / "best", epochs=final_epochs)
        retrain_seconds = time.perf_counter() - started
        default_run = train("mlp", out=Path(root) / "default", val_split=0.0, epochs=final_epochs, verbose=0)
        tuned_accuracy = best_run.metrics["test"]["accuracy"]  # read before the directory goes
        default_accuracy = default_run.metrics["test"]["accuracy"]
    return {
        "command": f"python -m benchmarks.tuning --trials {trials} --epochs {epochs} --workers {workers}",
        "trials": trials,
        "epochs_per_trial": epochs,
        "workers": workers,
        "counts": summary["counts"],
        "search_seconds": round(search_seconds, 1),
        "retrain_seconds": round(retrain_seconds, 1),
        "best_validation_accuracy": round(summary["best"]["value"], 4),
        "best_params": summary["best"]["params"],
        "tuned_test_accuracy": round(tuned_accuracy, 4),
        "default_test_accuracy": round(default_accuracy, 4),
        "final_epochs": final_epochs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    arguments = parser.parse_args()
    result = measure(arguments.trials, arguments.epochs, arguments.workers)
    from benchmarks.report import record

    record(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
