"""Exception types that the CLI turns into one readable line and a non-zero exit code.

Library code raises these (or plain ``ValueError`` for bad arguments) instead of printing,
so that Python users can catch them and the CLI can report them without a traceback.
"""


class DigitlabError(Exception):
    """Base class: any error whose message is meant for the user as it is."""


class DataFormatError(DigitlabError, ValueError):
    """A dataset file exists but is not what it claims to be (bad magic, wrong size, ...)."""


class DataUnavailableError(DigitlabError):
    """No data source worked; the message lists every source tried and why it failed."""


class Interrupted(DigitlabError):
    """Work stopped by Ctrl-C after saving what it had; the message says how to continue."""
