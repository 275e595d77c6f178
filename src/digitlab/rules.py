"""One way to declare what a setting accepts: a :class:`Rule` beside each field of a settings dataclass
(``training/settings.py``'s TrainingSettings, ``serving/config.py``'s ServeConfig) or beside a parameter
(``tuning.tune``). The same rule checks a value given in Python and parses the command line's text, and
its help is the CLI's."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from digitlab.errors import InvalidArgument


@dataclass(frozen=True)
class Rule:
    """What one setting accepts, and how it is offered on the command line."""

    kind: type
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the bound itself is not allowed
    high_open: bool = False
    or_zero: bool = False  # 0 is allowed besides the range (e.g. val_split: 0 = none)
    flag: str | None = None  # when the option is not --the-field-name
    metavar: str | None = None
    exclusive_with: str | None = None  # another setting that cannot be given together with this one

    def range_text(self) -> str:
        if self.high is None:
            return f">= {self.low:g}" if not self.low_open else f"> {self.low:g}"
        text = f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        return text + (" or 0" if self.or_zero else "")

    def check(self, name: str, value: Any) -> Any:
        """``value`` if this setting allows it (None always: "not given"), else an InvalidArgument."""
        if value is None:
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise InvalidArgument(f"{name} must be true or false, got {value!r}")
            return value
        if self.choices:
            if value not in self.choices:
                raise InvalidArgument(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, self.choices))}")
            return value
        whole = self.kind is int
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
            raise InvalidArgument(f"{name} must be a {'whole number' if whole else 'number'} "
                                  f"{self.range_text()}, got {value!r}")
        if value != value:  # NaN: no range holds it, and every comparison with it is false
            raise InvalidArgument(f"{name} must be a number {self.range_text()}, got nan")
        if self.or_zero and value == 0:
            return value
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            raise InvalidArgument(f"{name} must be {'a whole number ' if whole else ''}{self.range_text()}"
                                  f", got {value!r}")
        return value

    def parse(self, name: str, text: str) -> Any:
        """A command-line string -> the checked value (ValueError/InvalidArgument explain a bad one)."""
        try:
            value = self.kind(text)
        except ValueError:
            raise InvalidArgument(f"expected a {'whole number' if self.kind is int else 'number'}, "
                                  f"got {text!r}") from None
        return self.check(name, value)


def setting(default: Any, rule: Rule) -> Any:
    return field(default=default, metadata={"rule": rule})


def check_fields(settings: Any) -> None:
    """Every field of a settings dataclass that has a rule, checked (an InvalidArgument names the first
    that is not allowed)."""
    for item in fields(settings):
        if "rule" in item.metadata:
            item.metadata["rule"].check(item.name, getattr(settings, item.name))
