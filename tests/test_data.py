"""The tf.data reader on small rendered datasets: shapes, coverage, pixels, buckets, sharding,
distribution and every kind of bad input."""

from __future__ import annotations

import glob
import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from digitseq.core.errors import InvalidInputError
from digitseq.recognizer.config import ReaderConfig
from digitseq.recognizer.data import files as data_from_files
from digitseq.recognizer.data import layout, parsing
from digitseq.recognizer.data import reader as data
from digitseq.schemas import batch, dataset, record
from tests.conftest import render
from tests.records import read_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ids(ds):
    return [i.decode() for features, _ in ds for i in features[batch.ID].numpy()]


def test_shapes_and_dtypes(variable_dataset):
    boundaries = {b.boundary for b in layout.split_info(variable_dataset, "train").buckets}
    assert boundaries == {56, 84, 112, 140}
    for features, labels in data.make_dataset(variable_dataset, "train", 32):
        frames = features[batch.FRAMES]
        assert frames.dtype == tf.uint8 and frames.shape[2] == 28
        assert frames.shape[1] in boundaries
        assert features[batch.WIDTH].dtype == tf.int32
        assert (
            labels[batch.LABEL].dtype == tf.int32 and labels[batch.LABEL_LENGTH].dtype == tf.int32
        )
        assert labels[batch.LABEL].shape[0] == frames.shape[0] <= 32


@pytest.mark.parametrize("training", [False, True])
def test_every_record_exactly_once_per_epoch(variable_dataset, training):
    expected = sorted(r["id"] for r in read_split(variable_dataset, "train"))
    ds = data.make_dataset(
        variable_dataset,
        "train",
        16,
        training=training,
        seed=1,
        drop_remainder=False,
        with_ids=True,
    )
    for _ in range(2):
        assert sorted(_ids(ds)) == expected


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> str:
    """A few scans spread over many width buckets: 70 train strings of 1 to 8 digits."""
    out = tmp_path_factory.mktemp("scans")
    flags = ["--mode", "variable", "--min-length", "1", "--max-length", "8", "--train", "70"]
    assert render(out, *flags, "--validation", "0", "--test", "0", "--shards", "1") == 0
    return str(out)


def _epochs(ds, steps: int, epochs: int) -> list[list[str]]:
    batches = iter(ds)
    return [_ids([next(batches) for _ in range(steps)]) for _ in range(epochs)]


def test_a_training_epoch_of_pass_batches_sees_every_scan_once(scans):
    info = layout.split_info(scans, "train")
    assert len(info.buckets) >= 6
    steps = data.pass_batches(info, 64)
    assert steps == len(info.buckets)  # one partial batch per bucket
    mix = data.make_training_mix([scans], [1.0], 64, seed=3, with_ids=True)
    expected = sorted(r["id"] for r in read_split(scans, "train"))
    for seen in _epochs(mix, steps, 3):
        assert sorted(seen) == expected


def test_a_mixed_epoch_is_one_pass_of_the_first_dataset_and_a_share_of_the_others(
    scans, variable_dataset
):
    counts = data.epoch_batches([scans, variable_dataset], [1.0, 3.0], 16)
    first = data.pass_batches(layout.split_info(scans, "train"), 16)
    assert counts == [first, 3 * first]
    mix = data.make_training_mix([scans, variable_dataset], [1.0, 3.0], 16, seed=3, with_ids=True)
    order = data.proportional_schedule(counts)  # which dataset each batch of an epoch is from
    batches = iter(mix)
    expected = [sorted(r["id"] for r in read_split(d, "train")) for d in (scans, variable_dataset)]
    for _ in range(2):
        seen = [[], []]
        for source in order:
            seen[source] += _ids([next(batches)])
        assert sorted(seen[0]) == expected[0]  # every scan once
        assert seen[1] and set(seen[1]) <= set(expected[1])


def test_pass_batches_counts_the_pipeline_that_gets_the_most(scans):
    info = layout.split_info(scans, "train")
    counts = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline_id, num_replicas_in_sync=2
        )
        counts.append(len(list(data.make_dataset(scans, "train", 16, input_context=context))))
    assert data.pass_batches(info, 8, num_pipelines=2) == max(counts)


def test_frames_are_the_image_columns_and_labels_match(variable_dataset):
    originals = {r["id"]: r for r in read_split(variable_dataset, "validation")}
    seen = 0
    for features, labels in data.make_dataset(variable_dataset, "validation", 8, with_ids=True):
        for i, rid in enumerate(features[batch.ID].numpy()):
            original = originals[rid.decode()]
            width = original["image"].shape[1]
            frames = features[batch.FRAMES][i].numpy()
            assert features[batch.WIDTH][i] == width
            np.testing.assert_array_equal(frames[:width], original["image"].T)
            assert not frames[width:].any()
            length = int(labels[batch.LABEL_LENGTH][i])
            assert labels[batch.LABEL][i][:length].numpy().tolist() == original["label"]
            assert (labels[batch.LABEL][i][length:].numpy() == batch.LABEL_PAD).all()
            seen += 1
    assert seen == len(originals)


