"""Batches of any v1-schema TFRecord files, for records not laid out by the render job.

Users' own files are not one width bucket per file and come without `metadata.json`, so records
are parsed a batch at a time, then regrouped by width with `bucket_by_sequence_length`. With GZIP
compression every file's stream is checked to its end first (TensorFlow stops quietly at a
truncated one, and there is no listed size to compare with).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError
from digitseq.recognizer.data import parsing
from digitseq.recognizer.data.reader import sharding_options
from digitseq.recognizer.data.records import AUTOTUNE, record_names, tagged_records
from digitseq.schemas import batch, dataset


def make_dataset_from_files(
    file_pattern: str | Sequence[str],
    batch_size: int,
    *,
    bucket_widths: Sequence[int],
    height: int = 28,
    compression: str | None = dataset.COMPRESSION,
    training: bool = False,
    shuffle_buffer: int = 2048,
    seed: int | None = None,
    with_ids: bool = False,
) -> tf.data.Dataset:
    """Batches of any v1-schema TFRecords, each padded to the smallest of `bucket_widths` that
    holds its records (a record wider than the largest fails, by name).

    Batches are `(features, labels)` as `schemas.batch` describes them.
    """
    storage.ensure_filesystem(file_pattern if isinstance(file_pattern, str) else file_pattern[0])
    files = tf.io.gfile.glob(file_pattern) if isinstance(file_pattern, str) else list(file_pattern)
    if not files:
        raise InvalidInputError(f"{file_pattern}: no files match")
    if not bucket_widths or min(bucket_widths) < 1:
        raise InvalidInputError(f"bucket_widths {list(bucket_widths)}: expected positive widths")
    if compression == storage.GZIP:
        for path in files:
            problem = storage.gzip_problem(path)
            if problem:
                raise InvalidInputError(f"{path}: {problem}; the file is corrupt or truncated")
    boundaries = [w + 1 for w in sorted(bucket_widths)]  # bucket_by_sequence_length: exclusive
    records = tagged_records(
        files,
        training=training,
        seed=seed,
        compression=compression or "",
        skip_corrupt=False,
        block=batch_size,
    )
    if training:
        records = records.shuffle(shuffle_buffer, seed=seed)

    def parse(tags, serialized):
        return parsing.parse_batch(
            serialized,
            names=record_names(tags, files),
            height=height,
            boundary=boundaries[-1] - 1,
            max_label=None,
            with_ids=with_ids,
        )

    def split_rows(features, labels):
        """Batch -> records, each cut back to its own width and label length."""

        def row(i):
            cut = {
                batch.FRAMES: features[batch.FRAMES][i, : features[batch.WIDTH][i]],
                batch.WIDTH: features[batch.WIDTH][i],
                batch.LABEL: labels[batch.LABEL][i, : labels[batch.LABEL_LENGTH][i]],
                batch.LABEL_LENGTH: labels[batch.LABEL_LENGTH][i],
            }
            if with_ids:
                cut[batch.ID] = features[batch.ID][i]
            return cut

        rows = tf.shape(features[batch.WIDTH], out_type=tf.int64)[0]
        return tf.data.Dataset.range(rows, output_type=tf.int32).map(row)

    padded_shapes = {
        batch.FRAMES: [None, height],
        batch.WIDTH: [],
        batch.LABEL: [None],
        batch.LABEL_LENGTH: [],
    }
    padding_values = {
        batch.FRAMES: tf.constant(0, tf.uint8),
        batch.WIDTH: 0,
        batch.LABEL: batch.LABEL_PAD,
        batch.LABEL_LENGTH: 0,
    }
    if with_ids:
        padded_shapes[batch.ID], padding_values[batch.ID] = [], ""
    grouped = (
        records.batch(256)
        .map(parse, num_parallel_calls=AUTOTUNE)
        .flat_map(split_rows)
        .bucket_by_sequence_length(
            lambda row: row[batch.WIDTH],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=padded_shapes,
            padding_values=padding_values,
            pad_to_bucket_boundary=True,
            drop_remainder=training,
        )
    )

    def to_pairs(rows):
        labels = {key: rows.pop(key) for key in (batch.LABEL, batch.LABEL_LENGTH)}
        return rows, labels

    return (
        grouped.map(to_pairs).prefetch(AUTOTUNE).with_options(sharding_options(sharded_here=False))
    )
