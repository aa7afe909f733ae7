"""The tf.data reader: rendered TFRecords -> padded batches of column frames and labels.

`make_dataset(data_dir, split, batch_size)` yields `(features, labels)`:

    features = {"frames": uint8 [B, T, height], "width": int32 [B]}   (+ "id": string [B] on request)
    labels   = {"label": int32 [B, L] padded with -1, "label_length": int32 [B]}

Frames are image columns (time-major), zero-padded to the batch's width bucket boundary, never to
the global maximum. Pixels stay raw: standardization lives in the model, so serving takes raw pixels.

How it reads. The render job writes each shard with one width bucket and lists it in
`metadata.json` with its `max_width`. Per bucket the reader interleaves the bucket's files
(parallel reads, file order shuffled when training), batches serialized records, and parses and
decodes whole batches (`parse_example`, one `decode_raw`, no per-record map, no `py_function`);
the buckets' batches are then mixed (randomly, weighted by size, when training; in width order
otherwise). Batch shapes are therefore `[B, boundary, height]` for a handful of boundaries, so a
`tf.function` traces once per bucket. Records that are not bucketed this way (a user's own v1 files,
`make_dataset_from_files`) go through `bucket_by_sequence_length` instead.

Checks. Missing `COMPLETED`, an unknown or empty split and files whose size differs from
`metadata.json` fail before reading. By default (`verify=True`) each file is read once up front so
that a corrupt or truncated file is reported by name and record number (with `skip_corrupt=True`
its readable records are kept and the number skipped is logged). Every batch is checked in-graph:
a record missing a feature or of the wrong type, an image whose size is not height x width, a width
beyond its bucket, a label outside 0..9: the error names the file and record.

Distribution. With an `InputContext` (from `strategy.distribute_datasets_from_function`) the batch
size is per replica, and each input pipeline takes its own files when every bucket has at least one
file per pipeline, else every n-th record; auto-sharding is then switched off explicitly (and set to
DATA without a context, for `experimental_distribute_dataset`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Mapping, Sequence

import tensorflow as tf

from pipelines import filesystems
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
    records: int


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
               files=tuple(e["path"] for e in entries), records=sum(e["records"] for e in entries))
        for width, entries in sorted(grouped.items()))
    return SplitInfo(data_dir=data_dir, split=split, height=int(metadata["height"]),
                     buckets=buckets)


def verify_files(files: Sequence[str], *, skip_corrupt: bool = False,
                 compression: str = dataset.COMPRESSION) -> dict[str, int]:
    """Reads every file once; returns readable records per file.

    Raises:
      InvalidInputError: a file cannot be read to its end (corrupt or truncated), naming the file
        and the record where reading stopped; with `skip_corrupt` it is logged instead.
    """
    readable = {}
    for path in files:
        records = tf.data.TFRecordDataset(path, compression_type=compression)
        count = int(records.ignore_errors().reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
        try:
            records.skip(count).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as err:
            message = err.message.split(" [Op:")[0].split("}}")[-1].strip()
            if not skip_corrupt:
                raise InvalidInputError(
                    f"{path}: unreadable after record {count} ({message}); the file is corrupt "
                    f"or truncated (skip_corrupt=True skips what cannot be read)") from None
            logging.warning("%s: skipping everything after record %d (%s)", path, count, message)
        readable[path] = count
    return readable


def _named_records(files: Sequence[str], *, training: bool, seed: int | None,
                   compression: str, skip_corrupt: bool) -> tf.data.Dataset:
    """`(name, serialized)` pairs from `files`, the name being `"<file> record <n>"`."""

    def read(path):
        records = tf.data.TFRecordDataset(path, compression_type=compression)
        if skip_corrupt:
            records = records.ignore_errors(log_warning=True)
        prefix = tf.data.Dataset.from_tensors(tf.strings.join([path, " record "])).repeat()
        return tf.data.Dataset.zip((prefix, records.enumerate()))

    paths = tf.data.Dataset.from_tensor_slices(list(files))
    if training:
        paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return paths.interleave(read, cycle_length=min(len(files), 8), block_length=16,
                            num_parallel_calls=AUTOTUNE, deterministic=not training)


def _assert(condition, message: str, names, bad, found):
    """Fails with `message`, the first offending record's name and what was found there."""
    index = tf.argmax(tf.cast(bad, tf.int32))
    return tf.debugging.Assert(condition, [message, names[index], "found", found[index]],
                               summarize=8)


