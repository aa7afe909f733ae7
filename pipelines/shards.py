"""Writing planned shards as GZIP TFRecord files, one file per `ShardPlan`.

The writer receives a shard's records in the order its plan produced them and within one bundle
(the plan is the unit of work after a reshuffle; a fused stage never splits one input element's
outputs across bundles). Each file is written under a temporary name and renamed when its last
record is in, so a retried or crashed worker never leaves a half-written shard under a final name;
a bundle that ends with a shard still open fails loudly instead of writing a partial one.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import uuid

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.sequences import ShardPlan
from schemas import dataset


@dataclasses.dataclass(frozen=True)
class SerializedRecord:
    plan: ShardPlan
    width: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class ShardSummary:
    """What one written shard holds, for `metadata.json`."""

    plan: ShardPlan
    bytes: int
    widths: dict[int, int]


class _OpenShard:
    def __init__(self, out_dir: str, plan: ShardPlan):
        import tensorflow as tf

        self.final_path = os.path.join(out_dir, plan.path)
        self.temp_path = f"{self.final_path}.tmp-{uuid.uuid4().hex}"
        tf.io.gfile.makedirs(os.path.dirname(self.final_path))
        self.writer = tf.io.TFRecordWriter(
            self.temp_path, options=tf.io.TFRecordOptions(compression_type=dataset.COMPRESSION))
        self.written = 0
        self.widths = collections.Counter()


class WriteShardsFn(beam.DoFn):
    """Writes `SerializedRecord`s to their shard files; emits a `ShardSummary` per closed shard."""

    def __init__(self, *, out_dir: str):
        super().__init__()
        self._out_dir = out_dir
        self._records = Metrics.counter("digitseq.render", "records_written")
        self._shards = Metrics.counter("digitseq.render", "shards_written")
        self._bytes = Metrics.counter("digitseq.render", "bytes_written")

    def start_bundle(self):
        self._open: dict[ShardPlan, _OpenShard] = {}

    def process(self, record: SerializedRecord):
        import tensorflow as tf

        shard = self._open.get(record.plan)
        if shard is None:
            shard = self._open[record.plan] = _OpenShard(self._out_dir, record.plan)
        shard.writer.write(record.data)
        shard.written += 1
        shard.widths[record.width] += 1
        self._records.inc()
        if shard.written == record.plan.count:
            shard.writer.close()
            tf.io.gfile.rename(shard.temp_path, shard.final_path, overwrite=True)
            size = tf.io.gfile.stat(shard.final_path).length
            self._shards.inc()
            self._bytes.inc(size)
            del self._open[record.plan]
            yield ShardSummary(plan=record.plan, bytes=size, widths=dict(shard.widths))

    def finish_bundle(self):
        import tensorflow as tf

        if self._open:
            for shard in self._open.values():
                shard.writer.close()
                tf.io.gfile.remove(shard.temp_path)
            incomplete = ", ".join(f"{p.path} ({s.written} of {p.count} records)"
                                   for p, s in self._open.items())
            raise RuntimeError(f"bundle ended with shards still open: {incomplete}")


class WriteShards(beam.PTransform):
    """`SerializedRecord`s -> GZIP TFRecord shards under `out_dir`; outputs `ShardSummary`s."""

    def __init__(self, *, out_dir: str):
        super().__init__()
        if not out_dir:
            raise ValueError("out_dir must be a non-empty path")
        self._out_dir = out_dir

    def expand(self, records):
        return records | "WriteShardFiles" >> beam.ParDo(WriteShardsFn(out_dir=self._out_dir))
