"""The accurate end: single augmented CNNs and their probability-averaging ensemble on the MNIST test set.

    python -m benchmarks.accuracy                      # train the six runs below (about 25 min), then measure
    python -m benchmarks.accuracy --collect RUN...     # measure runs already trained with those commands

Each run is `digitlab train --model cnn --augment 0.6 --epochs E --seed S`; the table states every run's
command, training time, peak memory where known, and test accuracy, then `digitlab ensemble` over them.
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "accuracy.json"
PLAN = tuple((f"cnn-aug{epochs}-seed{seed}", epochs, seed) for epochs in (30, 15) for seed in (0, 1, 2))


def describe(run_path: Path) -> dict:
    from digitlab.runs import open_run

    run = open_run(run_path)
    training = run.config["training"]
    return {
        "run": str(run_path),
        "command": f"digitlab train --model cnn --augment {training['augment']:g} --epochs {training['epochs']} "
                   f"--seed {training['seed']}",
        "train_seconds": run.config["train_seconds"],
        "test_accuracy": run.metrics["test"]["accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collect", nargs="+", metavar="RUN", help="measure these finished runs instead of training")
    parser.add_argument("--out", default="runs/accuracy", help="where to train the runs (default: %(default)s)")
    arguments = parser.parse_args()
    from digitlab.evaluation import evaluate_ensemble

    if arguments.collect:
        paths = [Path(path) for path in arguments.collect]
        command = f"python -m benchmarks.accuracy --collect {' '.join(arguments.collect)}"
    else:
        from digitlab import train

        paths = []
        for name, epochs, seed in PLAN:
            run = train("cnn", augment=0.6, epochs=epochs, seed=seed, out=Path(arguments.out) / name, overwrite=True,
                        verbose=2)
            paths.append(run.path)
        command = "python -m benchmarks.accuracy"
    members = [describe(path) for path in paths]
    ensemble = evaluate_ensemble(paths)
    payload = {
        "command": command,
        "members": members,
        "ensemble": {"command": f"digitlab ensemble {' '.join(map(str, paths))}", "test_accuracy": ensemble.accuracy,
                     "misclassified": ensemble.misclassified},
    }
    if not arguments.collect:  # this process did the training: its peak is the training's peak
        payload["peak_rss_megabytes"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    from benchmarks.report import machine_info, regenerate_readme, write_results

    write_results(RESULTS, {**payload, "machine": machine_info()})
    regenerate_readme()
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