def test_padding_never_exceeds_the_bucket_boundary(tmp_path):
    out = tmp_path / "gaps"
    assert (
        render(
            out,
            "--mode",
            "variable",
            "--train",
            "200",
            "--validation",
            "0",
            "--test",
            "0",
            "--gap",
            "0,6",
            "--shards",
            "1",
        )
        == 0
    )
    info = layout.split_info(str(out), "train")
    boundary_of_length = {b.max_label: b.boundary for b in info.buckets}
    padded = real = 0
    for features, labels in data.make_dataset(str(out), "train", 16):
        widths = features[batch.WIDTH].numpy()
        length = int(labels[batch.LABEL_LENGTH][0])
        assert features[batch.FRAMES].shape[1] == boundary_of_length[length] >= widths.max()
        padded += features[batch.FRAMES].shape[0] * features[batch.FRAMES].shape[1]
        real += widths.sum()
    assert real / padded > 0.9


def test_constant_frames_gives_smaller_batches_for_wider_buckets(variable_dataset):
    sizes = {}
    for features, _ in data.make_dataset(
        variable_dataset, "train", 32, config=ReaderConfig(constant_frames=True)
    ):
        width = features[batch.FRAMES].shape[1]
        sizes[width] = max(sizes.get(width, 0), features[batch.FRAMES].shape[0])
    assert sizes[56] > sizes[84] > sizes[112] > sizes[140]


def test_at_most_two_traces_per_bucket(variable_dataset):
    traces = []

    @tf.function
    def step(features, labels):
        traces.append(features[batch.FRAMES].shape)
        return tf.reduce_sum(tf.cast(features[batch.FRAMES], tf.int32)) + tf.reduce_sum(
            labels[batch.LABEL]
        )

    for features, labels in data.make_dataset(variable_dataset, "train", 16, training=True, seed=3):
        step(features, labels)
    buckets = {
        entry["max_width"] for entry in dataset.load_metadata(variable_dataset)["files"]["train"]
    }
    # a bucket's full batches and its last, partial one
    assert len(buckets) > 1 and len(traces) <= 2 * len(buckets)
    assert len({shape[1] for shape in traces}) == len(buckets)


@pytest.mark.parametrize("shards, by", [(2, "files"), (1, "data")])
def test_two_input_pipelines_cover_the_split_disjointly(tmp_path, shards, by):
    out = tmp_path / "ds"
    assert (
        render(
            out,
            "--mode",
            "variable",
            "--train",
            "120",
            "--validation",
            "0",
            "--test",
            "0",
            "--shards",
            str(shards),
        )
        == 0
    )
    parts = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline_id, num_replicas_in_sync=2
        )
        ds = data.make_dataset(str(out), "train", 8, input_context=context, with_ids=True)
        assert (
            ds.options().experimental_distribute.auto_shard_policy
            == tf.data.experimental.AutoShardPolicy.OFF
        )
        batches = list(ds)
        assert max(f[batch.FRAMES].shape[0] for f, _ in batches) <= 4  # per replica: 8 / 2
        parts.append(set(_ids(batches)))
    everything = {r["id"] for r in read_split(str(out), "train")}
    assert parts[0].isdisjoint(parts[1]) and parts[0] | parts[1] == everything
    info = layout.split_info(str(out), "train")
    assert all(len(b.files) >= 2 for b in info.buckets) == (by == "files")


def test_mirrored_strategy_on_two_logical_devices(variable_dataset):
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {ROOT!r})
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from digitseq.recognizer.data import reader as data
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        dist = strategy.distribute_datasets_from_function(
            lambda ctx: data.make_dataset({variable_dataset!r}, "train", 16, input_context=ctx,
                                          with_ids=True))
        out = []
        for features, labels in dist:
            per_replica = strategy.experimental_local_results(features)
            out.append([[i.decode() for i in r["id"].numpy()] for r in per_replica])
        print(json.dumps({{"replicas": strategy.num_replicas_in_sync, "batches": out}}))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "auto_shard" not in result.stderr.lower()
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    ids = []
    for replicas in report["batches"]:
        assert len(replicas) == 2 and all(len(r) <= 8 for r in replicas)
        assert set(replicas[0]).isdisjoint(replicas[1])
        ids += replicas[0] + replicas[1]
    assert sorted(ids) == sorted(r["id"] for r in read_split(variable_dataset, "train"))


