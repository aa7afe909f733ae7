"""The tf.data reader: rendered TFRecords -> padded batches of column frames and labels.

`make_dataset(data_dir, split, batch_size)` yields `(features, labels)`:

    features = {"frames": uint8 [B, T, height], "width": int32 [B]}   (+ "id": string [B] on request)
    labels   = {"label": int32 [B, L] padded with -1, "label_length": int32 [B]}

Frames are image columns (time-major), zero-padded to the batch's width bucket boundary, never to
the global maximum. Pixels stay raw: standardization lives in the model, so serving takes raw pixels.

How it reads. The render job writes each shard with one width bucket and lists it in
`metadata.json` with its `max_width`. Per bucket the reader interleaves the bucket's files
(two at a time, a batch's worth of records per turn; file order shuffled when training), batches
serialized records, and parses and decodes whole batches (`parse_example`, one `decode_raw`, no
per-record map, no `py_function`); the buckets' batches are then mixed: randomly, weighted by
size, when training; otherwise in a fixed order that spreads each bucket evenly over the epoch. Batch shapes are therefore `[B, boundary, height]` for a handful of boundaries, so a
`tf.function` traces once per bucket. Records that are not bucketed this way (a user's own v1 files,
`make_dataset_from_files`) go through `bucket_by_sequence_length` instead.

Checks. Missing `COMPLETED`, an unknown or empty split and files whose size differs from
`metadata.json` fail before reading. A rendered dataset does not change, so by default
(`verify=True`) `make_dataset` reads, parses and checks every record once, up front and in
parallel, and the batches it then streams are only parsed and decoded. Any problem is an
`InvalidInputError` naming the file and record: a file that cannot be read to its end (with
`skip_corrupt=True` its readable records are kept and the number skipped is logged), a record
missing a feature or of the wrong type, an image whose size is not height x width, a width beyond
its bucket, a label outside 0..9. With `verify=False` the same checks run in-graph on every batch
and fail the iteration with a message naming the file and record.

Distribution. With an `InputContext` (from `strategy.distribute_datasets_from_function`) the batch
size is per replica, and each input pipeline takes its own files when every bucket has at least one
file per pipeline, else every n-th record; auto-sharding is then switched off explicitly (and set to
DATA without a context, for `experimental_distribute_dataset`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
from typing import Sequence

import tensorflow as tf

from pipelines import filesystems, tfrecord_files
from recognizer.augment import Augmentation, warp_frames
from schemas import dataset, record
from schemas.errors import InvalidInputError

FRAMES = "frames"
WIDTH = "width"
ID = "id"
LABEL = "label"
LABEL_LENGTH = "label_length"
LABEL_PAD = -1

AUTOTUNE = tf.data.AUTOTUNE


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
    filesystems.ensure_filesystem(data_dir)
    metadata = dataset.load_metadata(data_dir)
    files = metadata.get("files", {})
    if split not in files:
        raise InvalidInputError(
            f"{data_dir}: no split '{split}', expected one of {', '.join(sorted(files))}")
    if not metadata["counts"].get(split):
        raise InvalidInputError(f"{data_dir}: split '{split}' is empty (0 records)")
    grouped: dict[int, list[dict]] = {}
    for entry in files[split]:
        path = os.path.join(data_dir, entry["path"])
        try:
            size = tf.io.gfile.stat(path).length
        except tf.errors.NotFoundError:
            raise InvalidInputError(
                f"{path}: listed in metadata.json but missing") from None
        if size != entry["bytes"]:
            raise InvalidInputError(
                f"{path}: {size} bytes, expected {entry['bytes']} (metadata.json); the file is "
                f"truncated or was replaced")
        grouped.setdefault(entry["max_width"], []).append({**entry, "path": path})
    buckets = tuple(
        Bucket(boundary=width, max_label=max(e["length"] for e in entries),
               files=tuple(e["path"] for e in entries),
               file_records=tuple(e["records"] for e in entries))
        for width, entries in sorted(grouped.items()))
    return SplitInfo(data_dir=data_dir, split=split, height=int(metadata["height"]),
                     buckets=buckets)


def _count_readable(path, compression: str, *, ignore_errors: bool = False) -> int:
    records = tf.data.TFRecordDataset(path, compression_type=compression)
    if ignore_errors:
        records = records.ignore_errors()
    return int(records.batch(4096).reduce(tf.constant(0, tf.int64),
                                          lambda n, batch: n + tf.size(batch, tf.int64)))


def _reason(err: tf.errors.OpError) -> str:
    """TensorFlow's error message without the function, iterator and op noise around it."""
    text = err.message.split("\n")[0]
    for start in ("Name: ", "assertion failed: "):
        if start in text:
            return text[text.index(start):].split(" [Op:")[0].strip()
    return text.split(" [Op:")[0].split("}}")[-1].strip()


