"""Declaring config fields once: defaults, docs and command-line hints live on the dataclasses.

Library configs (`pipelines.render.config.RenderConfig`, `recognizer.config.TrainConfig`, ...) are frozen
dataclasses documented in a Google-style `Attributes:` section. `option()` adds what a front end
needs beyond type and default: a flag name other than `--field-name`, the allowed `choices`, a
`metavar`. `cli.flags` builds the command line from these; nothing here parses flags.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

FLAG = "flag"
CHOICES = "choices"
METAVAR = "metavar"


def option(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    flag: str | None = None,
    choices: Iterable[Any] | None = None,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with command-line metadata."""
    metadata = {
        key: value
        for key, value in (
            (FLAG, flag),
            (CHOICES, tuple(choices) if choices else None),
            (METAVAR, metavar),
        )
        if value is not None
    }
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def check_choice(field: str, value: Any, choices: Iterable[Any]) -> None:
    """Raises `ConfigError` unless `value` is one of `choices`."""
    from digitseq.core.errors import ConfigError

    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(field, value, f"expected one of {', '.join(map(str, choices))}")


def check_finite(config: Any) -> None:
    """Raises `ConfigError` for the first float field of the dataclass `config` (a float, or a
    tuple of them) that holds NaN or an infinity; every config calls it first in
    `__post_init__`, so a new float option is covered without further code."""
    import math

    from digitseq.core.errors import ConfigError

    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        values = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise ConfigError(
                field.name,
                value,
                "expected finite numbers"
                if isinstance(value, (tuple, list))
                else "expected a finite number",
            )