def test_truncated_gzip_files_of_users_are_named(variable_dataset, tmp_path):
    source = sorted(glob.glob(os.path.join(variable_dataset, "test", "*")))[0]
    cut = tmp_path / "cut.tfrecord.gz"
    with open(source, "rb") as f:
        data_bytes = f.read()
    cut.write_bytes(data_bytes[: len(data_bytes) // 2])
    with pytest.raises(InvalidInputError, match=f"{cut}: the GZIP stream ends early"):
        data_from_files.make_dataset_from_files(str(cut), 8, bucket_widths=[56])


def test_files_that_are_not_bucketed_fall_back_to_bucket_by_sequence_length(variable_dataset):
    files = sorted(
        os.path.join(variable_dataset, "test", f)
        for f in os.listdir(os.path.join(variable_dataset, "test"))
    )
    ds = data_from_files.make_dataset_from_files(
        files, 8, bucket_widths=[56, 84, 112, 140], with_ids=True
    )
    originals = {r["id"]: r for r in read_split(variable_dataset, "test")}
    seen = []
    for features, labels in ds:
        widths = features[batch.WIDTH].numpy()
        assert features[batch.FRAMES].shape[1] in (56, 84, 112, 140)
        assert widths.max() <= features[batch.FRAMES].shape[1]
        for i, rid in enumerate(features[batch.ID].numpy()):
            original = originals[rid.decode()]
            np.testing.assert_array_equal(
                features[batch.FRAMES][i][: widths[i]].numpy(), original["image"].T
            )
            length = int(labels[batch.LABEL_LENGTH][i])
            assert labels[batch.LABEL][i][:length].numpy().tolist() == original["label"]
            seen.append(rid.decode())
    assert sorted(seen) == sorted(originals)


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture()
def dataset_copy(variable_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(variable_dataset, copy)
    return copy


def _first_train_shard(directory):
    metadata = json.loads((directory / dataset.METADATA).read_text())
    return metadata, metadata["files"]["train"][0]


def _replace_shard(directory, records: list[bytes]):
    """Rewrites the first train shard with `records`, keeping metadata.json consistent."""
    metadata, entry = _first_train_shard(directory)
    path = directory / entry["path"]
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for serialized in records:
            writer.write(serialized)
    entry["bytes"], entry["records"] = path.stat().st_size, len(records)
    (directory / dataset.METADATA).write_text(json.dumps(metadata))
    return path


def _good_records(path, n=5):
    return [r.numpy() for r in tf.data.TFRecordDataset(str(path), "GZIP").take(n)]


def test_incomplete_directory_missing_and_empty_split(dataset_copy, tmp_path):
    with pytest.raises(
        InvalidInputError, match="no split 'dev', expected one of test, train, validation"
    ):
        data.make_dataset(str(dataset_copy), "dev", 8)
    (dataset_copy / dataset.COMPLETED).unlink()
    with pytest.raises(InvalidInputError, match=f"{dataset_copy}: no COMPLETED file"):
        data.make_dataset(str(dataset_copy), "train", 8)
    out = tmp_path / "noval"
    assert render(out, "--train", "10", "--validation", "0", "--test", "0") == 0
    with pytest.raises(InvalidInputError, match="split 'validation' is empty"):
        data.make_dataset(str(out), "validation", 8)
    with pytest.raises(InvalidInputError, match="batch_size 0"):
        data.make_dataset(str(out), "train", 0)


def test_truncated_file_is_named(dataset_copy):
    _, entry = _first_train_shard(dataset_copy)
    path = dataset_copy / entry["path"]
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(
        InvalidInputError,
        match=f"{path}: {entry['bytes'] - 40} bytes, expected "
        f"the {entry['bytes']} bytes metadata.json lists; "
        f"the file is truncated",
    ):
        data.make_dataset(str(dataset_copy), "train", 8)


def test_corrupt_gzip_is_named_or_skipped(dataset_copy, caplog):
    _, entry = _first_train_shard(dataset_copy)
    path = dataset_copy / entry["path"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(
        InvalidInputError,
        match=rf"{path}: unreadable after record \d+ "
        r"\(.*\); the file is corrupt",
    ):
        data.make_dataset(str(dataset_copy), "train", 8)
    with caplog.at_level(logging.WARNING):
        ds = data.make_dataset(
            str(dataset_copy), "train", 8, with_ids=True, config=ReaderConfig(skip_corrupt=True)
        )
    import re

    found = re.search(
        rf"{path}: (\d+) of {entry['records']} records unreadable, skipped", caplog.text
    )
    assert found, caplog.text
    ids = _ids(ds)
    assert len(set(ids)) == len(ids) == 300 - int(found.group(1))


@pytest.mark.parametrize(
    "change, message",
    [
        ("missing_image", "Feature: image .* is required but could not be found"),
        ("wrong_type", "Key: width, .*Data type: string but expected type: int64"),
        ("wrong_size", "image size is not height x width"),
        ("label_42", "label outside 0..9"),
    ],
)
@pytest.mark.parametrize("verify", [True, False])
def test_bad_records_are_named_with_file_and_record(dataset_copy, change, message, verify):
    from tensorflow.core.example import example_pb2

    _, entry = _first_train_shard(dataset_copy)
    records = _good_records(dataset_copy / entry["path"])
    bad = example_pb2.Example.FromString(records[2])
    feature = bad.features.feature
    if change == "missing_image":
        del feature[record.IMAGE]
    elif change == "wrong_type":
        feature[record.WIDTH].ClearField("int64_list")
        feature[record.WIDTH].bytes_list.value.append(b"56")
    elif change == "wrong_size":
        feature[record.IMAGE].bytes_list.value[0] = b"\x00" * 100
    else:
        feature[record.LABEL].int64_list.value[0] = 42
    records[2] = bad.SerializeToString()
    path = _replace_shard(dataset_copy, records)
    expected = InvalidInputError if verify else tf.errors.InvalidArgumentError
    with pytest.raises(expected, match=message) as info:
        for _ in data.make_dataset(
            str(dataset_copy), "train", 8, config=ReaderConfig(verify=verify)
        ):
            pass
    assert f"{path} record 2" in str(info.value)
    if verify:
        assert "\n" not in str(info.value) and "function_node" not in str(info.value)


def test_file_that_is_not_gzip_tfrecord(dataset_copy):
    _, entry = _first_train_shard(dataset_copy)
    path = dataset_copy / entry["path"]
    size = path.stat().st_size
    path.write_bytes(gzip.compress(b"\x00" * 10)[:10] + b"x" * (size - 10))
    with pytest.raises(InvalidInputError, match=f"{path}: unreadable after record 0"):
        data.make_dataset(str(dataset_copy), "train", 8)


@pytest.mark.parametrize("verify", [True, False])
def test_records_with_and_without_the_optional_digit_left_read_alike(dataset_copy, verify):
    from tensorflow.core.example import example_pb2

    _, entry = _first_train_shard(dataset_copy)
    records = [
        example_pb2.Example.FromString(r)
        for r in _good_records(dataset_copy / entry["path"], n=entry["records"])
    ]
    assert all(record.DIGIT_LEFT in r.features.feature for r in records)
    for example in records[::2]:
        del example.features.feature[record.DIGIT_LEFT]
    _replace_shard(dataset_copy, [r.SerializeToString() for r in records])
    ids = _ids(
        data.make_dataset(
            str(dataset_copy), "train", 8, with_ids=True, config=ReaderConfig(verify=verify)
        )
    )
    read_back = read_split(str(dataset_copy), "train")
    assert sorted(ids) == sorted(r["id"] for r in read_back)
    assert sum(not r["digit_left"] for r in read_back) == len(records[::2])


# Units of the reader.


def test_columns_transpose_and_pad_each_image_at_its_own_width():
    images = [np.arange(2 * 3, dtype=np.uint8).reshape(2, 3), np.full((2, 1), 7, np.uint8)]
    frames = parsing.columns(
        tf.constant([i.tobytes() for i in images]), tf.constant([3, 1]), 2, 4
    ).numpy()
    assert frames.shape == (2, 4, 2)
    np.testing.assert_array_equal(frames[0, :3], images[0].T)
    np.testing.assert_array_equal(frames[1, :1], images[1].T)
    assert not frames[0, 3:].any() and not frames[1, 1:].any()
    full = parsing.columns(tf.constant([images[0].tobytes()]), tf.constant([3]), 2, 3).numpy()
    np.testing.assert_array_equal(full[0], images[0].T)


def test_proportional_schedule_spreads_every_bucket_over_the_epoch():
    schedule = data.proportional_schedule([1, 4, 2])
    assert sorted(schedule) == [0, 1, 1, 1, 1, 2, 2]
    assert schedule[0] == 1 and schedule[3] == 0  # the single batch of bucket 0 in the middle
    positions = [i for i, b in enumerate(schedule) if b == 2]
    assert positions[0] < len(schedule) / 2 <= positions[1]


def test_bucket_batch_sizes_keep_frames_per_batch_about_constant():
    info = layout.SplitInfo(
        data_dir="d",
        split="train",
        height=28,
        buckets=(
            layout.Bucket(boundary=56, max_label=2, files=("a",), file_records=(100,)),
            layout.Bucket(boundary=140, max_label=5, files=("b",), file_records=(100,)),
        ),
    )
    assert data.bucket_batch_sizes(info, 64, constant_frames=False) == {56: 64, 140: 64}
    sizes = data.bucket_batch_sizes(info, 64, constant_frames=True)
    assert sizes == {56: round(64 * 98 / 56), 140: round(64 * 98 / 140)}
    assert data.bucket_batch_sizes(info, 1, constant_frames=True)[140] == 1