def verify_records(info: SplitInfo, files: Sequence[str] | None = None, *,
                   skip_corrupt: bool = False, compression: str = dataset.COMPRESSION) -> int:
    """Reads, parses and checks every record of `files` (default: the split's) once.

    Returns:
      The number of records skipped as unreadable (only with `skip_corrupt`, else 0).

    Raises:
      InvalidInputError: a file cannot be read to its end (corrupt or truncated), naming the file
        and the record where reading stops; or a record breaks the contract (missing feature,
        wrong type or size, label outside 0..9, width beyond its bucket), naming file and record.
    """
    wanted = set(files) if files is not None else None
    mine = [(path, count, bucket.boundary) for bucket in info.buckets
            for path, count in zip(bucket.files, bucket.file_records)
            if wanted is None or path in wanted]
    skipped = 0
    if skip_corrupt:
        for path, listed, _ in mine:
            readable = _count_readable(path, compression, ignore_errors=True)
            if readable < listed:
                logging.warning("%s: %d of %d records unreadable, skipped", path,
                                listed - readable, listed)
                skipped += listed - readable
    paths = [path for path, _, _ in mine]
    boundaries = tf.constant([boundary for _, _, boundary in mine], tf.int32)

    def check(tags, serialized):
        features, _ = _parse_batch(serialized, names=_record_names(tags, paths),
                                   height=info.height,
                                   boundary=tf.gather(boundaries, tags // _FILE_SHIFT),
                                   max_label=None, with_ids=False)
        return tf.shape(features[WIDTH])[0]

    checked = _tagged_records(paths, training=False, seed=None, compression=compression,
                              skip_corrupt=skip_corrupt, block=1024).batch(1024).map(
        check, num_parallel_calls=AUTOTUNE)
    try:
        checked.reduce(tf.constant(0), lambda n, size: n + size)
    except tf.errors.InvalidArgumentError as err:
        raise InvalidInputError(f"{info.data_dir} split '{info.split}': {_reason(err)}") from None
    except tf.errors.DataLossError:
        for path in paths:
            try:
                _count_readable(path, compression)
            except tf.errors.OpError as err:
                count = _count_readable(path, compression, ignore_errors=True)
                raise InvalidInputError(
                    f"{path}: unreadable after record {count} ({_reason(err)}); the file is "
                    f"corrupt or truncated (skip_corrupt=True skips what cannot be read)") \
                    from None
        raise
    return skipped


_FILE_SHIFT = 1 << 32
"""A record's tag is `file_index * _FILE_SHIFT + record_number`: one integer per record, from
`enumerate`, turned into a `"<file> record <n>"` name only per batch."""


def _tagged_records(files: Sequence[str], *, training: bool, seed: int | None,
                    compression: str, skip_corrupt: bool, block: int) -> tf.data.Dataset:
    """`(tag, serialized)` pairs from `files`, read two files at a time, `block` records a turn."""

    def read(path, index):
        records = tf.data.TFRecordDataset(path, compression_type=compression)
        if skip_corrupt:
            records = records.ignore_errors(log_warning=True)
        return records.enumerate(start=index * _FILE_SHIFT)

    paths = tf.data.Dataset.from_tensor_slices((list(files), tf.range(len(files),
                                                                      dtype=tf.int64)))
    if training:
        paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return paths.interleave(read, cycle_length=min(len(files), 2), block_length=block,
                            num_parallel_calls=AUTOTUNE, deterministic=not training)


def _plain_records(files: Sequence[str], *, training: bool, seed: int | None, compression: str,
                   skip_corrupt: bool) -> tf.data.Dataset:
    """Serialized records of verified files: one reader, file order shuffled when training."""
    paths = tf.data.Dataset.from_tensor_slices(list(files))
    if training:
        paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = tf.data.TFRecordDataset(paths, compression_type=compression)
    return records.ignore_errors(log_warning=True) if skip_corrupt else records


def _record_names(tags, files: Sequence[str]):
    prefixes = tf.constant([f"{path} record " for path in files])
    return tf.strings.join([tf.gather(prefixes, tags // _FILE_SHIFT),
                            tf.strings.as_string(tags % _FILE_SHIFT)])


def _proportional_schedule(batches: Sequence[int]) -> list[int]:
    """A fixed order of bucket indices, each bucket spread evenly over the epoch."""
    slots = sorted(((k + 0.5) / n, i) for i, n in enumerate(batches) for k in range(n))
    return [i for _, i in slots]


def _first_bad(names, bad, found):
    index = tf.argmax(tf.cast(bad, tf.int32))
    return [names[index], "found", tf.gather(found, index)]


def _check_records(names, *, heights, widths, sizes, label, height: int,
                   boundary: int | tf.Tensor | None):
    """One cheap test per batch; only a failing batch builds the message naming the record."""
    label_ok = tf.reduce_all((label >= 0) & (label < record.NUM_CLASSES), axis=1)
    checks = [  # (bad records, message, what was found there)
        (tf.not_equal(heights, height), f"record height differs from the dataset's {height}:",
         heights),
        (tf.not_equal(sizes, height * widths),
         "image size is not height x width (bytes found, then expected):",
         tf.stack([sizes, height * widths], axis=1)),
        (tf.logical_not(label_ok), "label outside 0..9:", label.to_tensor(LABEL_PAD)),
        (tf.equal(label.row_lengths(), 0), "label is empty:", label.row_lengths()),
    ]
    if boundary is not None:
        checks.append((widths > boundary, "width beyond its bucket's boundary (found, then "
                       "boundary):", tf.stack([widths, tf.broadcast_to(boundary, tf.shape(widths))],
                                              axis=1)))

    def report():
        asserts = [tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)),
                                       [message, *_first_bad(names, bad, found)], summarize=8)
                   for bad, message, found in checks]
        with tf.control_dependencies(asserts):
            return tf.constant(False)

    any_bad = tf.reduce_any(tf.stack([tf.reduce_any(bad) for bad, _, _ in checks]))
    return tf.cond(any_bad, report, lambda: tf.constant(True))


