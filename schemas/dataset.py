"""The rendered dataset directory: file names, and reading its metadata and statistics.

    <dir>/metadata.json           params, seed, schema version, source checksums, counts,
                                  length and width histograms, files per split
    <dir>/stats.json              train-split statistics per image row (count, mean, std)
    <dir>/<split>/*.tfrecord.gz   GZIP TFRecord shards, each holding one width bucket
    <dir>/COMPLETED               written last; a directory without it is incomplete

Every shard's entry in `metadata.json` names its bucket: the sequence `length` it holds and the
`max_width` any of its records has, which is where the reader pads to.
"""

from __future__ import annotations

import json
import os
from typing import Any

from schemas.errors import InvalidInputError

COMPLETED = "COMPLETED"
METADATA = "metadata.json"
STATS = "stats.json"
SPLITS = ("train", "validation", "test")
COMPRESSION = "GZIP"
SHARD_SUFFIX = ".tfrecord.gz"


def shard_path(split: str, max_width: int, shard: int, num_shards: int) -> str:
    """Path of a shard relative to the dataset directory."""
    return f"{split}/{split}-w{max_width:04d}-{shard:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def is_dataset(directory: str) -> bool:
    """True if `directory` holds any part of a rendered dataset."""
    import tensorflow as tf

    return any(tf.io.gfile.exists(os.path.join(directory, name))
               for name in (COMPLETED, METADATA, STATS, *SPLITS))


def write_json(path: str, value: Any) -> None:
    """Writes `value` as indented JSON to `path` (any `tf.io.gfile` path)."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value, indent=2) + "\n")


def read_json(directory: str, name: str) -> dict[str, Any]:
    """Reads `<directory>/<name>` after checking that the directory is complete."""
    import tensorflow as tf

    if not tf.io.gfile.exists(os.path.join(directory, COMPLETED)):
        raise InvalidInputError(
            f"{directory}: no {COMPLETED} file, so not a complete digitseq dataset (the render job "
            f"writes it last; was the job interrupted, or is this the wrong directory?)")
    path = os.path.join(directory, name)
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    except tf.errors.NotFoundError:
        raise InvalidInputError(f"{path}: missing from a dataset marked {COMPLETED}") from None
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"{path}: not valid JSON ({err})") from None


def load_metadata(directory: str) -> dict[str, Any]:
    """The dataset's `metadata.json`, checked for the schema version this code reads."""
    from schemas import record

    metadata = read_json(directory, METADATA)
    version = metadata.get("schema_version")
    if version != record.SCHEMA_VERSION:
        raise InvalidInputError(
            f"{os.path.join(directory, METADATA)}: schema_version {version}, expected "
            f"{record.SCHEMA_VERSION}")
    return metadata


def load_stats(directory: str) -> dict[str, Any]:
    """The dataset's `stats.json`: count, mean[height], std[height], global_mean, global_std."""
    stats = read_json(directory, STATS)
    missing = {"count", "mean", "std", "global_mean", "global_std"} - set(stats)
    if missing:
        raise InvalidInputError(
            f"{os.path.join(directory, STATS)}: keys {sorted(missing)} missing")
    return stats
