"""Where a split's records are: its width buckets and their files, from `metadata.json`.

The render job writes each shard with one width bucket and lists it in `metadata.json` with its
`max_width` (the bucket boundary), its sequence length and its record count and size in bytes.
A file whose size differs from the listed one fails here, before anything is read.
"""

from __future__ import annotations

import dataclasses
import os

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError
from digitseq.schemas import dataset


@dataclasses.dataclass(frozen=True)
class Bucket:
    """Files whose records are all at most `boundary` columns wide and `max_label` digits long."""

    boundary: int
    max_label: int
    files: tuple[str, ...]
    file_records: tuple[int, ...]

    @property
    def records(self) -> int:
        return sum(self.file_records)


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    """What the reader needs to know about one split of a rendered dataset."""

    data_dir: str
    split: str
    height: int
    buckets: tuple[Bucket, ...]

    @property
    def records(self) -> int:
        return sum(b.records for b in self.buckets)

    @property
    def max_width(self) -> int:
        return max(b.boundary for b in self.buckets)


def split_info(data_dir: str, split: str) -> SplitInfo:
    """Reads `metadata.json` for `split`, checking the directory, the split and its files."""
    storage.ensure_filesystem(data_dir)
    metadata = dataset.load_metadata(data_dir)
    files = metadata.get("files", {})
    if split not in files:
        raise InvalidInputError(
            f"{data_dir}: no split '{split}', expected one of {', '.join(sorted(files))}"
        )
    if not metadata["counts"].get(split):
        raise InvalidInputError(f"{data_dir}: split '{split}' is empty (0 records)")
    grouped: dict[int, list[dict]] = {}
    for entry in files[split]:
        path = os.path.join(data_dir, entry["path"])
        dataset.check_listed_file(
            path, entry["bytes"], otherwise="the file is truncated or was replaced"
        )
        grouped.setdefault(entry["max_width"], []).append({**entry, "path": path})
    buckets = tuple(
        Bucket(
            boundary=width,
            max_label=max(e["length"] for e in entries),
            files=tuple(e["path"] for e in entries),
            file_records=tuple(e["records"] for e in entries),
        )
        for width, entries in sorted(grouped.items())
    )
    return SplitInfo(
        data_dir=data_dir, split=split, height=int(metadata["height"]), buckets=buckets
    )
