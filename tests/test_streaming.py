"""The streaming prediction job (`pipelines.predict.streaming`) on the Python direct runner in
streaming mode, fed by one `TestStream` (files and model directories as tagged outputs, with
event timestamps and watermark advances), against a batch run over the same files."""

from __future__ import annotations

import glob
import json
import os
import shutil

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.io.filesystem import FileMetadata
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

from digitseq import cli
from digitseq.pipelines.predict import streaming
from digitseq.pipelines.predict.config import PredictConfig
from digitseq.pipelines.predict.writing import window_name
from digitseq.schemas import prediction, record

BASE = 1_700_000_000
"""Event times: seconds since the epoch, a multiple of the 10-second window."""
WINDOW, LATENESS = 10.0, 100.0


def _records(dataset: str) -> list[bytes]:
    paths = sorted(glob.glob(os.path.join(dataset, "test", "*")))
    return [r.numpy() for r in tf.data.TFRecordDataset(paths, compression_type="GZIP")]


@pytest.fixture(scope="module")
def inbox(variable_dataset, tmp_path_factory):
    """Six TFRecord files of the test split, a copy of one under another name, two PNG strings
    and one file that is not TFRecord."""
    out = tmp_path_factory.mktemp("inbox")
    serialized = _records(variable_dataset)
    files = {}
    for i, part in enumerate(np.array_split(np.arange(60), 6)):
        path = str(out / f"batch-{i}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for k in part:
                writer.write(serialized[k])
        files[f"f{i}"] = path
    for i, k in enumerate((60, 61)):
        parsed = record.parse_record(serialized[k], where="test", require_label=True)
        path = str(out / f"scan-{i}.png")
        tf.io.write_file(path, tf.io.encode_png(255 - parsed.image[..., None]))
        files[f"png{i}"] = path
    files["too_late"] = str(out / "too-late.tfrecord")
    shutil.copy(files["f0"], files["too_late"])
    files["garbage"] = str(out / "garbage.tfrecord")
    with open(files["garbage"], "wb") as f:
        f.write(b"this is not a TFRecord file" * 10)
    return files


def _arrival(path: str, at: float) -> TimestampedValue:
    stat = os.stat(path)
    return TimestampedValue(FileMetadata(path, stat.st_size, stat.st_mtime), BASE + at)


def _run(events: TestStream, config: PredictConfig, *, with_models: bool) -> None:
    options = PipelineOptions(runner="BundleBasedDirectRunner", streaming=True)
    with beam.Pipeline(options=options) as p:
        stream = p | events
        streaming.stream_outputs(
            stream["files"],
            config=config,
            height=28,
            model_dirs=stream["models"] if with_models else None,
        )


@pytest.fixture(scope="module")
def streamed(inbox, trained_model, tmp_path_factory):
    """Files in three windows: a duplicate, an unreadable file, a late file within the allowed
    lateness and one beyond it."""
    out = str(tmp_path_factory.mktemp("streamed") / "out")
    events = (
        TestStream()
        .add_elements([_arrival(inbox["f0"], 1), _arrival(inbox["f1"], 2)], tag="files")
        .advance_watermark_to(BASE + 10, tag="files")
        .add_elements([_arrival(inbox["f2"], 11), _arrival(inbox["f1"], 12)], tag="files")
        .add_elements([_arrival(inbox["f3"], 15), _arrival(inbox["png0"], 16)], tag="files")
        .advance_watermark_to(BASE + 20, tag="files")
        .add_elements(
            [
                _arrival(inbox["f4"], 21),
                _arrival(inbox["garbage"], 22),
                _arrival(inbox["png1"], 23),
            ],
            tag="files",
        )
        .advance_watermark_to(BASE + 30, tag="files")
        .add_elements([_arrival(inbox["f5"], 5)], tag="files")
        .advance_watermark_to(BASE + 200, tag="files")
        .add_elements([_arrival(inbox["too_late"], 6)], tag="files")
        .advance_watermark_to_infinity(tag="files")
    )
    _run(
        events,
        PredictConfig(
            model_dir=trained_model,
            watch="unused/*",
            out_dir=out,
            window=WINDOW,
            allowed_lateness=LATENESS,
        ),
        with_models=False,
    )
    return {"out": out, "model": trained_model}


@pytest.fixture(scope="module")
def updated(inbox, trained_model, tmp_path_factory):
    """Files in two windows, a model update between them and a model directory that cannot
    load. (On the direct runner a main input waits until its global-window side input is
    complete, so these windows fire at the end: the model is chosen by event time anyway.)"""
    root = tmp_path_factory.mktemp("updated")
    new_model = str(root / "model-v2")
    shutil.copytree(trained_model, new_model)
    broken = root / "model-broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    out = str(root / "out")
    events = (
        TestStream()
        .add_elements([_arrival(inbox["f0"], 1), _arrival(inbox["f1"], 11)], tag="files")
        .add_elements(
            [TimestampedValue(new_model, BASE + 13), TimestampedValue(str(broken), BASE + 14)],
            tag="models",
        )
        .add_elements([_arrival(inbox["f2"], 15), _arrival(inbox["png0"], 16)], tag="files")
        .advance_watermark_to(BASE + 20, tag="files")
        .advance_watermark_to(BASE + 20, tag="models")
        .add_elements([_arrival(inbox["f3"], 21)], tag="files")
        .advance_watermark_to_infinity(tag="files")
        .advance_watermark_to_infinity(tag="models")
    )
    _run(
        events,
        PredictConfig(
            model_dir=trained_model,
            watch="unused/*",
            out_dir=out,
            window=WINDOW,
            model_watch="unused/*",
        ),
        with_models=True,
    )
    return {"out": out, "model": trained_model, "updated": new_model}


def _window(start: float, pane: int = 0) -> str:
    from apache_beam.transforms.window import IntervalWindow

    return window_name(IntervalWindow(BASE + start, BASE + start + WINDOW), pane)


def _read(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def _rows(out: str, name: str) -> dict[str, list[dict]]:
    """`{window-pane: rows}` of the files `<out>/<name>-<window>-pane<P>.jsonl`."""
    found = {}
    for path in sorted(glob.glob(os.path.join(out, f"{name}-*.jsonl"))):
        found[os.path.basename(path)[len(name) + 1 : -len(".jsonl")]] = _read(path)
    return found


def test_three_windows_give_the_batch_rows_each_file_once(streamed, inbox, trained_model, tmp_path):
    rows = _rows(streamed["out"], prediction.PREDICTIONS)
    assert set(rows) == {_window(0), _window(0, 1), _window(10), _window(20)}
    by_file = {}
    for name, found in rows.items():
        for row in found:
            by_file.setdefault(row["file"], set()).add(name)
    assert by_file[inbox["f0"]] == by_file[inbox["f1"]] == {_window(0)}
    assert by_file[inbox["f2"]] == by_file[inbox["f3"]] == {_window(10)}
    assert by_file[inbox["f4"]] == {_window(20)}
    assert by_file[inbox["f5"]] == {_window(0, 1)}  # late, within the allowed lateness
    assert inbox["too_late"] not in by_file  # behind the window's end by more: dropped
    assert by_file[inbox["png0"]] == {_window(10)} and by_file[inbox["png1"]] == {_window(20)}

    batch = tmp_path / "batch"
    pattern = os.path.join(os.path.dirname(inbox["f0"]), "batch-*.tfrecord")
    assert (
        cli.run(["predict", "--model", trained_model, "--input", pattern, "--out", str(batch)]) == 0
    )
    streamed_rows = sorted(
        (
            {k: v for k, v in r.items() if k not in ("model", "confidence")}
            for found in rows.values()
            for r in found
            if not r["file"].endswith(".png")
        ),
        key=lambda r: (r["file"], r["record"]),
    )
    batch_rows = sorted(prediction.read_rows(str(batch)), key=lambda r: (r["file"], r["record"]))
    assert streamed_rows == [
        {k: v for k, v in r.items() if k not in ("model", "confidence")} for r in batch_rows
    ]
    assert len(streamed_rows) == 60  # f1's second arrival was not scored again


def test_an_unreadable_file_is_a_dead_letter_of_its_window(streamed, inbox):
    dead = _rows(streamed["out"], prediction.DEAD_LETTER)
    assert list(dead) == [_window(20)]
    assert [r["file"] for r in dead[_window(20)]] == [inbox["garbage"]]


def test_a_model_update_applies_to_files_that_land_after_it(updated, inbox):
    model_of = {}
    for found in _rows(updated["out"], prediction.PREDICTIONS).values():
        for row in found:
            model_of.setdefault(row["file"], set()).add(row["model"])
    assert set(model_of) == {inbox[name] for name in ("f0", "f1", "f2", "f3", "png0")}
    for name in ("f0", "f1"):  # landed before the update
        assert model_of[inbox[name]] == {updated["model"]}, name
    for name in ("f2", "f3", "png0"):  # landed after it; the broken one after was refused
        assert model_of[inbox[name]] == {updated["updated"]}, name
    assert not _rows(updated["out"], prediction.DEAD_LETTER)


def test_window_metrics_add_up_to_the_rows(streamed):
    out = streamed["out"]
    metrics = _rows(out, prediction.WINDOW_METRICS)
    assert set(metrics) == {_window(0), _window(0, 1), _window(10), _window(20)}
    rows = _rows(out, prediction.PREDICTIONS)
    for name, (document,) in metrics.items():
        assert document["scored"] == len(rows[name])
        labeled = [r for r in rows[name] if "label" in r]
        assert document["sequences"] == len(labeled)
        assert document["characters"] == sum(len(r["label"]) for r in labeled)
        assert document["cer"] * document["characters"] == pytest.approx(
            sum(r["edits"] for r in labeled)
        )
    assert metrics[_window(20)][0]["dead_letters"] == 1
    assert metrics[_window(10)][0]["unlabeled"] == 1  # the PNG has no labels file


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--watch", "in/*.png", "--input", "in/*.png"],
            "--watch in/*.png: expected one source of files: one of --input, --watch, --subscription",
        ),
        (
            ["--watch", "in/*", "--window", "0"],
            "--window 0.0: expected a positive number of seconds",
        ),
        (["--watch", "in/*", "--window", "-5"], "--window -5.0: expected a positive number"),
        (["--watch", "in/*", "--window", "nan"], "--window nan: expected a finite number"),
        (["--watch", "in/*", "--window", "inf"], "--window inf: expected a finite number"),
        (
            ["--subscription", "my-subscription"],
            "--subscription my-subscription: expected a Pub/Sub subscription path",
        ),
        (
            ["--input", "in/*", "--model-watch", "models/*"],
            "--model-watch models/*: expected a streaming run",
        ),
        (["--watch", "in/*"], "--watch in/*: needs a streaming runner, but FnApiRunner runs batch"),
        (
            ["--watch", "in/*", "--runner", "BundleBasedDirectRunner", "--streaming"],
            "--watch in/*: polls with fileio.MatchContinuously, which BundleBasedDirectRunner cannot",
        ),
        (["--watch", "in/*", "--format", "parquet"], "--format parquet: expected jsonl"),
    ],
)
def test_bad_streaming_flags_are_refused_before_the_job(
    flags, message, trained_model, tmp_path, capsys
):
    out = tmp_path / "out"
    assert cli.run(["predict", "--model", trained_model, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_notification_file_reads_cloud_storage_notifications():
    data = json.dumps({"size": "1234", "updated": "2026-12-02T01:00:00.5Z"}).encode()
    found = streaming.notification_file(
        data, {"bucketId": "b", "objectId": "in/x.png", "eventType": "OBJECT_FINALIZE"}
    )
    assert (found.path, found.size_in_bytes) == ("gs://b/in/x.png", 1234)
    assert found.last_updated_in_seconds == pytest.approx(1796173200.5)
    assert (
        streaming.notification_file(
            data, {"bucketId": "b", "objectId": "x", "eventType": "OBJECT_DELETE"}
        )
        is None
    )
    assert streaming.notification_file(b"gs://b/in/y.tfrecord\n", {}).path == "gs://b/in/y.tfrecord"
