"""The tf.data reader: a rendered split -> padded batches of column frames and labels.

`make_dataset(data_dir, split, batch_size)` yields `(features, labels)` as `schemas.batch`
describes them. Frames are zero-padded to the batch's width bucket boundary, never to the global
maximum. Pixels stay raw: standardization lives in the model, so serving takes raw pixels.

How it reads. Per width bucket (`recognizer.data.layout`) the reader streams the bucket's files (file
order shuffled when training), batches serialized records, and parses and decodes whole batches
(`recognizer.data.parsing`); the buckets' batches are then mixed: randomly, weighted by size, when
training; otherwise in a fixed order that spreads each bucket evenly over the epoch. Batch shapes
are therefore `[B, boundary, height]` for a handful of boundaries, so a `tf.function` traces once
per bucket. Files not laid out this way go through `recognizer.data.files`.

Checks. Missing `COMPLETED`, an unknown or empty split and files whose size differs from
`metadata.json` fail before reading. By default every record is read and checked once up front
(`recognizer.data.verification`) and then streamed lean; with `verify=False` the same checks run
in-graph on every batch and fail the iteration with a message naming the file and record.

Distribution. With an `InputContext` (from `strategy.distribute_datasets_from_function`) the batch
size is per replica, and each input pipeline takes its own files when every bucket has at least one
file per pipeline, else every n-th record; auto-sharding is then switched off explicitly (and set to
DATA without a context, for `experimental_distribute_dataset`).

Augmentation, when asked for and training, warps each batch in the graph (`recognizer.data.augment`).

Epochs. One pass over a split holds every record once (no partial batch is dropped, training or
not); `pass_batches` counts the batches of a pass from the per-bucket record counts, which is how
many steps a training epoch takes (`recognizer.train.trainer`), so an epoch covers every training
record once however the records spread over width buckets.

Several datasets (`make_training_mix`): each dataset's training batches repeat, and the batches
come from the datasets in a fixed, evenly spread order: per epoch one pass of the first dataset
and, of every other one, batches in proportion to its mixing weight (`epoch_batches`), so a few
hundred scans and the renders replayed beside them train together and every scan is seen once
per epoch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import tensorflow as tf

from digitseq.core.errors import ConfigError
from digitseq.recognizer.config import Augmentation, ReaderConfig
from digitseq.recognizer.data import parsing
from digitseq.recognizer.data.augment import warp_frames
from digitseq.recognizer.data.layout import SplitInfo, split_info
from digitseq.recognizer.data.records import AUTOTUNE, plain_records, record_names, tagged_records
from digitseq.recognizer.data.verification import verify_records
from digitseq.schemas import batch, dataset


def proportional_schedule(batches: Sequence[int]) -> list[int]:
    """A fixed order of indices, index `i` `batches[i]` times, each spread evenly over the order
    (the buckets of a pass, or the datasets of a training epoch)."""
    slots = sorted(((k + 0.5) / n, i) for i, n in enumerate(batches) for k in range(n))
    return [i for _, i in slots]


def sharding_options(sharded_here: bool) -> tf.data.Options:
    """Auto-sharding off where the reader shards itself, else by data."""
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.OFF if sharded_here else policy.DATA
    return options


def bucket_batch_sizes(
    info: SplitInfo, batch_size: int, *, constant_frames: bool
) -> dict[int, int]:
    """Batch size per bucket: `batch_size` everywhere, or scaled so frames per batch stay about
    `batch_size` x the split's mean width (smaller batches for wider buckets)."""
    if not constant_frames:
        return {b.boundary: batch_size for b in info.buckets}
    mean_width = sum(b.boundary * b.records for b in info.buckets) / info.records
    return {b.boundary: max(1, round(batch_size * mean_width / b.boundary)) for b in info.buckets}


def _local_records(bucket, pipeline: int, num_pipelines: int, by_files: bool) -> int:
    """Records of `bucket` that input pipeline `pipeline` reads: its files, or every n-th record."""
    if by_files:
        return sum(bucket.file_records[pipeline::num_pipelines])
    return len(range(pipeline, bucket.records, num_pipelines))


