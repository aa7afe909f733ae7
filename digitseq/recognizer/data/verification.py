"""Reading, parsing and checking every record of a rendered split once, before streaming it.

A rendered dataset does not change, so `recognizer.data.reader.make_dataset` verifies its files once, up
front and in parallel, and then streams them lean. Any problem is an `InvalidInputError` naming
the file and record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import tensorflow as tf

from digitseq.core.errors import InvalidInputError
from digitseq.recognizer.data import parsing
from digitseq.recognizer.data.layout import SplitInfo
from digitseq.recognizer.data.records import (
    AUTOTUNE,
    FILE_SHIFT,
    count_readable,
    record_names,
    tagged_records,
)
from digitseq.schemas import batch, dataset

logger = logging.getLogger(__name__)


def verify_records(
    info: SplitInfo,
    files: Sequence[str] | None = None,
    *,
    skip_corrupt: bool = False,
    compression: str = dataset.COMPRESSION,
) -> int:
    """Reads, parses and checks every record of `files` (default: the split's) once.

    Returns:
      The number of records skipped as unreadable (only with `skip_corrupt`, else 0).

    Raises:
      InvalidInputError: a file cannot be read to its end (corrupt or truncated), naming the file
        and the record where reading stops; or a record breaks the contract (missing feature,
        wrong type or size, label outside 0..9, width beyond its bucket), naming file and record.
    """
    wanted = set(files) if files is not None else None
    mine = [
        (path, count, bucket.boundary)
        for bucket in info.buckets
        for path, count in zip(bucket.files, bucket.file_records)
        if wanted is None or path in wanted
    ]
    skipped = 0
    if skip_corrupt:
        for path, listed, _ in mine:
            readable = count_readable(path, compression, ignore_errors=True)
            if readable < listed:
                logger.warning(
                    "%s: %d of %d records unreadable, skipped", path, listed - readable, listed
                )
                skipped += listed - readable
    paths = [path for path, _, _ in mine]
    boundaries = tf.constant([boundary for _, _, boundary in mine], tf.int32)

    def check(tags, serialized):
        features, _ = parsing.parse_batch(
            serialized,
            names=record_names(tags, paths),
            height=info.height,
            boundary=tf.gather(boundaries, tags // FILE_SHIFT),
            max_label=None,
            with_ids=False,
        )
        return tf.shape(features[batch.WIDTH])[0]

    checked = (
        tagged_records(
            paths,
            training=False,
            seed=None,
            compression=compression,
            skip_corrupt=skip_corrupt,
            block=1024,
        )
        .batch(1024)
        .map(check, num_parallel_calls=AUTOTUNE)
    )
    try:
        checked.reduce(tf.constant(0), lambda n, size: n + size)
    except tf.errors.InvalidArgumentError as err:
        raise InvalidInputError(
            f"{info.data_dir} split '{info.split}': {parsing.error_reason(err)}"
        ) from None
    except tf.errors.DataLossError:
        for path in paths:
            try:
                count_readable(path, compression)
            except tf.errors.OpError as err:
                count = count_readable(path, compression, ignore_errors=True)
                raise InvalidInputError(
                    f"{path}: unreadable after record {count} ({parsing.error_reason(err)}); the file is "
                    f"corrupt or truncated (skip_corrupt=True skips what cannot be read)"
                ) from None
        raise
    return skipped