def _parse_batch(names, serialized, *, height: int, boundary: int | None, max_label: int | None,
                 with_ids: bool):
    """Parses and checks a batch of records; returns `(features, labels)`.

    `boundary` pads frames to that width (None: to the batch's widest record); `max_label` pads
    labels to that length (None: to the batch's longest label).
    """
    parsed = tf.io.parse_example(serialized, record.tf_feature_spec(), example_names=names)
    widths = tf.cast(parsed[record.WIDTH], tf.int32)
    heights = tf.cast(parsed[record.HEIGHT], tf.int32)
    images = parsed[record.IMAGE]
    label = tf.cast(parsed[record.LABEL], tf.int32)
    label_length = label.row_lengths()
    sizes = tf.strings.length(images)
    label_ok = (label >= 0) & (label < record.NUM_CLASSES)
    checks = [
        _assert(tf.reduce_all(tf.equal(heights, height)),
                f"record height differs from the dataset's height {height}:", names,
                tf.not_equal(heights, height), heights),
        _assert(tf.reduce_all(tf.equal(sizes, height * widths)),
                "image size is not height x width (bytes found, then expected):", names,
                tf.not_equal(sizes, height * widths), tf.stack([sizes, height * widths], 1)),
        _assert(tf.reduce_all(label_ok.flat_values), "label outside 0..9:", names,
                tf.logical_not(tf.reduce_all(label_ok, axis=1)), label.to_tensor(LABEL_PAD)),
        _assert(tf.reduce_all(label_length > 0), "label is empty:", names, label_length <= 0,
                label_length),
    ]
    if boundary is not None:
        checks.append(_assert(tf.reduce_all(widths <= boundary),
                              f"width beyond its bucket's boundary {boundary}:", names,
                              widths > boundary, widths))
    with tf.control_dependencies(checks):
        pad_width = boundary if boundary is not None else tf.reduce_max(widths)
        frames = _columns(images, widths, height, pad_width)
    features = {FRAMES: frames, WIDTH: widths}
    if with_ids:
        features[ID] = parsed[record.ID]
    labels = {LABEL: label.to_tensor(LABEL_PAD, shape=[None, max_label]),
              LABEL_LENGTH: tf.cast(label_length, tf.int32)}
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
                 with_ids: bool = False) -> tf.data.Dataset:
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
      drop_remainder: drop each bucket's last partial batch (default: when training).
      skip_corrupt: skip unreadable records (logged) instead of failing.
      verify: read every file once up front so corrupt files are reported by name.
      with_ids: add the records' `id` to the features.
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
        mine = [f for b in info.buckets
                for f in (b.files[pipeline_id::num_pipelines] if by_files else b.files)]
        verify_files(mine, skip_corrupt=skip_corrupt)
    drop_remainder = training if drop_remainder is None else drop_remainder
    sizes = bucket_batch_sizes(info, batch_size, constant_frames=constant_frames)
    seed = None if seed is None else seed + pipeline_id
    per_bucket, weights = [], []
    for bucket in info.buckets:
        files = bucket.files[pipeline_id::num_pipelines] if by_files else bucket.files
        records = _named_records(files, training=training, seed=seed,
                                 compression=dataset.COMPRESSION, skip_corrupt=skip_corrupt)
        if not by_files and num_pipelines > 1:
            records = records.shard(num_pipelines, pipeline_id)
        if training:
            records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        size = sizes[bucket.boundary]
        batches = records.batch(size, drop_remainder=drop_remainder).map(
            lambda names, pair, boundary=bucket.boundary, max_label=bucket.max_label: _parse_batch(
                tf.strings.join([names, tf.strings.as_string(pair[0])]), pair[1],
                height=info.height, boundary=boundary, max_label=max_label, with_ids=with_ids),
            num_parallel_calls=AUTOTUNE, deterministic=not training)
        per_bucket.append(batches)
        weights.append(bucket.records / size)
    if len(per_bucket) == 1:
        mixed = per_bucket[0]
    elif training:
        total = sum(weights)
        mixed = tf.data.Dataset.sample_from_datasets(
            per_bucket, weights=[w / total for w in weights], seed=seed,
            stop_on_empty_dataset=False, rerandomize_each_iteration=True)
    else:
        mixed = per_bucket[0]
        for batches in per_bucket[1:]:
            mixed = mixed.concatenate(batches)
    return mixed.prefetch(AUTOTUNE).with_options(_options(sharded_here=input_context is not None))


def make_dataset_from_files(file_pattern: str | Sequence[str], batch_size: int, *,
                            bucket_widths: Sequence[int], height: int = 28,
                            compression: str | None = dataset.COMPRESSION,
                            training: bool = False, shuffle_buffer: int = 2048,
                            seed: int | None = None, with_ids: bool = False) -> tf.data.Dataset:
    """Batches of any v1-schema TFRecords, grouped with `bucket_by_sequence_length`.

    For files not written by the render job (not one width bucket per file). Records are parsed a
    batch at a time, then regrouped by width: each batch is padded to the smallest of
    `bucket_widths` that holds its records (a record wider than the largest fails, by name).
    """
    filesystems.ensure_filesystem(file_pattern if isinstance(file_pattern, str)
                                  else file_pattern[0])
    files = tf.io.gfile.glob(file_pattern) if isinstance(file_pattern, str) else list(
        file_pattern)
    if not files:
        raise InvalidInputError(f"{file_pattern}: no files match")
    if not bucket_widths or min(bucket_widths) < 1:
        raise InvalidInputError(f"bucket_widths {list(bucket_widths)}: expected positive widths")
    boundaries = [w + 1 for w in sorted(bucket_widths)]  # bucket_by_sequence_length: exclusive
    records = _named_records(files, training=training, seed=seed, compression=compression or "",
                             skip_corrupt=False)
    if training:
        records = records.shuffle(shuffle_buffer, seed=seed)

    def parse(names, pair):
        return _parse_batch(tf.strings.join([names, tf.strings.as_string(pair[0])]), pair[1],
                            height=height, boundary=boundaries[-1] - 1, max_label=None,
                            with_ids=with_ids)

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
