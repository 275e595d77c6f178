"""The main job and the test suite, timed on this CPU: what a new user waits for after `make run` and what a
developer waits for after `make check` and `make test`, kept per kind of CPU (results/quickstart.json).

1. `digitlab quickstart --quiet` into a fresh directory, as a subprocess, wall time from start to exit (the
   Keras import, the data facts, each model's training and evaluation, the leaderboard); each model's own
   training seconds from its run. Medians over `--repeats`.
2. With --tests: `make check` (lint and the tests that train nothing) in this checkout, and `make test` in a
   fresh clone of HEAD (the install into a new .venv from the warm pip cache, lint, the whole suite), each
   once, wall time.

The figures are kept under this CPU's kind (digitlab.cpu), beside the other kinds' figures: a run on another
kind of machine adds its own row and a repeat on the same kind replaces it.

    python -m benchmarks.quickstart [--repeats 1] [--tests]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "quickstart.json"
ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], **options) -> float:
    """Seconds ``command`` took; its failure stops the benchmark (a failing suite has no time to report)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, **options)
    return round(time.perf_counter() - started, 1)


def time_quickstart(repeats: int) -> dict:
    """Medians over ``repeats`` fresh quickstarts: the whole command, and each model's training seconds."""
    from digitlab.pipeline import QUICKSTART_MODELS  # the lesson's order: the CNN last

    totals, trainings = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as directory:
            out = Path(directory) / "quickstart"
            totals.append(timed([sys.executable, "-m", "digitlab", "quickstart", "--quiet", "--out", str(out)],
                                stdout=subprocess.DEVNULL))
            runs = {name: json.loads((out / name / "config.json").read_text()) for name in QUICKSTART_MODELS}
            metrics = {name: json.loads((out / name / "metrics.json").read_text())["test"]["accuracy"]
                       for name in runs}
            trainings.append({name: {"train_seconds": config["train_seconds"], "epochs": config["epochs_done"],
                                     "precision": config["training"]["precision"], "test_accuracy": metrics[name]}
                              for name, config in runs.items()})
    models = {name: {**trainings[0][name],
                     "train_seconds": statistics.median(t[name]["train_seconds"] for t in trainings),
                     "test_accuracy": statistics.mean(t[name]["test_accuracy"] for t in trainings)}
              for name in trainings[0]}
    return {"seconds": statistics.median(totals), "rounds": totals, "models": models}


def time_tests() -> dict:
    """`make check` in this checkout, and `make test` as CI runs it: in a fresh clone of HEAD, so that the
    install into a new .venv (from the warm pip cache) is counted too."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    check = timed(["make", "check"], **quiet)
    with tempfile.TemporaryDirectory() as directory:
        clone = Path(directory) / "digitlab"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        started = time.perf_counter()
        subprocess.run(["make", "test"], check=True, cwd=clone, **quiet)
        suite = round(time.perf_counter() - started, 1)
    return {"check_seconds": check, "suite_seconds": suite}


def main() -> None:
    from benchmarks.report import machine_info, machine_label, write_results

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="quickstarts to take the median of (default 1)")
    parser.add_argument("--tests", action="store_true", help="also time `make check` and the whole test suite")
    arguments = parser.parse_args()
    command = "python -m benchmarks.quickstart" + (f" --repeats {arguments.repeats}" if arguments.repeats != 1 else "")
    measured = {"quickstart": time_quickstart(arguments.repeats), "cores": os.cpu_count()}
    if arguments.tests:
        measured["tests"] = {**time_tests(), "measured": f"{time.strftime('%Y-%m-%d')}, {command} --tests"}
        command += " --tests"
    machine = machine_info()
    recorded = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"machines": {}}
    earlier = recorded["machines"].get(machine_label(machine), {})
    if "tests" not in measured and "tests" in earlier:  # a quickstart-only run keeps this kind's suite times
        measured["tests"] = earlier["tests"]
    recorded["machines"][machine_label(machine)] = {"command": command, **measured, "machine": machine}
    write_results(RESULTS, recorded)
    print("render the tables with: python -m benchmarks.report", file=sys.stderr)
    print(json.dumps(recorded["machines"][machine_label(machine)], indent=2))


if __name__ == "__main__":
    main()
