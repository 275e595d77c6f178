"""Run every benchmark in turn (slow: about an hour on 2 cores): `python -m benchmarks` or `make bench`.

Benchmarks that need trained runs use runs/quickstart (made with `digitlab quickstart` and exported
to ONNX first if missing) and its `cnn` (`digitlab train --model cnn` into runs/quickstart/cnn: the quickstart
itself trains cnn-fast). Each one writes results/*.json; the last step, `python -m benchmarks.report`,
renders the tables in README.md and the project README's summary from them.

    python -m benchmarks            # all
    python -m benchmarks --list     # what would run
    python -m benchmarks speed tuning
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

RUNS = Path("runs/quickstart")
BENCH_CNN = RUNS / "cnn"  # the model the reading, serving and explaining benchmarks measure
BENCH_CNN_TRAINING = ["train", "--model", "cnn", "--out", str(BENCH_CNN), "--quiet"]
READER_RUN = Path("runs/reader-cnn")  # the cnn trained with augmentation: the number reader's benchmark model
READER_TRAINING = ["train", "--model", "cnn", "--augment", "1", "--epochs", "8", "--out", str(READER_RUN), "--quiet"]
STEPS = {
    "backends": ["-m", "benchmarks.backends"],
    "speed": ["-m", "benchmarks.speed"],
    "recipes": ["-m", "benchmarks.recipes"],
    "tuning": ["-m", "benchmarks.tuning"],
    "accuracy": ["-m", "benchmarks.accuracy"],
    "epoch_cost": ["-m", "benchmarks.epoch_cost"],
    "realworld": ["-m", "benchmarks.realworld", str(BENCH_CNN)],
    "imaging": ["-m", "benchmarks.imaging", str(BENCH_CNN)],
    "numbers": ["-m", "benchmarks.numbers", str(BENCH_CNN), str(READER_RUN)],
    "explain": ["-m", "benchmarks.explain", str(BENCH_CNN)],
    "writer": ["-m", "benchmarks.writer", str(BENCH_CNN)],
    "app": ["-m", "benchmarks.app", str(BENCH_CNN)],
    "inference": ["-m", "benchmarks.inference", str(RUNS)],
    "loadtest": ["-m", "benchmarks.loadtest", str(BENCH_CNN)],
}
NEEDS_RUNS = {"realworld", "imaging", "numbers", "explain", "writer", "app", "inference", "loadtest"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("steps", nargs="*", metavar="STEP", help=f"only these, of: {', '.join(STEPS)} (default: all)")
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown step {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    chosen = arguments.steps or list(STEPS)
    commands = []
    if NEEDS_RUNS & set(chosen) and not (BENCH_CNN / "model.onnx").exists():
        from digitlab.pipeline import QUICKSTART_MODELS

        commands.append([sys.executable, "-m", "digitlab", "quickstart", "--quiet"])
        commands.append([sys.executable, "-m", "digitlab", *BENCH_CNN_TRAINING])
        commands += [[sys.executable, "-m", "digitlab", "export", str(RUNS / model)]
                     for model in (*QUICKSTART_MODELS, "cnn")]
    if "numbers" in chosen and not (READER_RUN / "model.onnx").exists():
        commands += [[sys.executable, "-m", "digitlab", *READER_TRAINING],
                     [sys.executable, "-m", "digitlab", "export", str(READER_RUN)]]
    commands += [[sys.executable, *STEPS[step]] for step in chosen]
    commands.append([sys.executable, "-m", "benchmarks.report"])  # the READMEs' tables, from the results
    for command in commands:
        print("$ python", " ".join(command[1:]), flush=True)
        if not arguments.list:
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
