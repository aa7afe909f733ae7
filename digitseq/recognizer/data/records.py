"""Streams of serialized records from TFRecord files.

Two ways to read: `plain_records` (one reader over the files in turn, for files already verified)
and `tagged_records`, which pairs each record with a tag `file_index * FILE_SHIFT + number` (one
integer per record, from `enumerate`) that `record_names` turns into `"<file> record <n>"` only
for a batch that needs naming in an error. `sample_records` takes a few parsed records of a
dataset's split, for pictures and checks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import tensorflow as tf

from digitseq.core.errors import InvalidInputError
from digitseq.schemas import dataset, record

AUTOTUNE = tf.data.AUTOTUNE
FILE_SHIFT = 1 << 32


def count_readable(path, compression: str, *, ignore_errors: bool = False) -> int:
    """Records of one file that can be read (reading fails at the first bad one, unless
    `ignore_errors`)."""
    records = tf.data.TFRecordDataset(path, compression_type=compression)
    if ignore_errors:
        records = records.ignore_errors()
    return int(
        records.batch(4096).reduce(
            tf.constant(0, tf.int64), lambda n, batch: n + tf.size(batch, tf.int64)
        )
    )


def file_order(files: Sequence[str], *, training: bool, seed: int | None) -> tf.data.Dataset:
    """`(path, index)` of each file; shuffled every epoch when training."""
    paths = tf.data.Dataset.from_tensor_slices((list(files), tf.range(len(files), dtype=tf.int64)))
    if training:
        paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return paths


def tagged_records(
    files: Sequence[str],
    *,
    training: bool,
    seed: int | None,
    compression: str,
    skip_corrupt: bool,
    block: int,
) -> tf.data.Dataset:
    """`(tag, serialized)` pairs from `files`, read two files at a time, `block` records a turn."""

    def read(path, index):
        records = tf.data.TFRecordDataset(path, compression_type=compression)
        if skip_corrupt:
            records = records.ignore_errors(log_warning=True)
        return records.enumerate(start=index * FILE_SHIFT)

    return file_order(files, training=training, seed=seed).interleave(
        read,
        cycle_length=min(len(files), 2),
        block_length=block,
        num_parallel_calls=AUTOTUNE,
        deterministic=not training or seed is not None,
    )


def plain_records(
    files: Sequence[str], *, training: bool, seed: int | None, compression: str, skip_corrupt: bool
) -> tf.data.Dataset:
    """Serialized records of verified files: one reader, file order shuffled when training."""
    paths = file_order(files, training=training, seed=seed).map(lambda path, _: path)
    records = tf.data.TFRecordDataset(paths, compression_type=compression)
    return records.ignore_errors(log_warning=True) if skip_corrupt else records


def record_names(tags, files: Sequence[str]):
    """Tags -> `"<file> record <n>"` strings."""
    prefixes = tf.constant([f"{path} record " for path in files])
    return tf.strings.join(
        [tf.gather(prefixes, tags // FILE_SHIFT), tf.strings.as_string(tags % FILE_SHIFT)]
    )


def sample_records(directory: str, split: str, count: int) -> list:
    """`count` parsed and checked records of `split`, taken round-robin over its shards (so
    every length shows)."""
    metadata = dataset.load_metadata(directory)
    if split not in metadata["files"]:
        raise InvalidInputError(
            f"{directory}: no split '{split}', expected one of {', '.join(metadata['files'])}"
        )
    files = [os.path.join(directory, entry["path"]) for entry in metadata["files"][split]]
    if not files:
        raise InvalidInputError(f"{directory}: split '{split}' is empty (0 records)")
    records = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=dataset.COMPRESSION),
        cycle_length=len(files),
        block_length=1,
    )
    return [
        record.parse_record(serialized, where=f"{directory} split {split}")
        for serialized in records.take(count).as_numpy_iterator()
    ]
