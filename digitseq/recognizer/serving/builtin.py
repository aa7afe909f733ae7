"""Models that ship inside the package: ordinary exported model directories under
`recognizer/builtin/<name>/`, each with a model card (`MODEL_CARD.md`) and the SHA-256 of every
file in `recognizer/builtin/models.json`.

A model option (`digitseq predict --model`, `digitseq train --init-from`) takes a builtin name or
a path: a value that is a bare name (lower-case letters, digits, dashes, dots; no path separator)
and not an existing path names a builtin model, anything else is a path. `resolve` turns a
builtin name into its directory after checking every file against its checksum, so a damaged
installation is refused rather than silently scoring with other weights. A name may also be an
alias (`recognizer/builtin/aliases.json`): `general` is the recommended shipped model, so a script
that names it gets the better model when one ships, while the versioned names keep naming the
same weights. `install` copies an
exported model directory into the package (the files the contract names, `schemas.exported`) and
records its checksums and card; `tools/ship_model.py` is the documented way to run it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from typing import Any

from digitseq.core.errors import ConfigError
from digitseq.recognizer.serving import exported_model

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "builtin")
MANIFEST = os.path.join(HERE, "models.json")
ALIASES = os.path.join(HERE, "aliases.json")
CARD = "MODEL_CARD.md"
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
_verified: set[str] = set()


def manifest() -> dict[str, Any]:
    """`{name: {"sha256": {relative path: digest}, "card": {...}}}` of the shipped models."""
    if not os.path.exists(MANIFEST):
        return {}
    with open(MANIFEST) as f:
        return json.load(f)


def aliases() -> dict[str, str]:
    """`{alias: builtin model name}`, e.g. `{"general": "general-v3"}`."""
    if not os.path.exists(ALIASES):
        return {}
    with open(ALIASES) as f:
        return json.load(f)


def is_name(value: str) -> bool:
    """Whether `value` names a builtin model rather than a path."""
    return bool(_NAME.fullmatch(value)) and not os.path.exists(value)


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _files(directory: str) -> dict[str, str]:
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if rel != CARD:
                found[rel.replace(os.sep, "/")] = _digest(path)
    return dict(sorted(found.items()))


def resolve(value: str, *, field: str) -> str:
    """`value` itself when it is a path; the builtin model's directory when it is a name.

    Raises:
      ConfigError: naming `field`: no builtin model has that name, or a file of it is missing,
        extra or has another checksum than the one shipped.
    """
    if not is_name(value):
        return value
    models = manifest()
    if value in aliases():
        return resolve(aliases()[value], field=field)
    if value not in models:
        names = sorted([*models, *aliases()])
        raise ConfigError(
            field,
            value,
            f"no builtin model of that name (builtin: "
            f"{', '.join(names) or 'none'}) and no such path; expected a "
            f"builtin model name or an exported model directory",
        )
    directory = os.path.join(HERE, value)
    if value not in _verified:
        expected = models[value]["sha256"]
        found = _files(directory) if os.path.isdir(directory) else {}
        for rel in sorted(set(expected) | set(found)):
            if found.get(rel) != expected.get(rel):
                what = (
                    "missing"
                    if rel not in found
                    else "not shipped"
                    if rel not in expected
                    else f"sha256 {found[rel][:12]}..., shipped {expected[rel][:12]}..."
                )
                raise ConfigError(
                    field,
                    value,
                    f"the builtin model's {rel} is {what}; expected "
                    f"the files recorded in {MANIFEST} (reinstall digitseq)",
                )
        _verified.add(value)
    return directory


def install(
    model_dir: str, name: str, *, card: Mapping[str, Any], card_text: str, alias: str | None = None
) -> str:
    """Copies the exported model `model_dir` into the package as builtin `name`, writes its model
    card and records its checksums (and makes `alias` name it); returns the builtin directory."""
    if not _NAME.fullmatch(name):
        raise ConfigError("name", name, "expected lower-case letters, digits, dashes and dots")
    if name in aliases():
        raise ConfigError(
            "name", name, f"is an alias (of {aliases()[name]}); expected a name of its own"
        )
    if alias is not None and (not _NAME.fullmatch(alias) or alias in manifest() or alias == name):
        raise ConfigError(
            "alias",
            alias,
            "expected lower-case letters, digits, dashes and dots, not a model's own name",
        )
    exported_model.open_model(model_dir, keras=True, serving=True)
    target = os.path.join(HERE, name)
    if os.path.exists(target):
        shutil.rmtree(target)
    exported_model.copy_contract(model_dir, target)
    with open(os.path.join(target, CARD), "w") as f:
        f.write(card_text)
    models = manifest()
    models[name] = {"sha256": _files(target), "card": dict(card)}
    with open(MANIFEST, "w") as f:
        json.dump(dict(sorted(models.items())), f, indent=2)
        f.write("\n")
    _verified.discard(name)
    if alias is not None:
        named = dict(sorted({**aliases(), alias: name}.items()))
        with open(ALIASES, "w") as f:
            json.dump(named, f, indent=2)
            f.write("\n")
    return target
