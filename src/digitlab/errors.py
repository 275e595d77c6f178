"""Exception types that the CLI turns into one readable line and an exit code that says what happened.

Library code raises these instead of printing, so that Python users can catch them and the CLI can
report them without a traceback:

- :class:`InvalidArgument` (also a ``ValueError``): an argument is out of range or unknown; exit 2,
  like argparse's own usage errors.
- any other :class:`DigitlabError`: the input or the data is bad or unavailable; exit 1.

Anything else escaping the library is a bug, and the CLI says so rather than calling it bad input.

A message that tells the caller what to change names the caller's parameter with :func:`option`, so that
it reads right for each: ``str(error)`` says ``overwrite=True``, the CLI says ``--overwrite``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

_OPTION = re.compile("\x1e([a-z_]+)\x1f(.*?)\x1e")  # option(name, value), as a message holds it


def option(name: str, value: object = True) -> str:
    """A parameter of the caller's, named in a message: ``value`` is what it should be (None: the parameter
    itself, such as "another out")."""
    return f"\x1e{name}\x1f{'' if value is None else repr(value)}\x1e"


def spelled(message: str, spell: Callable[[str, object], str]) -> str:
    """``message`` with each option() in it written by ``spell(name, value)`` (value None: the name alone)."""
    return _OPTION.sub(lambda match: spell(match.group(1), ast.literal_eval(match.group(2) or "None")), message)


def as_keyword(name: str, value: object) -> str:
    return name if value is None else f"{name}={value!r}"


class DigitlabError(Exception):
    """Base class: any error whose message is meant for the user as it is."""

    def __str__(self) -> str:
        return spelled(super().__str__(), as_keyword)

    def message_with(self, spell: Callable[[str, object], str]) -> str:
        """The message, with the options it names spelled by ``spell`` (the CLI: as its flags)."""
        return spelled(super().__str__(), spell)


class InvalidArgument(DigitlabError, ValueError):
    """An argument the caller chose is not allowed: unknown name, out of range, contradictory."""


class DataFormatError(DigitlabError, ValueError):
    """A dataset file exists but is not what it claims to be (bad magic, wrong size, ...)."""


class DataUnavailableError(DigitlabError):
    """No data source worked; the message lists every source tried and why it failed."""


class Interrupted(DigitlabError):
    """Work stopped by Ctrl-C after saving what it had; the message says how to continue."""
