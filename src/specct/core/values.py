"""Values read from a file or a flag, checked for type and range before anything runs.

Each check takes the value and where it came from (a key path such as ``spectrogram.size``, or a flag)
and returns the value typed, or raises one :class:`InputError` naming the key, the value and what is
allowed: ``spectrogram.size: expected a whole number of pixels (at least 1) or [height, width], got
32.5``. YAML gives ``true`` as a bool, which is an int in Python: a bool is never taken for a number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .errors import InputError


def refuse(where: str, allowed: str, value) -> InputError:
    return InputError(f"{where}: expected {allowed}, got {value!r}")


@dataclass(frozen=True)
class Range:
    """Bounds of a number: ``low``/``high`` inclusive, ``above``/``below`` exclusive; None = open."""
    low: float | None = None
    high: float | None = None
    above: float | None = None
    below: float | None = None

    def holds(self, value: float) -> bool:
        return ((self.low is None or value >= self.low) and (self.high is None or value <= self.high)
                and (self.above is None or value > self.above) and (self.below is None or value < self.below))

    @property
    def text(self) -> str:
        parts = [f"at least {self.low:g}" if self.low is not None else "",
                 f"above {self.above:g}" if self.above is not None else "",
                 f"at most {self.high:g}" if self.high is not None else "",
                 f"below {self.below:g}" if self.below is not None else ""]
        return " and ".join(p for p in parts if p)

    @property
    def json_schema(self) -> dict:
        """The bounds as JSON Schema keywords (``minimum``, ``exclusiveMaximum`` ...)."""
        keys = {"low": "minimum", "high": "maximum", "above": "exclusiveMinimum", "below": "exclusiveMaximum"}
        return {name: getattr(self, field) for field, name in keys.items() if getattr(self, field) is not None}


ANY = Range()
POSITIVE = Range(above=0)
NON_NEGATIVE = Range(low=0)
AT_LEAST_ONE = Range(low=1)
FRACTION = Range(low=0, high=1)          # a probability or a share, both ends allowed


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounded(kind: str, bounds: Range) -> str:
    return f"{kind} {bounds.text}" if bounds.text else kind


def integer(value, where: str, bounds: Range = ANY) -> int:
    if not is_integer(value) or not bounds.holds(value):
        raise refuse(where, _bounded("an integer", bounds), value)
    return value


def number(value, where: str, bounds: Range = ANY) -> float:
    if not is_number(value) or value != value or not bounds.holds(value):   # value != value: NaN
        raise refuse(where, _bounded("a number", bounds), value)
    return float(value)


def boolean(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise refuse(where, "true or false", value)
    return value


def text(value, where: str, choices: Sequence[str] | None = None) -> str:
    """A non-empty string (one of ``choices`` when given)."""
    if choices is not None and value not in choices:
        raise refuse(where, f"one of {', '.join(map(str, choices))}", value)
    if not isinstance(value, str) or not value.strip():
        raise refuse(where, "a non-empty string", value)
    return value


def text_list(value, where: str, choices: Sequence[str] | None = None) -> list[str]:
    """A non-empty list of strings, or one string (a list of one)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i.strip() for i in items):
        raise refuse(where, "a string or a non-empty list of strings", value)
    for item in items:
        text(item, where, choices)
    return list(items)


def optional(check, value, where: str, *args):
    """``check`` on a value that may also be None (YAML ``null``)."""
    return None if value is None else check(value, where, *args)


def did_you_mean(word, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` with the nearest of ``choices`` to a wrong key or name, or nothing."""
    import difflib

    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
