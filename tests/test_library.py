"""The library API: `digitseq.Reader`, `digitseq read`, the RunInference handler and
`RecognizeDigits` in a Beam pipeline of one's own, and the examples."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import digitseq
from digitseq import cli
from digitseq.beam import DigitStringModelHandler, RecognizeDigits
from digitseq.core.errors import ConfigError, InvalidInputError
from tests.predicting import rows_of
from tests.scans import write_scans

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("library")
    write_scans(folder)
    return sorted(str(path) for path in (folder / "scans").glob("*.png"))


@pytest.fixture(scope="module")
def reader() -> digitseq.Reader:
    return digitseq.Reader(model="general")


def _read(reader, items, **kwargs) -> list[tuple[str, str, float]]:
    return [(r.source, r.digits, round(r.confidence, 5)) for r in reader.read(items, **kwargs)]


def test_reader_and_predict_agree_row_for_row(reader, scans, tmp_path):
    pattern = os.path.join(os.path.dirname(scans[0]), "*.png")
    out = tmp_path / "scored"
    assert cli.run(["predict", "--model", "general", "--input", pattern, "--out", str(out)]) == 0
    predicted = sorted(
        (row["file"], row["prediction"], round(row["confidence"], 5)) for row in rows_of(out)
    )
    assert sorted(_read(reader, scans)) == predicted
    assert len(predicted) == len(scans) == 12


def test_items_may_be_paths_bytes_or_arrays_in_any_order(reader, scans):
    import tensorflow as tf

    paths = _read(reader, scans[:3])
    data = [pathlib.Path(path).read_bytes() for path in scans[:3]]
    arrays = [tf.io.decode_png(d).numpy() for d in data]  # [h, w, 1]
    rgb = np.repeat(arrays[0], 3, axis=-1)
    mixed = reader.read(
        [arrays[2], data[1], pathlib.Path(scans[0]), rgb[..., :], arrays[0][..., 0]]
    )
    assert [r.digits for r in mixed] == [paths[2][1], paths[1][1], paths[0][1]] + [paths[0][1]] * 2
    assert [r.source for r in mixed] == ["item 0", "item 1", scans[0], "item 3", "item 4"]


def test_the_reader_batches_by_width_whatever_the_order(scans):
    one_at_a_time = digitseq.Reader(model="general", batch_size=1)
    batched = digitseq.Reader(model="general", batch_size=5)
    assert _read(one_at_a_time, scans[::-1]) == _read(batched, scans[::-1])


@pytest.mark.parametrize(
    "item, expected",
    [
        ("/no/such/file.png", "/no/such/file.png: no such file"),
        (b"not an image", "item 1: cannot decode"),
        (np.zeros((0, 7), np.uint8), r"item 1: empty image \(0 x 7\)"),
        (np.zeros((2, 3, 4, 5), np.uint8), r"item 1: an array of shape \[2, 3, 4, 5\]"),
        (np.full((28, 40), 255, np.uint8), "item 1: no ink"),
    ],
)
def test_a_bad_item_is_named_or_kept_without_losing_the_others(reader, scans, item, expected):
    with pytest.raises(InvalidInputError, match=expected):
        reader.read([scans[0], item])
    good, bad = reader.read([scans[0], item], errors="keep")
    assert good.error is None and good.digits == _read(reader, scans[:1])[0][1]
    assert bad.digits == "" and bad.confidence == 0.0
    assert pytest.approx(0) == bad.confidence and bad.error.split(":")[0] in expected


def test_one_item_instead_of_a_list_is_refused(reader, scans):
    with pytest.raises(TypeError, match="expected a sequence of items"):
        reader.read(scans[0])
    with pytest.raises(ConfigError, match="errors"):
        reader.read(scans, errors="ignore")


def test_reader_options_are_checked_once_in_the_config():
    with pytest.raises(ConfigError, match="pattern .*expected decoder beam"):
        digitseq.Reader(model="general", pattern="[0-9]{4}")
    with pytest.raises(ConfigError, match="batch_size 0: expected at least 1"):
        digitseq.ReadConfig(batch_size=0)
    with pytest.raises(ConfigError, match="model no-such-model: no builtin model"):
        digitseq.Reader(model="no-such-model")


def test_a_pattern_constrains_the_reading(scans):
    constrained = digitseq.Reader(model="general", decoder="beam", pattern="[0-9]{2}")
    for reading in constrained.read(scans):
        assert len(reading.digits) == 2 or not reading.matched


def test_run_inference_in_a_pipeline_agrees_with_the_reader(reader, scans):
    expected = [(digits, confidence) for _, digits, confidence in _read(reader, scans)]
    images = [pathlib.Path(path).read_bytes() for path in scans]
    with TestPipeline() as pipeline:
        found = (
            pipeline
            | beam.Create(images)
            | RunInference(DigitStringModelHandler("general"))
            | beam.Map(lambda r: (r.inference.digits, round(r.inference.confidence, 5)))
        )
        assert_that(found, equal_to(expected))


def test_keyed_model_handler_and_recognize_digits(reader, scans):
    expected = {source: digits for source, digits, _ in _read(reader, scans)}
    with TestPipeline() as pipeline:
        keyed = (
            pipeline
            | "Pairs" >> beam.Create([(path, pathlib.Path(path).read_bytes()) for path in scans])
            | RunInference(KeyedModelHandler(DigitStringModelHandler("general")))
            | "Digits" >> beam.Map(lambda kv: (kv[0], kv[1].inference.digits))
        )
        assert_that(keyed, equal_to(sorted(expected.items())), label="keyed")
        outputs = (
            pipeline | "Paths" >> beam.Create([*scans, "/no/such.png"]) | RecognizeDigits("general")
        )
        readings = outputs.readings | beam.Map(lambda row: (row["source"], row["digits"]))
        assert_that(readings, equal_to(sorted(expected.items())), label="readings")
        assert_that(
            outputs.dead_letters,
            equal_to([{"source": "/no/such.png", "error": "/no/such.png: no such file"}]),
            label="dead",
        )


def test_the_handler_follows_a_model_update(tmp_path):
    handler = DigitStringModelHandler("general")
    handler.update_model_path(str(tmp_path / "no-model"))
    with pytest.raises(ConfigError, match="no-model: no serving/saved_model.pb"):
        handler.load_model()


def test_digitseq_read_prints_a_line_per_file_and_one_error_line(reader, scans, tmp_path, capsys):
    missing = str(tmp_path / "missing.png")
    assert cli.run(["read", scans[0], missing, scans[1]]) == 2
    out, err = capsys.readouterr()
    lines = [line.split("\t") for line in out.splitlines()]
    expected = _read(reader, [scans[0], scans[1]])
    assert [(f, d) for f, d, _ in lines] == [(f, d) for f, d, _ in expected]
    assert err.strip() == f"digitseq read: error: {missing}: no such file"
    assert cli.run(["read", "--json", scans[0]]) == 0
    assert json.loads(capsys.readouterr().out)["digits"] == expected[0][1]


def test_digitseq_read_without_files_is_one_line(capsys):
    assert cli.run(["read"]) == 2
    assert capsys.readouterr().err.strip() == (
        "digitseq read: error: no FILE given; expected one or more image files"
    )


def _example(name: str, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_the_read_example_runs(scans, tmp_path):
    done = _example("read_images.py", scans[0], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == [scans[0], _read(digitseq.Reader(), scans[:1])[0][1]]


@pytest.mark.slow
def test_the_beam_example_writes_a_csv_row_per_image(reader, scans, tmp_path):
    out = tmp_path / "digits.csv"
    pattern = os.path.join(os.path.dirname(scans[0]), "*.png")
    done = _example("beam_pipeline.py", "--images", pattern, "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    header, *rows = out.read_text().splitlines()
    assert header == "file,digits,confidence,error"
    assert sorted(tuple(row.split(",")[:2]) for row in rows) == sorted(
        (source, digits) for source, digits, _ in _read(reader, scans)
    )


@pytest.mark.slow
def test_the_keras_example_trains_with_make_dataset(variable_dataset, tmp_path):
    done = _example(
        "keras_training.py", "--data", variable_dataset, "--epochs", "1", "--steps", "3",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loss" in done.stdout and done.stdout.count("label ") == 5
