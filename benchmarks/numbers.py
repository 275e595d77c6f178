"""Whole numbers: a number set built from MNIST *test* digits, and how well `digitlab read` reads it.

Each number has 2-8 digits, taken from the MNIST test set (never seen in training) and laid out left to
right the way people write:

- spacing: wide (0.5-0.9 of the digit height), normal (0.15-0.5), tight (0.02-0.15) or touching (the
  digits' boxes overlap by 0.02-0.2 of the height; whether their ink really touches is checked on the
  image, and such numbers are reported apart);
- each digit with its own size (+-12%), baseline (+-8% of the height) and slant (+-6 degrees), the whole
  number turned by up to 3 degrees;
- four looks: "scan" (dark ink on light paper, PNG), "inverted" (light on dark), "colour" (coloured ink
  on coloured paper with sensor noise, JPEG quality 50-95), and "canvas" (the digits traced with a round
  pen, black on white, an RGBA PNG as the drawing page sends).

Reported: whole-number accuracy, digit accuracy (1 - character error rate, by edit distance) and what went
wrong with each wrong number: split (more digits read than written), merge (fewer), classify (as many,
some read wrong) or failed (an error, e.g. no digit found). Images come from a fixed seed, so every run
sees the same set. A number is judged by its best reading (``read_as``), as the paper benchmark judges
it: what a run with an abstention threshold would withhold as "not sure" is counted beside
(``withheld``: how many, and how many of those were read right), and the abstention has its own
benchmark (benchmarks.abstain).

    python -m benchmarks.numbers RUN [RUN ...] [--count 1000] [--seed 0] [--digits test|train|held-out]

Each run is measured on the same set; the table details the last one. Runs trained as the last one was,
up to the seed, and read with their mark models are also summarised together: the mean and standard
deviation of their accuracies over the seeds, which is what the issue's targets are judged on.

The reader's own settings (fragments, cuts, penalties) were tuned on a set built the same way from MNIST
*training* digits (``--digits train --seed 1``), and ``WIDE_FRACTION`` and the candidate cuts also on
numbers made of the training digits an accurate-recipe run held out for validation (``runs/reader-acc
--digits held-out --count 700``, seeds 0 and 1); never on this one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.reading.synthetic import LOOKS, SPACINGS, compose, render

RESULTS = Path(__file__).resolve().parent / "results" / "numbers.json"
TARGET_LENGTHS = range(2, 7)  # the targets are for numbers of 2 to 6 digits


@dataclass(frozen=True)
class NumberImage:
    data: bytes  # the image file
    truth: str
    spacing: str
    look: str
    touching: bool  # some neighbours' ink touches


def digit_pool(digits: str = "test", run: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The digits (images, labels) a set is built from: MNIST's test digits (the benchmark), its training
    digits ("train"), or the training digits ``run`` held out for validation ("held-out", a tuning set
    that ``run`` never fitted on). The reader's settings are chosen on the last two, never on the test."""
    from digitlab import load_mnist

    (x_train, y_train), test = load_mnist(verbose=False)
    if digits == "test":
        return test
    if digits == "train":
        return x_train, y_train
    from digitlab.errors import DigitlabError
    from digitlab.runs import open_run
    from digitlab.training.splits import checked_split

    record = open_run(run).config.get("split") or {}
    if not record.get("validation_count"):
        raise SystemExit(f"{run} held out no training digits for validation: train it with --val-split")
    try:
        _, held_out = checked_split(y_train, record, record, str(run))
    except DigitlabError as error:
        raise SystemExit(str(error)) from None
    return x_train[held_out], y_train[held_out]


