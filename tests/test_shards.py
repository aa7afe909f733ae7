"""The shard writer: complete shards are renamed into place; an incomplete one leaves nothing."""

from __future__ import annotations

import os

import pytest

from pipelines.sequences import ShardPlan
from pipelines.shards import SerializedRecord, WriteShardsFn

PLAN = ShardPlan(split="train", length=2, shard=0, num_shards=1, start=0, count=3, max_width=56)


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


def test_a_complete_shard_is_renamed_into_place(tmp_path):
    writer = WriteShardsFn(out_dir=str(tmp_path))
    writer.start_bundle()
    summaries = [s for i in range(3)
                 for s in writer.process(SerializedRecord(plan=PLAN, width=56, data=b"x%d" % i))]
    writer.finish_bundle()
    assert _files(tmp_path) == [PLAN.path]
    assert len(summaries) == 1 and summaries[0].widths == {56: 3}
    assert summaries[0].bytes == os.path.getsize(tmp_path / PLAN.path)


def test_a_bundle_ending_inside_a_shard_fails_and_leaves_no_file(tmp_path):
    writer = WriteShardsFn(out_dir=str(tmp_path))
    writer.start_bundle()
    for i in range(2):
        assert not list(writer.process(SerializedRecord(plan=PLAN, width=56, data=b"x%d" % i)))
    with pytest.raises(RuntimeError, match=r"train-w0056-00000-of-00001.tfrecord.gz \(2 of 3"):
        writer.finish_bundle()
    assert _files(tmp_path) == []
