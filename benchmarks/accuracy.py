"""The accurate end: single CNNs trained with the accurate recipe, and their probability-averaging ensemble.

    python -m benchmarks.accuracy [--seeds 0 1 2 3 4]   # train one run per seed (about 9 min each), measure
    python -m benchmarks.accuracy --collect RUN...       # measure runs already trained

Each member is trained by running the `digitlab train` command shown in the table (the recipe below with
`--seed S`) as a child process, whose peak resident memory (VmHWM) is read while it runs; then `digitlab ensemble`
averages the members' class probabilities, without and with test-time augmentation (`--tta`: each image
and its four 1-pixel shifts), for every member alone and for all of them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "accuracy.json"
RECIPE_EPOCHS = 40
RECIPE = (f"--model cnn --param convs_per_block=2 --augment 0.6 --epochs {RECIPE_EPOCHS} --precision bfloat16 "
          "--val-split 0")


def recipe_arguments(**changes) -> list[str]:
    """The recipe's `digitlab train` arguments with some settings changed, e.g. ``epochs=3``."""
    arguments = shlex.split(RECIPE)
    for setting, value in changes.items():
        arguments[arguments.index("--" + setting.replace("_", "-")) + 1] = str(value)
    return arguments


def run_training(arguments: list[str], out: Path) -> int:
    """`digitlab train ARGUMENTS --out OUT` as a child process; returns its peak resident memory in
    megabytes, read from the process itself every 0.2 s until it exits (its last 0.2 s may go unseen)."""
    from benchmarks.report import peak_rss_mb

    digitlab = Path(sys.executable).with_name("digitlab")
    command = [str(digitlab), "train", *arguments, "--out", str(out), "--overwrite", "--quiet"]
    print("$", " ".join(command), flush=True)
    process = subprocess.Popen(command)
    peak = 0.0
    while process.poll() is None:
        try:
            peak = max(peak, peak_rss_mb(process.pid))
        except OSError:  # it has just exited
            pass
        time.sleep(0.2)
    if process.returncode != 0:
        raise SystemExit(f"training into {out} failed (exit {process.returncode})")
    return round(peak)


def train_member(seed: int, out: Path) -> int:
    """Train one member with the recipe; returns its peak resident memory in megabytes."""
    return run_training([*recipe_arguments(), "--seed", str(seed)], out)


def describe(run_path: Path, peak_megabytes: int | None, dataset) -> dict:
    from digitlab.evaluation import evaluate_ensemble
    from digitlab.runs import open_run
    from digitlab.training.settings import train_command

    run = open_run(run_path)
    return {
        "run": str(run_path),
        "command": train_command(run.config),
        "train_seconds": run.config["train_seconds"],
        "peak_memory_megabytes": peak_megabytes,
        "test_accuracy": run.metrics["test"]["accuracy"],
        "test_accuracy_tta": evaluate_ensemble([run_path], dataset=dataset, tta=True).accuracy,
    }


def measured_peaks() -> dict[str, int]:
    """Peak memory per run from the last results file: --collect re-measures accuracy, not training."""
    if not RESULTS.exists():
        return {}
    return {member["run"]: member.get("peak_memory_megabytes") for member in json.loads(RESULTS.read_text())["members"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="one member per seed")
    parser.add_argument("--collect", nargs="+", metavar="RUN", help="measure these finished runs instead of training")
    parser.add_argument("--out", default="runs/accuracy", help="where to train the runs (default: %(default)s)")
    arguments = parser.parse_args()
    from digitlab.data import load_dataset
    from digitlab.evaluation import evaluate_ensemble

    dataset = load_dataset(verbose=False)  # once, for every member's and the ensemble's test-set pass
    if arguments.collect:
        paths = [Path(path) for path in arguments.collect]
        peaks = measured_peaks()
        members = [describe(path, peaks.get(str(path)), dataset) for path in paths]
        command = f"python -m benchmarks.accuracy --collect {' '.join(arguments.collect)}"
    else:
        paths = [Path(arguments.out) / f"cnn-seed{seed}" for seed in arguments.seeds]
        members = [describe(path, train_member(seed, path), dataset)
                   for seed, path in zip(arguments.seeds, paths, strict=True)]
        command = f"python -m benchmarks.accuracy --seeds {' '.join(map(str, arguments.seeds))}" + (
            f" --out {arguments.out}" if arguments.out != parser.get_default("out") else "")
    ensembles = {}
    for tta in (False, True):
        ensemble = evaluate_ensemble(paths, dataset=dataset, tta=tta)
        ensembles["ensemble_tta" if tta else "ensemble"] = {
            "command": f"digitlab ensemble {' '.join(map(str, paths))}{' --tta' if tta else ''}",
            "test_accuracy": ensemble.accuracy, "misclassified": ensemble.misclassified}
    payload = {"command": command, "members": members, **ensembles}
    from benchmarks.report import record

    record(RESULTS, payload)
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
