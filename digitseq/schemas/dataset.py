"""The rendered dataset directory: file names, and reading its metadata and statistics.

    <dir>/metadata.json           params, seed, schema version, source checksums, counts,
                                  length and width histograms, files per split
    <dir>/stats.json              train-split statistics per image row (count, mean, std)
    <dir>/rejected.jsonl          ingest only: one row per input file it refused (file, kind,
                                  reason)
    <dir>/<split>/*.tfrecord.gz   GZIP TFRecord shards, each holding one width bucket
    <dir>/COMPLETED               written last; a directory without it is incomplete
    <dir>/.tmp/                   shards being written (temporary names); removed before COMPLETED

Every shard's entry in `metadata.json` names its bucket: the sequence `length` it holds and the
`max_width` any of its records has, which is where the reader pads to.
"""

from __future__ import annotations

import os
from typing import Any

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError

COMPLETED = "COMPLETED"
METADATA = "metadata.json"
STATS = "stats.json"
REJECTED = "rejected.jsonl"
"""The ingest job's refused input files, in the dataset directory it writes."""
SHEET = "inspect-{split}.png"
"""`digitseq inspect`'s picture of a split, written in the dataset directory by default."""
SPLITS = ("train", "validation", "test")
COMPRESSION = "GZIP"
SHARD_SUFFIX = ".tfrecord.gz"
TEMP = ".tmp"
"""Where shards are written before they are renamed into their split: no pattern over a split
directory (or over `*/*.tfrecord.gz`) matches a file there."""


def check_listed_file(path: str, size: int, *, otherwise: str) -> None:
    """Checks that a file `metadata.json` lists is at `path` with the `size` bytes it lists.

    Raises:
      InvalidInputError: naming the file: missing, or another size (the message ends with
        `otherwise`: what a different size suggests).
    """
    import tensorflow as tf

    try:
        found = tf.io.gfile.stat(path).length
    except tf.errors.NotFoundError:
        raise InvalidInputError(f"{path}: listed in {METADATA} but missing") from None
    if found != size:
        raise InvalidInputError(
            f"{path}: {found} bytes, expected the {size} bytes {METADATA} lists; {otherwise}"
        )


def shard_path(split: str, max_width: int, shard: int, num_shards: int) -> str:
    """Path of a shard relative to the dataset directory."""
    return f"{split}/{split}-w{max_width:04d}-{shard:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def read_completed_json(directory: str, name: str) -> dict[str, Any]:
    """Reads `<directory>/<name>` after checking that the directory is complete."""
    import tensorflow as tf

    if not tf.io.gfile.exists(os.path.join(directory, COMPLETED)):
        raise InvalidInputError(
            f"{directory}: no {COMPLETED} file, so not a complete digitseq dataset (the render job "
            f"writes it last; was the job interrupted, or is this the wrong directory?)"
        )
    path = os.path.join(directory, name)
    if not tf.io.gfile.exists(path):
        raise InvalidInputError(f"{path}: missing from a dataset marked {COMPLETED}")
    return storage.read_json(path)


def load_metadata(directory: str) -> dict[str, Any]:
    """The dataset's `metadata.json`, checked for the schema version this code reads."""
    from digitseq.schemas import record

    metadata = read_completed_json(directory, METADATA)
    version = metadata.get("schema_version")
    if version != record.SCHEMA_VERSION:
        raise InvalidInputError(
            f"{os.path.join(directory, METADATA)}: schema_version {version}, expected "
            f"{record.SCHEMA_VERSION}"
        )
    return metadata


def load_stats(directory: str) -> dict[str, Any]:
    """The dataset's `stats.json`: count, mean[height], std[height], global_mean, global_std."""
    stats = read_completed_json(directory, STATS)
    missing = {"count", "mean", "std", "global_mean", "global_std"} - set(stats)
    if missing:
        raise InvalidInputError(f"{os.path.join(directory, STATS)}: keys {sorted(missing)} missing")
    return stats