def _by_files(info: SplitInfo, num_pipelines: int) -> bool:
    """Whether each input pipeline takes its own files (every bucket has one file per pipeline)."""
    return all(len(b.files) >= num_pipelines for b in info.buckets)


def pass_batches(
    info: SplitInfo,
    batch_size: int,
    *,
    num_pipelines: int = 1,
    config: ReaderConfig = ReaderConfig(),
) -> int:
    """Batches in one pass over a split on the input pipeline that gets the most (every bucket's
    records in batches of its size, the last one partial): the steps of an epoch that sees every
    record once. `batch_size` is per pipeline, as `make_dataset` batches."""
    sizes = bucket_batch_sizes(info, batch_size, constant_frames=config.constant_frames)
    by_files = _by_files(info, num_pipelines)
    return max(
        1,
        max(
            sum(
                math.ceil(_local_records(b, i, num_pipelines, by_files) / sizes[b.boundary])
                for b in info.buckets
            )
            for i in range(num_pipelines)
        ),
    )


def epoch_batches(
    data_dirs: Sequence[str],
    weights: Sequence[float],
    batch_size: int,
    *,
    num_pipelines: int = 1,
    config: ReaderConfig = ReaderConfig(),
) -> list[int]:
    """Batches per epoch from each of `data_dirs` on an input pipeline: one pass of the first
    dataset's train split and, of every other one, its weight's share relative to the first's
    (at least one batch)."""
    first = pass_batches(
        split_info(data_dirs[0], "train"), batch_size, num_pipelines=num_pipelines, config=config
    )
    return [first] + [max(1, round(first * w / weights[0])) for w in weights[1:]]


