"""Rendering and writing planned shards: one `ShardPlan` in, one GZIP TFRecord file out.

The plan is the unit of work (the job reshuffles plans before this step). `RenderShardFn.process`
draws a plan's sequences, renders, serializes and writes all of them inside that one call, as
TensorFlow Datasets' Beam writer writes a shard from one element; so nothing depends on how a
runner cuts bundles, and no state lives across calls. Records stream from rendering to the file,
so a worker holds one record at a time, not a shard.

Each file is written under a temporary name in `<out>/.tmp/` (`schemas.dataset.TEMP`) and renamed
to its final path once complete. A failed write removes its temporary file; a worker killed in the
middle leaves at most a temporary file there, which no pattern over a split directory matches and
which the job's last step removes. A plan carries its own seed, and the GZIP stream records no name
or time, so writing a plan again (a retried bundle) gives the same bytes under the same name.

For the train split the same call emits the shard's exact `RowMoments` (output `MOMENTS`), so the
statistics need no second pass over the images; they merge exactly, in any order.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import uuid
from typing import Iterable, Mapping

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from pipelines import mnist as mnist_lib
from pipelines import render_params, sequences
from pipelines.stats import RowMomentsFn
from schemas import dataset, record

SUMMARIES = "summaries"
MOMENTS = "moments"

_MNIST_HANDLE = shared.Shared()


@dataclasses.dataclass(frozen=True)
class ShardSummary:
    """What one written shard holds, for `metadata.json`."""

    plan: sequences.ShardPlan
    bytes: int
    widths: dict[int, int]


def temp_path(out_dir: str, path: str) -> str:
    """A fresh temporary name under `<out_dir>/.tmp` for the shard at `path` (relative)."""
    name = os.path.basename(path).removesuffix(dataset.SHARD_SUFFIX)
    return os.path.join(out_dir, dataset.TEMP, f"{name}-{uuid.uuid4().hex}.tmp")


def write_shard(records: Iterable[bytes], *, out_dir: str, path: str) -> int:
    """Writes `records` as the GZIP TFRecord file `<out_dir>/<path>`; returns its size in bytes.

    The records go to a temporary file first (`temp_path`), renamed to `path` (replacing any file
    there) once all are written; if anything fails, the temporary file is removed.
    """
    import tensorflow as tf

    final, temp = os.path.join(out_dir, path), temp_path(out_dir, path)
    tf.io.gfile.makedirs(os.path.dirname(temp))
    tf.io.gfile.makedirs(os.path.dirname(final))
    try:
        options = tf.io.TFRecordOptions(compression_type=dataset.COMPRESSION)
        with tf.io.TFRecordWriter(temp, options=options) as writer:
            for data in records:
                writer.write(data)
        tf.io.gfile.rename(temp, final, overwrite=True)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)
    return tf.io.gfile.stat(final).length


class _Loaded:
    """A weak-referenceable holder, as `shared.Shared` requires."""

    def __init__(self, value):
        self.value = value


class RenderShardFn(beam.DoFn):
    """`ShardPlan` -> its file under `out_dir`; emits a `ShardSummary` and, for the train split,
    the shard's `RowMoments` (output `MOMENTS`).

    Args:
      out_dir: the dataset directory.
      mnist_location: where workers load MNIST from (see `pipelines.mnist`); loaded once per
        worker process.
      params: how sequences look.
      seed: the global seed.
      pools: per split, positions of the digits it may use in the loaded MNIST split.
    """

    def __init__(self, *, out_dir: str, mnist_location: str,
                 params: render_params.RenderParams, seed: int,
                 pools: Mapping[str, np.ndarray]):
        super().__init__()
        if not out_dir:
            raise ValueError("out_dir must be a non-empty path")
        self._out_dir, self._location, self._params = out_dir, mnist_location, params
        self._seed, self._pools = seed, dict(pools)
        self._rendered = Metrics.counter("digitseq.render", "sequences_rendered")
        self._records = Metrics.counter("digitseq.render", "records_written")
        self._shards = Metrics.counter("digitseq.render", "shards_written")
        self._bytes = Metrics.counter("digitseq.render", "bytes_written")

    def setup(self):
        self._mnist = _MNIST_HANDLE.acquire(
            lambda: _Loaded(mnist_lib.load(self._location)), tag=self._location)

    def process(self, plan: sequences.ShardPlan):
        source = getattr(self._mnist.value, sequences.source_split(plan.split))
        widths = collections.Counter()
        stats = RowMomentsFn(height=mnist_lib.IMAGE_SIZE) if plan.split == "train" else None
        accumulator = stats.create_accumulator() if stats else None

        def serialized():
            for spec in sequences.make_specs(plan, self._params, seed=self._seed,
                                             pool=self._pools[plan.split]):
                rendered = sequences.render(spec, source)
                widths[rendered.image.shape[1]] += 1
                if stats:
                    stats.add_input(accumulator, rendered.image)
                yield record.to_example(
                    record_id=rendered.record_id, image=rendered.image, label=rendered.label,
                    source_index=rendered.source_index, digit_left=rendered.digit_left)

        size = write_shard(serialized(), out_dir=self._out_dir, path=plan.path)
        self._rendered.inc(plan.count)
        self._records.inc(plan.count)
        self._shards.inc()
        self._bytes.inc(size)
        yield ShardSummary(plan=plan, bytes=size, widths=dict(widths))
        if stats:
            yield beam.pvalue.TaggedOutput(MOMENTS, stats.extract_output(accumulator))


class RenderShards(beam.PTransform):
    """`ShardPlan`s -> their files; returns `{SUMMARIES: ShardSummary per shard, MOMENTS:
    RowMoments per train shard}`. Takes the `RenderShardFn` arguments."""

    def __init__(self, *, out_dir: str, mnist_location: str,
                 params: render_params.RenderParams, seed: int,
                 pools: Mapping[str, np.ndarray]):
        super().__init__()
        self._fn = RenderShardFn(out_dir=out_dir, mnist_location=mnist_location, params=params,
                                 seed=seed, pools=pools)

    def expand(self, plans):
        outputs = (plans
                   | "DistributeShards" >> beam.Reshuffle()
                   | "RenderAndWrite" >> beam.ParDo(self._fn).with_outputs(MOMENTS,
                                                                            main=SUMMARIES))
        return {SUMMARIES: outputs[SUMMARIES], MOMENTS: outputs[MOMENTS]}
