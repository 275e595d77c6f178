"""Exception types that the CLI turns into one readable line and an exit code that says what happened.

Library code raises these instead of printing, so that Python users can catch them and the CLI can
report them without a traceback:

- :class:`InvalidArgument` (also a ``ValueError``): an argument is out of range or unknown; exit 2,
  like argparse's own usage errors.
- any other :class:`DigitlabError`: the input or the data is bad or unavailable; exit 1.

Anything else escaping the library is a bug, and the CLI says so rather than calling it bad input.
"""


class DigitlabError(Exception):
    """Base class: any error whose message is meant for the user as it is."""


class InvalidArgument(DigitlabError, ValueError):
    """An argument the caller chose is not allowed: unknown name, out of range, contradictory."""


class DataFormatError(DigitlabError, ValueError):
    """A dataset file exists but is not what it claims to be (bad magic, wrong size, ...)."""


class DataUnavailableError(DigitlabError):
    """No data source worked; the message lists every source tried and why it failed."""


class Interrupted(DigitlabError):
    """Work stopped by Ctrl-C after saving what it had; the message says how to continue."""
