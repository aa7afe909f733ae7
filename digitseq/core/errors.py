"""The exceptions raised for bad input: a file, record, flag or parameter that breaks a contract.

Messages name the thing (file, record, option), what was found and what was expected. The CLI turns
these into one-line errors with a non-zero exit; anything else is a bug and keeps its traceback.
Library code names options by their config field (`min_length`); the command line shows the
same message with its flags (`--min-length`), see `ConfigError.render`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any


class InvalidInputError(ValueError):
    """Bad input from the user or from data on disk."""


class ConfigError(InvalidInputError):
    """A config field with a value it cannot take.

    The message reads `<field> <value>: <expected>`; `expected` may name other fields (listed in
    `others`), so a front end can show every field's name its own way.
    """

    def __init__(self, field: str, value: Any, expected: str, *, others: Sequence[str] = ()):
        self.field, self.value, self.expected = field, value, expected
        self.others = tuple(others)
        super().__init__(f"{field} {show_value(value)}: {expected}")

    def render(self, name: Callable[[str], str]) -> str:
        """The message with the field, and the `others` it mentions, written as `name(f)`."""
        expected = self.expected
        if self.others:
            pattern = re.compile(
                r"(?<![\w-])(" + "|".join(map(re.escape, self.others)) + r")(?![\w-])"
            )
            expected = pattern.sub(lambda match: name(match.group(1)), expected)
        return f"{name(self.field)} {show_value(self.value)}: {expected}"


def show_value(value: Any) -> str:
    """A config value as a flag takes it (`MIN,MAX` for pairs)."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)