def make_set(count: int, seed: int, digits: str = "test", run: str | None = None) -> list[NumberImage]:
    """``count`` numbers, lengths 2-8, spacings and looks taken in turn so that each is equally present,
    from the digits :func:`digit_pool` gives."""
    images, labels = digit_pool(digits, run)
    rng = np.random.default_rng(seed)
    numbers = []
    for index in range(count):
        length = 2 + index % 7
        spacing, look = list(SPACINGS)[(index // 7) % 4], LOOKS[(index // 28) % 4]
        chosen = rng.choice(len(images), size=length, replace=False)
        written = compose(images[chosen], spacing, look, rng)
        numbers.append(NumberImage(render(written.ink, look, rng), "".join(map(str, labels[chosen])), spacing, look,
                                   written.touching))
    return numbers


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, each costing one."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def error_kind(truth: str, read: str | None) -> str | None:
    """None when right; else split (more digits read), merge (fewer), classify (as many) or failed."""
    if read is None:
        return "failed"
    if read == truth:
        return None
    return "split" if len(read) > len(truth) else "merge" if len(read) < len(truth) else "classify"


def summarise(outcomes: list[dict]) -> dict:
    """Whole-number accuracy, digit accuracy and the error kinds of a group of outcomes."""
    if not outcomes:
        return {"numbers": 0}
    characters = sum(len(o["truth"]) for o in outcomes)
    errors = sum(edit_distance(o["truth"], o["read"] or "") for o in outcomes)
    kinds = {kind: sum(o["error"] == kind for o in outcomes) for kind in ("split", "merge", "classify", "failed")}
    return {"numbers": len(outcomes), "whole_accuracy": round(sum(o["error"] is None for o in outcomes)
                                                               / len(outcomes), 4),
            "digit_accuracy": round(1 - errors / characters, 4), "errors": kinds}


def measure(run_path: str, numbers: list[NumberImage], marks: bool = True) -> dict:
    """How ``run_path`` reads ``numbers``; with its mark model, if it has one, unless ``marks`` is False."""
    from digitlab.reading.imaging import ImageError
    from digitlab.reading.numbers import Reader
    from digitlab.runs import open_run
    from digitlab.training.settings import train_command

    run = open_run(run_path)
    reader = Reader(run, marks=marks)
    outcomes, seconds = [], []
    for number in numbers:
        started = time.perf_counter()
        try:
            reading = reader.read_file(number.data)
            read, withheld = reading.read_as, bool(reading.withheld)
        except ImageError:
            read, withheld = None, False
        seconds.append(time.perf_counter() - started)
        outcomes.append({"truth": number.truth, "read": read, "error": error_kind(number.truth, read),
                         "withheld": withheld,
                         "spacing": number.spacing, "look": number.look, "touching": number.touching})
    in_target = [o for o in outcomes if len(o["truth"]) in TARGET_LENGTHS]
    return {
        "run": run_path,
        "trained_with": train_command(run.config),
        "mark_model": run.config["marks"]["command"] if reader.marks else None,
        "all": summarise(outcomes),
        "lengths_2_to_6": summarise(in_target),
        "lengths_2_to_6_withheld": {"numbers": sum(o["withheld"] for o in in_target),
                                    "read_right": sum(o["withheld"] and o["error"] is None for o in in_target)},
        "lengths_2_to_6_not_touching": summarise([o for o in in_target if not o["touching"]]),
        "lengths_2_to_6_touching": summarise([o for o in in_target if o["touching"]]),
        "by_length": {str(n): summarise([o for o in outcomes if len(o["truth"]) == n]) for n in range(2, 9)},
        "by_spacing": {name: summarise([o for o in outcomes if o["spacing"] == name]) for name in SPACINGS},
        "by_look": {name: summarise([o for o in outcomes if o["look"] == name]) for name in LOOKS},
        "median_ms_per_number": round(1000 * float(np.median(seconds)), 2),
        "wrong_examples": [o for o in outcomes if o["error"]][:20],
    }


def mean_over_seeds(results: list[dict]) -> dict | None:
    """The 2-6 digit accuracies, mean and standard deviation, of the runs read with their mark models that
    were trained as the last one was, up to the seed (of the run, and of its mark model)."""
    def recipe(result: dict) -> str:
        return re.sub(r" --seed \d+", "", result["trained_with"])

    last = results[-1]
    same = [result for result in results if result["mark_model"] and recipe(result) == recipe(last)]
    if len(same) < 2:
        return None
    summary = {"runs": [result["run"] for result in same], "trained_with": recipe(last)}
    for accuracy in ("whole_accuracy", "digit_accuracy"):
        values = [result["lengths_2_to_6"][accuracy] for result in same]
        summary[f"{accuracy}_mean"] = round(float(np.mean(values)), 4)
        summary[f"{accuracy}_std"] = round(float(np.std(values)), 4)
    return summary


def has_mark_model(run_path: str) -> bool:
    """Whether ``Reader`` would read ``run_path`` with a mark model (the same test the server makes)."""
    from digitlab.inference.marks import mark_model_info
    from digitlab.runs import open_run

    return mark_model_info(open_run(run_path)) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run directories (a `cnn`, exported to ONNX, is what the targets are for)")
    parser.add_argument("--count", type=int, default=1000, help="numbers in the set (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-examples", type=Path, help="also write the first 16 images here")
    parser.add_argument("--digits", choices=("test", "train", "held-out"), default="test",
                        help="build the set from MNIST's test digits (the benchmark, default), its training digits, "
                             "or the training digits the first RUN held out for validation; the last two are "
                             "tuning sets: printed, not written to the results")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="the results file (default: results/numbers.json; the shipped model's figures go to "
                        "results/numbers-shipped.json)")
    arguments = parser.parse_args()
    from benchmarks.report import machine_info, out_option, write_results

    numbers = make_set(arguments.count, arguments.seed, arguments.digits, arguments.runs[0])
    results = []
    for run in arguments.runs:  # a run with a mark model is read without it too, for the comparison
        results += [measure(run, numbers, marks=False)] + ([measure(run, numbers)] if has_mark_model(run) else [])
    summary = [{key: result[key] for key in ("run", "mark_model", "lengths_2_to_6", "lengths_2_to_6_touching", "all")}
               for result in results]
    if arguments.digits != "test":
        print(json.dumps(summary, indent=2))
        return
    if arguments.save_examples:
        arguments.save_examples.mkdir(parents=True, exist_ok=True)
        for index, number in enumerate(make_set(16, arguments.seed)):
            suffix = "jpg" if number.look == "colour" else "png"
            (arguments.save_examples / f"{index:02d}-{number.truth}-{number.spacing}-{number.look}.{suffix}"
             ).write_bytes(number.data)
    command = (f"python -m benchmarks.numbers {' '.join(arguments.runs)} --count {arguments.count} "
               f"--seed {arguments.seed}") + out_option(arguments.out, RESULTS)
    write_results(arguments.out, {"command": command, "count": arguments.count, "seed": arguments.seed,
                                  "results": results, "mean_over_seeds": mean_over_seeds(results),
                                  "machine": machine_info()})
    print("render the tables with: python -m benchmarks.report", file=sys.stderr)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
