"""The labels file of an ingest job, read on the launcher: which image says which digits.

Two formats, told by the file name (`.csv`; `.jsonl`, `.ndjson`, `.json`) or else by the first
character (`{` means JSON Lines):

- CSV with a header row `file,label` or `file,label,split` (any column order, no other columns);
- JSON Lines, one object per line with the keys `file`, `label` and optionally `split`.

`file` is relative to the labels file's folder (or absolute, or a URL such as `gs://...`);
`label` is kept as text, so leading zeros survive (a CSV reader that turned it into a number
would drop them). Whether a label is a digit string and whether a file is listed twice
(`problem`), and whether a split is known, are questions about the rows, answered in the jobs
(ingest rejects the image, predict dead-letters it, with the same reason); a file whose structure
cannot be read is a one-line error naming the line and column.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import posixpath
import re
from collections.abc import Sequence
from typing import Any

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError

FILE, LABEL, SPLIT = "file", "label", "split"
COLUMNS = (FILE, LABEL, SPLIT)
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
DIGITS = re.compile(r"[0-9]+")


def is_digit_string(label: Any) -> bool:
    """Whether a labels file's label can be used: a non-empty string of the digits 0-9."""
    return isinstance(label, str) and DIGITS.fullmatch(label) is not None


@dataclasses.dataclass(frozen=True)
class LabelRow:
    """One row of the labels file.

    Attributes:
      name: the file as the labels file names it; the record's id.
      path: where it is: `name` resolved against the labels file's folder, normalised.
      label: the label as written: text, or for JSON Lines any JSON value (a number is not
        accepted as a label: it would have lost its leading zeros).
      split: the split the row asks for, or None.
      line: the row's line number in the labels file (1-based).
    """

    name: str
    path: str
    label: Any
    split: str | None
    line: int


DUPLICATE, BAD_LABEL = "duplicate", "bad_label"
"""Why an image's rows in the labels file cannot label it (`problem`); ingest's reject kinds."""


def problem(rows: Sequence[LabelRow]) -> tuple[str, str] | None:
    """Why the rows a labels file holds for one image cannot label it, as `(kind, reason)`:
    `DUPLICATE` (listed more than once; the reason names the lines) or `BAD_LABEL` (the label is
    not a string of digits; the reason names the line and the label). None for one usable row."""
    rows = sorted(rows, key=lambda r: r.line)
    if len(rows) > 1:
        lines = ", ".join(str(r.line) for r in rows)
        return DUPLICATE, (
            f"listed {len(rows)} times in the labels file (lines {lines}), expected once"
        )
    if not is_digit_string(rows[0].label):
        return BAD_LABEL, (
            f"labels file line {rows[0].line}: label {rows[0].label!r}, expected "
            f"a string of digits 0-9 (quoted in JSON, so leading zeros stay)"
        )
    return None


def resolve(base_dir: str, name: str) -> str:
    """`name` relative to `base_dir` (unless absolute or a URL), normalised."""
    return normalize_path(name if is_absolute(name) else storage.join(base_dir, name))


def is_absolute(path: str) -> bool:
    return "://" in path or os.path.isabs(path)


def normalize_path(path: str) -> str:
    """One spelling per file: absolute local paths, `scheme://` paths without `.` or `..`."""
    if "://" in path:
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{posixpath.normpath(rest)}"
    return os.path.normpath(os.path.abspath(path))


def read_labels(path: str) -> tuple[list[LabelRow], str]:
    """The rows of the labels file at `path`, and the file's sha256.

    Raises:
      InvalidInputError: the file is missing, not UTF-8, or not CSV with the header above or JSON
        Lines with those keys; the message names the line and column.
    """
    import tensorflow as tf

    try:
        data = storage.read_bytes(path)
    except tf.errors.OpError as err:
        raise InvalidInputError(f"{path}: cannot read the labels file ({err.message})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InvalidInputError(f"{path} line {line}: not UTF-8 text ({err.reason})") from None
    base = posixpath.dirname(path) if "://" in path else os.path.dirname(os.path.abspath(path))
    json_lines = path.lower().endswith(JSON_SUFFIXES) or (
        not path.lower().endswith(".csv") and text.lstrip().startswith("{")
    )
    parse = _json_lines if json_lines else _csv
    rows = [
        LabelRow(name=name, path=resolve(base, name), label=label, split=split, line=line)
        for name, label, split, line in parse(text, path)
    ]
    if not rows:
        raise InvalidInputError(f"{path}: no labeled files, expected at least one row")
    return rows, hashlib.sha256(data).hexdigest()


def _csv(text: str, path: str):
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInputError(
                f"{path} line 1 column 1: empty file, expected a header row file,label[,split]"
            )
        names = [h.strip() for h in header]
        if sorted(names) not in (sorted(COLUMNS[:2]), sorted(COLUMNS)):
            raise InvalidInputError(
                f"{path} line 1 column 1: header {','.join(names)}, expected file,label or "
                f"file,label,split"
            )
        for values in reader:
            line = reader.line_num
            if not values or values == [""]:
                continue
            if len(values) != len(names):
                column = (
                    len(",".join(values[: len(names)])) + 2
                    if len(values) > len(names)
                    else len(",".join(values)) + 1
                )
                raise InvalidInputError(
                    f"{path} line {line} column {column}: {len(values)} fields, expected "
                    f"{len(names)} ({','.join(names)})"
                )
            row = dict(zip(names, (v.strip() for v in values)))
            yield row[FILE], row[LABEL], row.get(SPLIT) or None, line
    except csv.Error as err:
        raise InvalidInputError(f"{path} line {reader.line_num}: not valid CSV ({err})") from None


def _json_lines(text: str, path: str):
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            row = json.loads(content)
        except json.JSONDecodeError as err:
            raise InvalidInputError(
                f"{path} line {line} column {err.colno}: not valid JSON ({err.msg})"
            ) from None
        if not isinstance(row, dict):
            raise InvalidInputError(
                f"{path} line {line} column 1: a {type(row).__name__}, expected an object with "
                f"keys file, label[, split]"
            )
        unknown = sorted(set(row) - set(COLUMNS))
        missing = [key for key in COLUMNS[:2] if key not in row]
        if unknown or missing:
            raise InvalidInputError(
                f"{path} line {line} column 1: keys {', '.join(sorted(row)) or 'none'}, expected "
                f"file, label[, split]"
            )
        if not isinstance(row[FILE], str) or not row[FILE]:
            raise InvalidInputError(
                f"{path} line {line}: file {row[FILE]!r}, expected a non-empty string"
            )
        label, split = row[LABEL], row.get(SPLIT)
        yield (
            row[FILE],
            label,
            split if split is None or isinstance(split, str) else str(split),
            line,
        )