def _parse_batch(serialized, *, names=None, height: int, boundary: int | tf.Tensor | None,
                 max_label: int | None, with_ids: bool):
    """Parses a batch of records; returns `(features, labels)`.

    With `names` (one per record) the batch is also checked against the contract and errors name
    the record; without, the records are trusted (already verified). An int `boundary` pads frames
    to that width; otherwise (None, or a per-record tensor that is only checked) frames are padded
    to the batch's widest record. `max_label` pads labels to that length (None: to the batch's
    longest label).
    """
    parsed = tf.io.parse_example(serialized, record.tf_feature_spec(), example_names=names)
    widths = tf.cast(parsed[record.WIDTH], tf.int32)
    images = parsed[record.IMAGE]
    label = tf.cast(parsed[record.LABEL], tf.int32)
    checks = [] if names is None else [_check_records(
        names, heights=tf.cast(parsed[record.HEIGHT], tf.int32), widths=widths,
        sizes=tf.strings.length(images), label=label, height=height, boundary=boundary)]
    with tf.control_dependencies(checks):
        pad_width = boundary if isinstance(boundary, int) else tf.reduce_max(widths)
        frames = _columns(images, widths, height, pad_width)
    features = {FRAMES: frames, WIDTH: widths}
    if with_ids:
        features[ID] = parsed[record.ID]
    labels = {LABEL: label.to_tensor(LABEL_PAD, shape=[None, max_label]),
              LABEL_LENGTH: tf.cast(label.row_lengths(), tf.int32)}
    return features, labels


def _columns(images, widths, height: int, pad_width):
    """Row-major images (bytes) -> time-major frames `uint8 [B, pad_width, height]`, zero-padded."""
    flat = tf.io.decode_raw(images, tf.uint8, fixed_length=height * pad_width)

    def all_full():
        return tf.transpose(tf.reshape(flat, [-1, height, pad_width]), [0, 2, 1])

    def gather():
        t = tf.range(pad_width)[None, :, None]
        r = tf.range(height)[None, None, :]
        w = widths[:, None, None]
        values = tf.gather(flat, r * w + tf.minimum(t, w - 1), batch_dims=1)
        return tf.where(t < w, values, tf.zeros_like(values))

    return tf.cond(tf.reduce_all(tf.equal(widths, pad_width)), all_full, gather)


def _options(sharded_here: bool) -> tf.data.Options:
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.OFF if sharded_here else policy.DATA
    return options


def bucket_batch_sizes(info: SplitInfo, batch_size: int, *,
                       constant_frames: bool) -> dict[int, int]:
    """Batch size per bucket: `batch_size` everywhere, or scaled so frames per batch stay about
    `batch_size` x the split's mean width (smaller batches for wider buckets)."""
    if not constant_frames:
        return {b.boundary: batch_size for b in info.buckets}
    mean_width = sum(b.boundary * b.records for b in info.buckets) / info.records
    return {b.boundary: max(1, round(batch_size * mean_width / b.boundary))
            for b in info.buckets}


