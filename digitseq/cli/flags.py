"""Command-line flags built from the libraries' config dataclasses, so each option is declared once.

Every field of a config dataclass becomes a flag: `--field-name` (or the field's
`metadata["flag"]`), typed from its annotation, with the field's default, its `choices` (from
metadata), and help from the `Attributes:` section of the class docstring. A field whose type is
itself a config dataclass adds that class's flags (in an argument group). Supported field types:
`int`, `float`, `str`, `bool` (a switch: `--x` / `--no-x`), `X | None`, `tuple[int, int]` or
`tuple[float, float]` (written `MIN,MAX`), `tuple[float, ...]` (written `A,B,...`) and
`tuple[str, ...]` (the flag given once per value: `--data A --data B`).

`Flags` remembers which flag belongs to which field, so `ConfigError`s raised by the libraries can
be shown with flag names.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from digitseq.core.errors import show_value
from digitseq.core.options import CHOICES, FLAG, METAVAR


def field_docs(cls: type) -> dict[str, str]:
    """`{field: text}` from the `Attributes:` section of `cls`'s Google-style docstring."""
    docs, current = {}, None
    text = inspect.getdoc(cls) or ""
    section = text.split("Attributes:", 1)[1] if "Attributes:" in text else ""
    for line in section.splitlines():
        match = re.match(r"^  (\w+): (.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.startswith("    "):
            docs[current] += " " + line.strip()
        elif line.strip():
            current = None
    return docs


def flag_name(field: dataclasses.Field) -> str:
    return field.metadata.get(FLAG, "--" + field.name.replace("_", "-"))


def _pair(kind: type):
    def parse(text: str) -> tuple:
        try:
            low, high = (kind(v) for v in text.split(","))
        except ValueError:
            what = "integers" if kind is int else "numbers"
            raise argparse.ArgumentTypeError(
                f"expected MIN,MAX (two {what}), found '{text}'"
            ) from None
        return low, high

    parse.kind = kind
    return parse


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, found '{text}'"
        ) from None


_numbers.kind = float


def _unwrap_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


class Flags:
    """The flags of one command, built from config dataclasses; turns parsed args into configs."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser
        self.by_field: dict[str, str] = {}
        self._actions: list[argparse.Action] = []

    def add(
        self,
        cls: type,
        *,
        skip: Iterable[str] = (),
        title: str | None = None,
        defaults: dict[str, Any] | None = None,
        docs: dict[str, str] | None = None,
    ) -> None:
        """Adds a flag for every field of `cls` (and of the configs it nests) not in `skip`.

        `defaults` replace the classes' defaults on the command line (None: the flag is only
        set when given), `docs` their help texts.
        """
        target = self.parser.add_argument_group(title) if title else self.parser
        docs = {**field_docs(cls), **(docs or {})}
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if field.name in skip:
                continue
            kind = _unwrap_optional(hints[field.name])
            if dataclasses.is_dataclass(kind):
                self.add(
                    kind,
                    skip=skip,
                    title=docs.get(field.name, field.name),
                    defaults=defaults,
                    docs=docs,
                )
                continue
            default = (defaults or {}).get(field.name, field.default)
            if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            name = flag_name(field)
            self.by_field[field.name] = name
            kwargs: dict[str, Any] = {"dest": field.name, "help": docs.get(field.name, "")}
            if default is dataclasses.MISSING:
                kwargs["required"] = True
            else:
                kwargs["default"] = default
                if default is not None:
                    shown = ("on" if default else "off") if kind is bool else show_value(default)
                    kwargs["help"] = f"{kwargs['help'].rstrip('.')} (default: {shown})"
            variadic = typing.get_origin(kind) is tuple and typing.get_args(kind)[1:] == (...,)
            if kind is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            elif variadic and typing.get_args(kind)[0] is str:
                kwargs.update(action="append", metavar=name.lstrip("-").upper())
                if kwargs.get("default") is not None:
                    kwargs["default"] = None
            elif variadic:
                kwargs["type"] = _numbers
                kwargs["metavar"] = field.metadata.get(METAVAR, "A,B,...")
            elif typing.get_origin(kind) is tuple:
                kwargs["type"] = _pair(typing.get_args(kind)[0])
                kwargs["metavar"] = field.metadata.get(METAVAR, "MIN,MAX")
            else:
                kwargs["type"] = kind
                kwargs["metavar"] = field.metadata.get(
                    METAVAR, name.lstrip("-").upper().replace("-", "_")
                )
            if CHOICES in field.metadata:
                kwargs["choices"] = field.metadata[CHOICES]
                if METAVAR not in field.metadata:
                    kwargs["metavar"] = "{" + ",".join(map(str, kwargs["choices"])) + "}"
            self._actions.append(target.add_argument(name, **kwargs))

    def build(self, cls: type, args: argparse.Namespace, **given: Any) -> Any:
        """An instance of `cls` from parsed `args` (nested configs too); `given` fields win."""
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            kind = _unwrap_optional(hints[field.name])
            if field.name in given:
                values[field.name] = given[field.name]
            elif dataclasses.is_dataclass(kind):
                values[field.name] = self.build(kind, args)
            elif hasattr(args, field.name):
                value = getattr(args, field.name)
                values[field.name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def explicit(self, argv: Sequence[str]) -> set[str]:
        """The config fields whose flags `argv` (the command's own arguments) gives, whatever
        their values: parsed again with every default suppressed."""
        saved = [(action, action.default, action.required) for action in self._actions]
        try:
            for action in self._actions:
                action.default, action.required = argparse.SUPPRESS, False
            parsed, _ = self.parser.parse_known_args(list(argv))
        finally:
            for action, default, required in saved:
                action.default, action.required = default, required
        return {action.dest for action in self._actions if hasattr(parsed, action.dest)}

    def option_strings(self) -> list[str]:
        """Every flag added (both spellings of a switch)."""
        found = []
        for action in self._actions:
            found += action.option_strings
        return found

    def name(self, field: str) -> str:
        """How the command line names a config field."""
        return self.by_field.get(field, field)
