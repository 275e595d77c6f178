"""``digitlab evaluate``, ``compare`` and ``ensemble``: how good trained runs are."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from digitlab.abstention import calibrate_run
from digitlab.cli.common import EXIT_OK, new_command, print_record
from digitlab.evaluation import ensemble_json, evaluate, evaluate_ensemble, summary_text
from digitlab.runs import SPLITS, expand_run_paths, leaderboard, leaderboard_cells
from digitlab.tables import text_table


def print_evaluation(run_path, evaluation) -> None:
    print(summary_text(evaluation))
    print(f"\nReport: {Path(run_path) / 'report.md'}  (plots: confusion.png, misclassified.png, curves.png)")


def add_evaluate(commands) -> None:
    evaluate = new_command(commands, "evaluate", command_evaluate, run="run directory",
                           json="print the metrics as JSON", data_dir=True)
    evaluate.add_argument("--split", choices=SPLITS, default=SPLITS[0], help="(default: %(default)s)")


def command_evaluate(arguments: argparse.Namespace) -> int:
    """evaluate a run: accuracy, precision/recall/F1, confusion matrix, mistakes

    Evaluate a trained run on a split and (re)write metrics.json, confusion.png, misclassified.png and report.md
    in the run directory.
    """
    evaluation = evaluate(arguments.run, split=arguments.split, data_dir=arguments.data_dir)
    if arguments.json:
        print(json.dumps(evaluation.to_json(), indent=2))
    else:
        print_evaluation(arguments.run, evaluation)
    return EXIT_OK


def add_compare(commands) -> None:
    compare = new_command(commands, "compare", command_compare, json="print the rows as JSON")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run directories, or directories holding runs")
    compare.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown to FILE")


def command_compare(arguments: argparse.Namespace) -> int:
    """leaderboard of runs (model, params, epochs, time, accuracy, F1)"""
    rows = leaderboard(arguments.runs, markdown=arguments.markdown)
    if arguments.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(text_table(*leaderboard_cells(rows)))
    if arguments.markdown:
        print(f"Wrote the leaderboard as Markdown to {arguments.markdown}")
    return EXIT_OK


def add_ensemble(commands) -> None:
    ensemble = new_command(commands, "ensemble", command_ensemble, json="print the metrics as JSON", data_dir=True)
    ensemble.add_argument("runs", nargs="+", metavar="RUN", help="run directories, or directories holding runs")
    ensemble.add_argument("--tta", action="store_true",
                          help="test-time augmentation: also average over 1-pixel shifts of every image (5 views); "
                          "one RUN is then enough")
    ensemble.add_argument("--out", metavar="FILE", help="also write the metrics as JSON to FILE")


def command_ensemble(arguments: argparse.Namespace) -> int:
    """evaluate several runs together by averaging their class probabilities

    Evaluate the ensemble of RUNs on the test set: each run's class probabilities are averaged and the most
    probable digit wins. Train the members with different --seed values.
    """
    paths = expand_run_paths(arguments.runs)
    evaluation = evaluate_ensemble(paths, data_dir=arguments.data_dir, tta=arguments.tta, out=arguments.out)
    if arguments.json:
        print(json.dumps(ensemble_json(paths, evaluation, tta=arguments.tta), indent=2))
    else:
        views = " over each image and its four 1-pixel shifts" if arguments.tta else ""
        print(f"Ensemble of {len(paths)} run{'s' if len(paths) > 1 else ''} (class probabilities averaged{views}):")
        print(summary_text(evaluation))
    return EXIT_OK


def add_calibrate(commands) -> None:
    new_command(commands, "calibrate", command_calibrate, run="run directory (trained with a validation split)",
                json="print the calibration record as JSON", data_dir=True)


def command_calibrate(arguments: argparse.Namespace) -> int:
    """fit a run's confidence temperature and its "not sure" threshold on the digits it held out

    Fit the temperature that makes RUN's confidence mean what it says (Guo et al. 2017) and the threshold under
    which a reading is withheld as "not sure" or "not a digit" (the lowest at which re-drawn uploads of the
    held-out digits are 99.5% right), on the digits the run held out of training; record both in the run.
    digitlab train does this itself; this is for runs trained before it did.
    """
    record = calibrate_run(arguments.run, data_dir=arguments.data_dir)
    right = record["redrawn_accepted_accuracy"]  # None when none is given
    return print_record(arguments.json, record, lambda: (
        f"Calibrated {arguments.run}: temperature {record['temperature']:.3f}, threshold "
        f"{record['threshold']:.3f}; on {record['fitted_on']['redrawn_uploads']} re-drawn held-out digits "
        f"{record['redrawn_accepted']:.1%} are given" + ("" if right is None else f", {right:.2%} of them right")
        + f"; held-out ECE {record['held_out_ece']['before']:.2%} -> {record['held_out_ece']['after']:.2%}"))