def make_dataset(data_dir: str, split: str, batch_size: int, *, training: bool = False,
                 input_context: tf.distribute.InputContext | None = None,
                 shuffle_buffer: int = 2048, seed: int | None = None,
                 constant_frames: bool = False, drop_remainder: bool | None = None,
                 skip_corrupt: bool = False, verify: bool = True,
                 with_ids: bool = False,
                 augmentation: Augmentation | None = None) -> tf.data.Dataset:
    """Batches of one split of a rendered dataset, bucketed by width (see the module docstring).

    Args:
      data_dir: a dataset directory written by `digitseq render`.
      split: `train`, `validation` or `test`.
      batch_size: the global batch size; per replica when `input_context` is given.
      training: shuffle files and records, mix buckets randomly, drop partial batches.
      input_context: from `strategy.distribute_datasets_from_function`.
      shuffle_buffer: records per bucket in the shuffle buffer when training.
      seed: seed for file order, shuffling and bucket mixing (None: nondeterministic).
      constant_frames: smaller batches for wider buckets (about constant frames per batch).
      drop_remainder: drop each bucket's last partial batch (default: when training); a bucket
        with fewer records than one batch keeps its partial batch, so none goes unseen.
      skip_corrupt: skip unreadable records (logged) instead of failing.
      verify: read and check every record once up front (see the module docstring); without it
        every batch is checked as it streams.
      with_ids: add the records' `id` to the features.
      augmentation: when training, warp every sequence's image at random (`recognizer.augment`),
        reproducibly from `seed`.
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size {batch_size}: expected at least 1")
    info = split_info(data_dir, split)
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    if input_context:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    by_files = all(len(b.files) >= num_pipelines for b in info.buckets)
    if verify:
        verify_records(info, [f for b in info.buckets for f in (
            b.files[pipeline_id::num_pipelines] if by_files else b.files)],
            skip_corrupt=skip_corrupt)
    drop_remainder = training if drop_remainder is None else drop_remainder
    sizes = bucket_batch_sizes(info, batch_size, constant_frames=constant_frames)
    seed = None if seed is None else seed + pipeline_id
    per_bucket, batches = [], []
    for bucket in info.buckets:
        files = bucket.files[pipeline_id::num_pipelines] if by_files else bucket.files
        size = sizes[bucket.boundary]
        local_records = (sum(bucket.file_records[pipeline_id::num_pipelines]) if by_files
                         else bucket.records / num_pipelines)
        if verify:
            records = _plain_records(files, training=training, seed=seed,
                                        compression=dataset.COMPRESSION,
                                        skip_corrupt=skip_corrupt)
        else:
            records = _tagged_records(files, training=training, seed=seed,
                                         compression=dataset.COMPRESSION,
                                         skip_corrupt=skip_corrupt, block=size)
        if not by_files and num_pipelines > 1:
            records = records.shard(num_pipelines, pipeline_id)
        if training:
            records = records.shuffle(shuffle_buffer, seed=seed,
                                            reshuffle_each_iteration=True)
        records = records.batch(size, drop_remainder=drop_remainder and local_records >= size)
        parse = functools.partial(_parse_batch, height=info.height, boundary=bucket.boundary,
                                  max_label=bucket.max_label, with_ids=with_ids)
        if verify:
            parsed = records.map(parse, num_parallel_calls=AUTOTUNE,
                                    deterministic=not training)
        else:
            parsed = records.map(
                lambda tags, serialized, files=files, parse=parse: parse(
                    serialized, names=_record_names(tags, files)),
                num_parallel_calls=AUTOTUNE, deterministic=not training)
        per_bucket.append(parsed)
        batches.append(max(1, math.ceil(local_records / size)))
    if len(per_bucket) == 1:
        mixed = per_bucket[0]
    elif training:
        mixed = tf.data.Dataset.sample_from_datasets(
            per_bucket, weights=[n / sum(batches) for n in batches], seed=seed,
            stop_on_empty_dataset=False, rerandomize_each_iteration=True)
    else:
        # Every bucket's iterator stays live (and reads ahead); the order is fixed.
        schedule = tf.data.Dataset.from_tensor_slices(
            tf.constant(_proportional_schedule(batches), tf.int64))
        mixed = tf.data.Dataset.choose_from_datasets(per_bucket, schedule,
                                                     stop_on_empty_dataset=False)
    if training and augmentation is not None:
        mixed = _augmented(mixed, augmentation, seed)
    return mixed.prefetch(AUTOTUNE).with_options(_options(sharded_here=input_context is not None))


def _augmented(batches: tf.data.Dataset, augmentation: Augmentation,
               seed: int | None) -> tf.data.Dataset:
    """Batches with every image warped; each batch's seed pair comes from one random stream."""
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def warp(batch, batch_seed):
        features, labels = batch
        warped = warp_frames(features[FRAMES], features[WIDTH], batch_seed, augmentation)
        return {**features, FRAMES: warped}, labels

    return tf.data.Dataset.zip(batches, seeds).map(warp, num_parallel_calls=AUTOTUNE)


