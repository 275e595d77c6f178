"""What one epoch of the accurate recipe costs on this CPU, in float32 and bfloat16, with and without batch
normalization; and so whether the recipe's five 40-epoch members fit in the 60 minutes the issue allows.

    python -m benchmarks.epoch_cost [--epochs 4] [--beside]

Each variant is one `digitlab train` of the accurate recipe (`benchmarks.accuracy`) with its precision,
and `--param normalization=batch` for batch normalization, cut to a few epochs: the whole 60,000 images
with the recipe's augmentation, batch size and model, as a member trains. An epoch's seconds come from the
run's history.json; the figure is the median over the epochs after the first (which also builds the
graph). Accuracy after a few epochs says nothing of the 40-epoch recipe's, so it is not reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "epoch_cost.json"
MEMBERS, BUDGET_MINUTES = 5, 60  # the issue: an ensemble's training all together in <= 60 min on 2 cores
VARIANTS = [(precision, normalization) for precision in ("float32", "bfloat16") for normalization in ("none", "batch")]


def measure_variant(precision: str, normalization: str, epochs: int, out: Path) -> dict:
    from benchmarks.accuracy import recipe_arguments, run_training
    from digitlab.runs import open_run

    arguments = recipe_arguments(epochs=epochs, precision=precision)
    if normalization != "none":
        arguments += ["--param", f"normalization={normalization}"]
    peak = run_training(arguments, out)
    seconds = open_run(out).history["epoch_seconds"]
    return {"precision": precision, "normalization": normalization, "epoch_seconds": seconds,
            "seconds_per_epoch": round(statistics.median(seconds[1:]), 2), "peak_memory_megabytes": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4,
                        help="epochs per variant; the first is not counted (default: %(default)s)")
    from benchmarks.report import BESIDE_HELP, record

    parser.add_argument("--beside", action="store_true", help=BESIDE_HELP)
    arguments = parser.parse_args()
    if arguments.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not counted")
    with tempfile.TemporaryDirectory() as temp:
        variants = [measure_variant(precision, normalization, arguments.epochs,
                                    Path(temp) / f"{precision}-{normalization}")
                    for precision, normalization in VARIANTS]
    command = f"python -m benchmarks.epoch_cost --epochs {arguments.epochs}" + (" --beside" if arguments.beside else "")
    from benchmarks.accuracy import RECIPE_EPOCHS

    result = {"command": command, "members": MEMBERS, "member_epochs": RECIPE_EPOCHS,
              "budget_minutes": BUDGET_MINUTES, "variants": variants}
    record(RESULTS, result, beside=arguments.beside)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
