"""``digitlab predict``, ``read``, ``explain`` and ``train-marks``: reading image files with a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digitlab.cli.common import (
    add_run_and_paths,
    keras_verbosity,
    new_command,
    print_record,
    print_report,
    rule_type,
    run_and_paths,
    whole,
)
from digitlab.inference.explain import METHODS
from digitlab.inference.predictor import ENGINES, MIN_CONFIDENCE_RULE
from digitlab.reading.files import FORMATS, explain_paths, predict_paths, read_paths
from digitlab.reading.mark_training import train_marks


def _add_file_reading(parser: argparse.ArgumentParser, formats: tuple[str, ...], engines: tuple[str, ...]) -> None:
    """The arguments predict and read share: the run, the files, and where and how the answers go."""
    add_run_and_paths(parser)
    parser.add_argument("--format", choices=formats, default=formats[0], help="(default: %(default)s)")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of the terminal")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--engine", choices=engines, default=engines[0],
                        help="auto: ONNX Runtime when the run was exported, else Keras")
    parser.add_argument("--min-confidence", type=rule_type("min_confidence", MIN_CONFIDENCE_RULE), metavar="P",
                        help=MIN_CONFIDENCE_RULE.help)


def add_predict(commands) -> None:
    predict = new_command(commands, "predict", command_predict)
    _add_file_reading(predict, FORMATS, ENGINES)
    predict.add_argument("--workers", type=whole(1), metavar="N",
                         help="processes that read and prepare the files (default: one per core; used from "
                         "64 files on). A progress bar shows on a terminal")


def command_predict(arguments: argparse.Namespace) -> int:
    """read the digit in image files (photos, scans, drawings)

    Classify image files of any size and colour: each is turned into an MNIST-style 28x28 input (polarity, crop,
    20x20 box, centre of mass) first. Unreadable files are reported on their own line and the rest continue; the
    exit code is 1 if any file failed.
    """
    run, paths = run_and_paths(arguments.inputs)
    return print_report(predict_paths(run, paths, engine=arguments.engine,
                                       output_format=arguments.format, output=arguments.output,
                                       overwrite=arguments.overwrite, workers=arguments.workers,
                                       progress=sys.stderr.isatty(), min_confidence=arguments.min_confidence))


def add_read(commands) -> None:
    read = new_command(commands, "read", command_read)
    _add_file_reading(read, FORMATS, ENGINES)
    read.add_argument("--decimal-comma", action="store_true",
                      help="write the decimal separator as a comma (12,5), as much of Europe does")
    read.add_argument("--paper", action="store_true",
                      help="the photos are of ruled, squared, dotted or boxed paper: take the printed lines and "
                      "uneven light out first")


def command_read(arguments: argparse.Namespace) -> int:
    """read the whole number in image files (every digit, left to right)

    Read the number written in each image file: every digit is found (connected strokes, two-stroke digits
    merged, touching digits split where the classifier is surest), read left to right in one model call, and
    reported with its confidence and box. A single digit reads as a one-character number. Unreadable files are
    reported on their own line; the exit code is 1 if any file failed.
    """
    run, paths = run_and_paths(arguments.inputs)
    return print_report(read_paths(run, paths, engine=arguments.engine, output_format=arguments.format,
                                    output=arguments.output, overwrite=arguments.overwrite,
                                    progress=sys.stderr.isatty(), min_confidence=arguments.min_confidence,
                                    decimal_comma=arguments.decimal_comma, paper=arguments.paper))


def add_explain(commands) -> None:
    explain = new_command(commands, "explain", command_explain, json="print one JSON row per file instead of a table")
    add_run_and_paths(explain)
    explain.add_argument("--out", default="explanations", metavar="DIR", help="where to write (default: %(default)s)")
    explain.add_argument("--method", choices=METHODS, default=METHODS[0], help="(default: %(default)s)")
    explain.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                         help="auto: ONNX Runtime when the run was exported, else Keras (occlusion only)")
    explain.add_argument("--overwrite", action="store_true", help="replace explanations already in --out")


def command_explain(arguments: argparse.Namespace) -> int:
    """show which strokes made the model read each image as it did (saliency maps)

    For each image file, write into --out NAME.png (the 28x28 the model saw, with the evidence for the predicted
    digit and for the runner-up: red for, blue against) and NAME.json (digit, confidence, runner_up, input,
    saliency, saliency_runner_up as 28x28 lists). occlusion hides 4x4 squares and measures the drop in the
    digit's log-probability (any engine, ONNX included: milliseconds an image); integrated-gradients follows the
    model's gradients from a blank image (Keras on TensorFlow). Unreadable files are reported on their own line;
    the exit code is 1 if any file failed.
    """
    run, paths = run_and_paths(arguments.inputs)
    return print_report(explain_paths(run, paths, out=arguments.out, method=arguments.method,
                                       engine=arguments.engine, overwrite=arguments.overwrite,
                                       output_format="json" if arguments.json else "table",
                                       progress=sys.stderr.isatty()))


def add_train_marks(commands) -> None:
    marks = new_command(commands, "train-marks", command_train_marks, run="run directory",
                        json="print the record as JSON", data_dir=True)
    marks.add_argument("--numbers", type=whole(100), default=24000, metavar="N",
                       help="numbers of 2-3 digits to write for examples (default: 24000)")
    marks.add_argument("--epochs", type=whole(1), default=10, metavar="N", help="training epochs (default: 10)")
    marks.add_argument("--seed", type=whole(0), default=0, metavar="N", help="seed (default: 0)")


def command_train_marks(arguments: argparse.Namespace) -> int:
    """train the mark model that tells the number reader where to cut touching digits

    Train RUN's mark model (RUN/marks.onnx): a small CNN that tells whether a piece of ink the number reader
    would read is one whole digit, or several touching ones, or a fragment of one: which the digit classifier
    cannot (it reads a touching "18" as an 8, surely, and half a 0 as a 1). It learns from numbers written with
    the run's training digits (those it held out for validation left out). digitlab read, POST /v1/read, the
    drawing page and the on-device app then use it.
    """
    record = train_marks(arguments.run, numbers=arguments.numbers, epochs=arguments.epochs, seed=arguments.seed,
                         data_dir=arguments.data_dir, progress=sys.stderr.isatty() and not arguments.json,
                         verbose=0 if arguments.json else keras_verbosity(False))
    return print_record(arguments.json, record, lambda: (
        f"Wrote {Path(arguments.run) / record['file']}: {record['examples']:,} pieces of {record['numbers']:,} "
        f"written numbers ({record['not_one_digit']:,} not one whole digit), validation accuracy "
        f"{record['validation_accuracy']:.2%}, in {record['train_seconds']:.0f} s. digitlab read, the API and "
        "the pages now use it to decide where to cut touching digits"))
