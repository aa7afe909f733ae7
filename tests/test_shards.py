"""The shard writer: one plan, one call, one file renamed into place; a failed write leaves no
debris and writing again gives the same bytes; shard counts sized for scale."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from digitseq.pipelines import dataset_writer
from digitseq.pipelines.dataset_writer import WrittenShard
from digitseq.pipelines.render import mnist, planning
from digitseq.pipelines.render import params as render_params
from digitseq.pipelines.render.job import MOMENTS, RenderShardFn
from digitseq.pipelines.statistics import RowMoments
from digitseq.schemas import dataset
from tests.records import tf

PARAMS = render_params.RenderParams(mode="variable", min_length=2, max_length=3)


def _files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
    )


def _plan(sample_mnist, count=40):
    plans = planning.plan_shards(PARAMS, {"train": 2 * count}, seed=3, shards=1)
    pools = {
        split: planning.digit_pool(getattr(sample_mnist, planning.source_split(split)), split)
        for split in dataset.SPLITS
    }
    return plans[0], pools


def _fn(out_dir, pools):
    fn = RenderShardFn(
        out_dir=str(out_dir), mnist_location=mnist.SAMPLE, params=PARAMS, seed=3, pools=pools
    )
    fn.setup()
    return fn


def _images(path):
    from digitseq.schemas import record

    return [
        record.parse_record(data.numpy()).image
        for data in tf.data.TFRecordDataset(str(path), compression_type="GZIP")
    ]


def test_a_plan_is_rendered_and_written_in_one_call(tmp_path, sample_mnist):
    plan, pools = _plan(sample_mnist)
    outputs = list(_fn(tmp_path, pools).process(plan))  # no start_bundle / finish_bundle needed
    summary, moments = outputs[0], outputs[1]
    assert len(outputs) == 2 and isinstance(summary, WrittenShard)
    assert moments.tag == MOMENTS
    assert _files(tmp_path) == [plan.path]
    assert summary.bytes == os.path.getsize(tmp_path / plan.path)
    images = _images(tmp_path / plan.path)
    assert len(images) == plan.count == sum(summary.widths.values())
    expected = RowMoments.of_image(np.concatenate(images, axis=1))
    assert moments.value.count == expected.count
    np.testing.assert_array_equal(moments.value.sums, expected.sums)
    np.testing.assert_array_equal(moments.value.squares, expected.squares)


def test_other_splits_emit_no_moments(tmp_path, sample_mnist):
    plans = planning.plan_shards(PARAMS, {"train": 4, "test": 4}, seed=3, shards=1)
    _, pools = _plan(sample_mnist)
    test_plan = next(p for p in plans if p.split == "test")
    outputs = list(_fn(tmp_path, pools).process(test_plan))
    assert [type(o) for o in outputs] == [WrittenShard]


class _FailingOnce:
    """Stands in for `tf.io.TFRecordWriter`: the first writer fails at its third record."""

    real = None
    failures = 0

    def __init__(self, path, options=None):
        self._writer = _FailingOnce.real(path, options=options)
        self._fail = _FailingOnce.failures == 0
        self._written = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._writer.close()

    def write(self, data):
        if self._fail and self._written == 2:
            _FailingOnce.failures += 1
            raise OSError("disk full (test)")
        self._writer.write(data)
        self._written += 1


def test_a_write_that_fails_once_and_runs_again_leaves_no_debris(
    tmp_path, sample_mnist, monkeypatch
):
    plan, pools = _plan(sample_mnist)
    clean = tmp_path / "clean"
    list(_fn(clean, pools).process(plan))

    retried = tmp_path / "retried"
    fn = _fn(retried, pools)
    monkeypatch.setattr(_FailingOnce, "real", tf.io.TFRecordWriter)
    monkeypatch.setattr(tf.io, "TFRecordWriter", _FailingOnce)
    with pytest.raises(OSError, match="disk full"):
        list(fn.process(plan))
    assert _FailingOnce.failures == 1
    assert _files(retried) == []  # neither a final file nor a temporary one
    summary = list(fn.process(plan))[0]
    assert _files(retried) == [plan.path]
    assert (retried / plan.path).read_bytes() == (clean / plan.path).read_bytes()
    assert summary.bytes == os.path.getsize(clean / plan.path)


def test_writing_a_plan_again_replaces_its_file_with_the_same_bytes(tmp_path, sample_mnist):
    plan, pools = _plan(sample_mnist)
    fn = _fn(tmp_path, pools)
    list(fn.process(plan))
    first = (tmp_path / plan.path).read_bytes()
    list(fn.process(plan))
    assert _files(tmp_path) == [plan.path]
    assert (tmp_path / plan.path).read_bytes() == first


# Shards sized for scale.


@pytest.mark.parametrize(
    "params",
    [
        render_params.RenderParams(mode="variable"),
        render_params.RenderParams(length=20),
        render_params.preset_params("touching", mode="variable", min_length=1, max_length=8),
    ],
    ids=["variable", "fixed20", "touching"],
)
def test_a_hundred_million_sequences_plan_thousands_of_shards_under_the_limit(params):
    count = 100_000_000
    plans = planning.plan_shards(params, {"train": count}, seed=0)
    assert len(plans) >= 1000
    assert sum(p.count for p in plans) == count
    largest = max(
        p.count * dataset_writer.estimated_record_bytes(p.length, p.max_width) for p in plans
    )
    assert largest <= dataset_writer.MAX_SHARD_BYTES
    # Not needlessly many: every length's shards would overflow with one shard fewer.
    for length in params.lengths:
        mine = [p for p in plans if p.length == length]
        size = dataset_writer.estimated_record_bytes(length, mine[0].max_width)
        records = sum(p.count for p in mine)
        assert {p.num_shards for p in mine} == {len(mine)}
        assert math.ceil(records / (len(mine) - 1)) * size > dataset_writer.MAX_SHARD_BYTES


def test_small_counts_get_a_few_shards_and_explicit_shards_override():
    params = render_params.RenderParams(mode="variable")
    plans = planning.plan_shards(params, {"train": 10000, "validation": 3, "test": 0}, seed=0)
    per_length = {(p.split, p.length): p.num_shards for p in plans}
    assert {n for (split, _), n in per_length.items() if split == "train"} == {4}
    assert sum(n for (split, _), n in per_length.items() if split == "validation") == 3
    assert plans == planning.plan_shards(params, {"train": 10000, "validation": 3}, seed=0)
    explicit = planning.plan_shards(params, {"train": 100_000_000}, seed=0, shards=3)
    assert len(explicit) == 3 * len(params.lengths)


def test_the_size_estimate_covers_rendered_files(variable_dataset):
    metadata = dataset.load_metadata(variable_dataset)
    for split in dataset.SPLITS:
        for entry in metadata["files"][split]:
            estimate = dataset_writer.estimated_record_bytes(entry["length"], entry["max_width"])
            assert entry["bytes"] <= entry["records"] * estimate, entry
