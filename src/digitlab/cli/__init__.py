"""The ``digitlab`` command line: parses arguments, calls one library function per command, prints.

It holds no logic of its own and writes no files: whatever lands on disk is written by the library. Each
command is declared beside its handler, in the module of its group (``add_NAME`` declares, ``command_NAME``
runs); this module lists the commands and turns errors into exit codes. Only the module of the command
given is imported, so that ``digitlab models`` does not pay for the server's or the tuner's imports.

Exit codes: 0 success; 1 a problem with the input or the data (one line on stderr says what); 2 a usage
or argument error (argparse's own, or an argument the library refuses); 70 an internal error (a bug: one
line, and ``--debug`` or ``DIGITLAB_DEBUG=1`` shows the traceback); 130 interrupted with Ctrl-C;
141 the reader of the output went away.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from importlib import import_module

from digitlab.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_CODES_TEXT,
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from digitlab.errors import DigitlabError, Interrupted, InvalidArgument
from digitlab.fileio import discard_stdout
from digitlab.version import __version__

# command -> the module of digitlab.cli that declares and runs it, in the order --help lists them
COMMANDS = {
    "data": "data", "models": "training", "train": "training", "evaluate": "evaluation", "compare": "evaluation",
    "ensemble": "evaluation", "calibrate": "evaluation", "quickstart": "training", "tune": "tuning", "export": "deploy",
    "train-marks": "reading", "predict": "reading", "read": "reading", "explain": "reading",
    "feedback": "feedback", "tokens": "feedback", "app": "deploy", "serve": "deploy",
}


def command_module(name: str):
    """The module that declares and runs command ``name``: the one place where the CLI's imports wait."""
    return import_module(f"digitlab.cli.{COMMANDS[name]}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` the parser of one command (the others are not imported)."""
    parser = argparse.ArgumentParser(
        prog="digitlab",
        description="Handwritten-digit classification on MNIST with Keras 3: "
        "explore the data, train, evaluate, tune and deploy.",
        epilog=EXIT_CODES_TEXT + " Run 'digitlab COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"digitlab {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an internal error (also: DIGITLAB_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for name in [only] if only in COMMANDS else COMMANDS:
        getattr(command_module(name), f"add_{name.replace('-', '_')}")(commands)
    return parser


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv``, None when there is none before a --help or --version."""
    for argument in argv:
        if argument in ("-h", "--help", "--version"):
            return None
        if not argument.startswith("-"):
            return argument if argument in COMMANDS else None
    return None


LIBRARY_NAMES = {"hyper": "param"}  # library parameter -> the CLI option's dest, where they differ


def flag_speller(parser: argparse.ArgumentParser, arguments: argparse.Namespace):
    """How the CLI says a parameter a library message names (errors.option): as the command's own flag."""
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    flags = {action.dest: action.option_strings[-1]
             for action in commands.choices[arguments.command]._actions if action.option_strings}

    def spell(name: str, value: object) -> str:
        name = LIBRARY_NAMES.get(name, name)
        flag = flags.get(name, "--" + name.replace("_", "-"))
        return flag if value is None or value is True else f"{flag} {value}"

    return spell


def _debugging(arguments: argparse.Namespace | None) -> bool:
    return bool(arguments is not None and arguments.debug) or os.environ.get("DIGITLAB_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(chosen_command(argv))
    arguments = parser.parse_args(argv)
    if hasattr(arguments, "check"):
        arguments.check(arguments.command_parser, arguments)
    try:
        code = arguments.handler(arguments)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at interpreter exit
        return code
    except Interrupted as error:
        print(f"digitlab: {error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except InvalidArgument as error:
        print(f"digitlab {arguments.command}: error: {error.message_with(flag_speller(parser, arguments))}",
              file=sys.stderr)
        return EXIT_USAGE
    except DigitlabError as error:
        print(f"digitlab: error: {error.message_with(flag_speller(parser, arguments))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("digitlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (digitlab ... | head): stop quietly, as a SIGPIPE would
        discard_stdout()  # so the exit-time flush cannot fail again
        return EXIT_BROKEN_PIPE
    except Exception as error:  # a bug: say so in one line, not as if the input were bad
        if _debugging(arguments):
            traceback.print_exc()
        else:
            print(f"digitlab: internal error: {type(error).__name__}: {error} (a bug in digitlab; run again with "
                  "--debug or DIGITLAB_DEBUG=1 to see the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


__all__ = ["EXIT_ERROR", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]