def make_dataset_from_files(file_pattern: str | Sequence[str], batch_size: int, *,
                            bucket_widths: Sequence[int], height: int = 28,
                            compression: str | None = dataset.COMPRESSION,
                            training: bool = False, shuffle_buffer: int = 2048,
                            seed: int | None = None, with_ids: bool = False) -> tf.data.Dataset:
    """Batches of any v1-schema TFRecords, grouped with `bucket_by_sequence_length`.

    For files not written by the render job (not one width bucket per file). Records are parsed a
    batch at a time, then regrouped by width: each batch is padded to the smallest of
    `bucket_widths` that holds its records (a record wider than the largest fails, by name).
    With GZIP compression every file's stream is checked to its end first (TensorFlow would
    stop quietly at a truncated one, and there is no metadata to compare sizes with).
    """
    filesystems.ensure_filesystem(file_pattern if isinstance(file_pattern, str)
                                  else file_pattern[0])
    files = tf.io.gfile.glob(file_pattern) if isinstance(file_pattern, str) else list(
        file_pattern)
    if not files:
        raise InvalidInputError(f"{file_pattern}: no files match")
    if not bucket_widths or min(bucket_widths) < 1:
        raise InvalidInputError(f"bucket_widths {list(bucket_widths)}: expected positive widths")
    if compression == "GZIP":
        for path in files:
            problem = tfrecord_files.gzip_problem(path)
            if problem:
                raise InvalidInputError(f"{path}: {problem}; the file is corrupt or truncated")
    boundaries = [w + 1 for w in sorted(bucket_widths)]  # bucket_by_sequence_length: exclusive
    records = _tagged_records(files, training=training, seed=seed, compression=compression or "",
                              skip_corrupt=False, block=batch_size)
    if training:
        records = records.shuffle(shuffle_buffer, seed=seed)

    def parse(tags, serialized):
        return _parse_batch(serialized, names=_record_names(tags, files), height=height,
                            boundary=boundaries[-1] - 1, max_label=None, with_ids=with_ids)

    def split_rows(features, labels):
        """Batch -> records, each cut back to its own width and label length."""
        rows = {FRAMES: tf.RaggedTensor.from_tensor(features[FRAMES], lengths=features[WIDTH]),
                WIDTH: features[WIDTH],
                LABEL: tf.RaggedTensor.from_tensor(labels[LABEL], lengths=labels[LABEL_LENGTH]),
                LABEL_LENGTH: labels[LABEL_LENGTH]}
        if with_ids:
            rows[ID] = features[ID]
        return tf.data.Dataset.from_tensor_slices(rows)

    def dense(row):
        out = {FRAMES: row[FRAMES], WIDTH: row[WIDTH], LABEL: row[LABEL],
               LABEL_LENGTH: row[LABEL_LENGTH]}
        if with_ids:
            out[ID] = row[ID]
        return out

    padded_shapes = {FRAMES: [None, height], WIDTH: [], LABEL: [None], LABEL_LENGTH: []}
    padding_values = {FRAMES: tf.constant(0, tf.uint8), WIDTH: 0, LABEL: LABEL_PAD,
                      LABEL_LENGTH: 0}
    if with_ids:
        padded_shapes[ID], padding_values[ID] = [], ""
    grouped = (records.batch(256).map(parse, num_parallel_calls=AUTOTUNE)
               .flat_map(split_rows).map(dense)
               .bucket_by_sequence_length(
                   lambda row: row[WIDTH], bucket_boundaries=boundaries,
                   bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
                   padded_shapes=padded_shapes, padding_values=padding_values,
                   pad_to_bucket_boundary=True, drop_remainder=training))

    def to_pairs(batch):
        features = {FRAMES: batch[FRAMES], WIDTH: batch[WIDTH]}
        if with_ids:
            features[ID] = batch[ID]
        return features, {LABEL: batch[LABEL], LABEL_LENGTH: batch[LABEL_LENGTH]}

    return grouped.map(to_pairs).prefetch(AUTOTUNE).with_options(_options(sharded_here=False))