def make_dataset(
    data_dir: str,
    split: str,
    batch_size: int,
    *,
    training: bool = False,
    input_context: tf.distribute.InputContext | None = None,
    seed: int | None = None,
    drop_remainder: bool = False,
    with_ids: bool = False,
    config: ReaderConfig = ReaderConfig(),
    verified: bool = False,
) -> tf.data.Dataset:
    """Batches of one split of a rendered dataset, bucketed by width (see the module docstring).

    Args:
      data_dir: a dataset directory written by `digitseq render`.
      split: `train`, `validation` or `test`.
      batch_size: the global batch size; per replica when `input_context` is given.
      training: shuffle files and records, mix buckets randomly.
      input_context: from `strategy.distribute_datasets_from_function`.
      seed: seed for file order, shuffling, bucket mixing and augmentation; with a seed the
        batches come in the same order in every run (None: nondeterministic, a little faster).
      drop_remainder: drop each bucket's last partial batch (default: off, so a pass holds every
        record once, as `pass_batches` counts); a bucket with fewer records than one batch keeps
        its partial batch, so none goes unseen.
      with_ids: add the records' `id` to the features.
      config: reading options (shuffling, batch sizes per bucket, checks, augmentation).
      verified: this process already read and checked the split (`config.verify`), so the
        up-front check is not repeated.
    """
    if batch_size < 1:
        raise ConfigError("batch_size", batch_size, "expected at least 1")
    info = split_info(data_dir, split)
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    if input_context:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    by_files = _by_files(info, num_pipelines)
    if config.verify and not verified:
        verify_records(
            info,
            [
                f
                for b in info.buckets
                for f in (b.files[pipeline_id::num_pipelines] if by_files else b.files)
            ],
            skip_corrupt=config.skip_corrupt,
        )
    deterministic = not training or seed is not None
    sizes = bucket_batch_sizes(info, batch_size, constant_frames=config.constant_frames)
    seed = None if seed is None else seed + pipeline_id
    per_bucket, batches = [], []
    for bucket in info.buckets:
        files = bucket.files[pipeline_id::num_pipelines] if by_files else bucket.files
        local_records = _local_records(bucket, pipeline_id, num_pipelines, by_files)
        size = sizes[bucket.boundary]
        records = _bucket_records(files, training=training, seed=seed, config=config, block=size)
        if not by_files and num_pipelines > 1:
            records = records.shard(num_pipelines, pipeline_id)
        if training:
            records = records.shuffle(
                config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True
            )
        records = records.batch(size, drop_remainder=drop_remainder and local_records >= size)
        parse = functools.partial(
            parsing.parse_batch,
            height=info.height,
            boundary=bucket.boundary,
            max_label=bucket.max_label,
            with_ids=with_ids,
        )
        if not config.verify:
            parse = functools.partial(_parse_named, parse=parse, files=files)
        per_bucket.append(
            records.map(parse, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
        )
        batches.append(max(1, math.ceil(local_records / size)))
    if len(per_bucket) == 1:
        mixed = per_bucket[0]
    elif training:
        mixed = tf.data.Dataset.sample_from_datasets(
            per_bucket,
            weights=[n / sum(batches) for n in batches],
            seed=seed,
            stop_on_empty_dataset=False,
            rerandomize_each_iteration=True,
        )
    else:
        # Every bucket's iterator stays live (and reads ahead); the order is fixed.
        schedule = tf.data.Dataset.from_tensor_slices(
            tf.constant(proportional_schedule(batches), tf.int64)
        )
        mixed = tf.data.Dataset.choose_from_datasets(
            per_bucket, schedule, stop_on_empty_dataset=False
        )
    if training and config.augment:
        mixed = _augmented(mixed, config.augmentation, seed)
    return mixed.prefetch(AUTOTUNE).with_options(
        sharding_options(sharded_here=input_context is not None)
    )


def _bucket_records(
    files: Sequence[str], *, training: bool, seed: int | None, config: ReaderConfig, block: int
) -> tf.data.Dataset:
    """Serialized records of one bucket: plain when verified up front, else tagged for naming."""
    if config.verify:
        return plain_records(
            files,
            training=training,
            seed=seed,
            compression=dataset.COMPRESSION,
            skip_corrupt=config.skip_corrupt,
        )
    return tagged_records(
        files,
        training=training,
        seed=seed,
        compression=dataset.COMPRESSION,
        skip_corrupt=config.skip_corrupt,
        block=block,
    )


def _parse_named(tags, serialized, *, parse, files: Sequence[str]):
    return parse(serialized, names=record_names(tags, files))


def _augmented(
    batches: tf.data.Dataset, augmentation: Augmentation, seed: int | None
) -> tf.data.Dataset:
    """Batches with every image warped; each batch's seed pair comes from one random stream."""
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def warp(pair, batch_seed):
        features, labels = pair
        warped = warp_frames(
            features[batch.FRAMES], features[batch.WIDTH], batch_seed, augmentation
        )
        return {**features, batch.FRAMES: warped}, labels

    return tf.data.Dataset.zip(batches, seeds).map(warp, num_parallel_calls=AUTOTUNE)


def make_training_mix(
    data_dirs: Sequence[str],
    weights: Sequence[float],
    batch_size: int,
    *,
    input_context: tf.distribute.InputContext | None = None,
    seed: int | None = None,
    config: ReaderConfig = ReaderConfig(),
    verified: bool = False,
    with_ids: bool = False,
) -> tf.data.Dataset:
    """Endless training batches of the train splits of `data_dirs`, each batch from one dataset:
    per epoch `epoch_batches` of each (`weights`: the caller validated them), evenly spread;
    `verified` and `with_ids` as in `make_dataset`."""
    parts = [
        make_dataset(
            data_dir,
            "train",
            batch_size,
            training=True,
            input_context=input_context,
            seed=None if seed is None else seed + 7919 * i,
            config=config,
            verified=verified,
            with_ids=with_ids,
        ).repeat()
        for i, data_dir in enumerate(data_dirs)
    ]
    if len(parts) == 1:
        return parts[0]
    counts = epoch_batches(
        data_dirs,
        weights,
        batch_size
        if input_context is None
        else input_context.get_per_replica_batch_size(batch_size),
        num_pipelines=input_context.num_input_pipelines if input_context else 1,
        config=config,
    )
    schedule = tf.data.Dataset.from_tensor_slices(
        tf.constant(proportional_schedule(counts), tf.int64)
    ).repeat()
    return tf.data.Dataset.choose_from_datasets(parts, schedule)
