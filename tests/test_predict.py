"""The batch prediction job: conservation, dead letters, agreement with the SavedModel, metrics,
both decoders, Parquet, multi-process runs, bfloat16 arithmetic, bad flags."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import threading

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from digitseq import cli
from digitseq.pipelines.predict import model_handler
from digitseq.pipelines.predict import records as scoring
from digitseq.recognizer.serving import calibration, decoding, metrics, precision
from digitseq.schemas import exported, prediction
from tests.predicting import BAD, UNLABELED_ID, read_test_split, rows_of, run_predict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEEDS_BFLOAT16 = pytest.mark.skipif(
    not precision.cpu_has_bfloat16(),
    reason="this CPU has no bfloat16 instructions, so --precision bfloat16 runs float32",
)


@pytest.fixture(scope="module")
def scored(trained_model, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    assert run_predict(trained_model, inputs, out, "--format", "jsonl,parquet") == 0
    return out


def test_every_record_lands_once_and_bad_ones_say_why(scored, variable_dataset):
    predictions, dead = rows_of(scored, "predictions"), rows_of(scored, "dead_letter")
    expected_ids = {r["id"] for r in read_test_split(variable_dataset)} | {UNLABELED_ID}
    assert sorted(r["id"] for r in predictions) == sorted(expected_ids)
    assert len(dead) == len(BAD)
    for row in dead:
        assert row["file"].endswith("bad.tfrecord")
        assert BAD[row["record"]] in row["error"], row
    places = [(r["file"], r["record"]) for r in predictions + dead]
    assert len(places) == len(set(places))
    unlabeled = next(r for r in predictions if r["id"] == UNLABELED_ID)
    assert "label" not in unlabeled and "edits" not in unlabeled


def test_predictions_equal_the_saved_model_called_directly(scored, trained_model, variable_dataset):
    serving = tf.saved_model.load(os.path.join(trained_model, "serving"))
    by_id = {r["id"]: r for r in rows_of(scored, "predictions")}
    for rec in read_test_split(variable_dataset):
        out = serving.signatures["serving_default"](
            images=tf.constant(rec["image"][None]),
            widths=tf.constant([rec["image"].shape[1]], tf.int32),
        )
        row = by_id[rec["id"]]
        assert row["prediction"] == decoding.to_strings(out["digits"], out["lengths"])[0]
        assert row["label"] == metrics.label_string(rec["label"])
        assert row["confidence"] == pytest.approx(float(out["confidence"][0]), rel=1e-4)


def test_metrics_json_equals_a_recomputation_from_the_predictions(scored):
    predictions = rows_of(scored, "predictions")
    with open(os.path.join(str(scored), prediction.METRICS)) as f:
        written = json.load(f)
    labeled = [r for r in predictions if "label" in r]
    counts = metrics.ErrorCounts()
    for row in labeled:
        counts.add(row["label"], row["prediction"])
    expected = counts.summary()
    added = {"risk_coverage", "risk_coverage_curve", "ece", "reliability"}
    assert {k: v for k, v in written.items() if k not in added} == {
        **json.loads(json.dumps(expected)),
        "scored": len(predictions),
        "reviewed": 0,
        "unlabeled": 1,
        "dead_letters": len(BAD),
    }
    assert added <= set(written)
    assert sum(r["edits"] for r in labeled) == round(written["cer"] * written["characters"])
    with open(os.path.join(str(scored), prediction.RUN)) as f:
        counters = json.load(f)["counters"]
    assert counters["scored"] == len(predictions) and counters["dead_lettered"] == len(BAD)
    assert counters["unlabeled"] == 1


def test_parquet_holds_the_same_rows(scored):
    import pyarrow.parquet as pq

    table = pq.read_table(glob.glob(os.path.join(str(scored), "predictions-*.parquet")))
    assert table.schema.equals(prediction.parquet_schema())
    as_json = sorted(
        (prediction.parquet_row(r) for r in rows_of(scored, "predictions")), key=lambda r: r["id"]
    )
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == as_json


def test_beam_search_decoder_runs_and_agrees_with_recognizer_decoding(
    trained_model, inputs, variable_dataset, tmp_path
):
    import keras

    assert (
        run_predict(trained_model, inputs, tmp_path, "--decoder", "beam", "--beam-width", "4") == 0
    )
    by_id = {r["id"]: r for r in rows_of(tmp_path, "predictions")}
    model = keras.models.load_model(os.path.join(trained_model, "model.keras"), safe_mode=True)
    for rec in read_test_split(variable_dataset)[:20]:
        out = model({"frames": rec["image"].T[None], "width": np.array([rec["image"].shape[1]])})
        digits, lengths, confidence = decoding.decode(
            out["logits"], out["lengths"], method=decoding.BEAM, beam_width=4
        )
        assert by_id[rec["id"]]["prediction"] == decoding.to_strings(digits, lengths)[0]
        calibrated = calibration.read(trained_model).beam.apply(confidence.numpy())
        assert by_id[rec["id"]]["confidence"] == pytest.approx(float(calibrated[0]), rel=1e-3)


@pytest.mark.slow
def test_two_worker_processes_give_the_same_outputs(scored, trained_model, inputs, tmp_path):
    assert (
        run_predict(
            trained_model,
            inputs,
            tmp_path,
            "--direct_num_workers=2",
            "--direct_running_mode=multi_processing",
        )
        == 0
    )
    for name in ("predictions", "dead_letter"):
        single = sorted(rows_of(scored, name), key=lambda r: (r["file"], r["record"]))
        multi = sorted(rows_of(tmp_path, name), key=lambda r: (r["file"], r["record"]))
        assert [{k: v for k, v in r.items() if k != "confidence"} for r in multi] == [
            {k: v for k, v in r.items() if k != "confidence"} for r in single
        ]
        np.testing.assert_allclose(
            [r.get("confidence", 0) for r in multi],
            [r.get("confidence", 0) for r in single],
            rtol=1e-4,
        )


class _FailsOnWideBatches(model_handler.SequenceModelHandler):
    def run_inference(self, batch, model, inference_args=None):
        if max(image.shape[1] for _, image in batch) > 100:
            raise RuntimeError("out of memory (simulated)")
        return super().run_inference(batch, model, inference_args)


def test_failing_batches_become_dead_letters(trained_model, variable_dataset):
    files = sorted(glob.glob(os.path.join(variable_dataset, "test", "*")))
    records = read_test_split(variable_dataset)
    wide = {r["id"] for r in records if r["image"].shape[1] > 100}

    def only_failed_batches(rows):
        assert wide <= {r["id"] for r in rows}
        assert all(
            "inference failed for its batch" in r["error"]
            and "out of memory (simulated)" in r["error"]
            for r in rows
        )

    handler = _FailsOnWideBatches(model_dir=trained_model, max_batch_size=8)
    with TestPipeline(runner="FnApiRunner") as p:
        outputs = p | beam.Create(files) | scoring.ScoreRecords(handler=handler, height=28)
        assert_that(outputs["dead_letters"], only_failed_batches, label="DeadLetters")
        ids = (
            (outputs["predictions"], outputs["dead_letters"])
            | beam.Flatten()
            | beam.Map(lambda r: r["id"])
        )
        assert_that(ids, equal_to([r["id"] for r in records]), label="EachOnce")


def test_a_truncated_file_yields_a_dead_letter_for_its_unreadable_rest(
    trained_model, variable_dataset, tmp_path
):
    source = sorted(glob.glob(os.path.join(variable_dataset, "test", "*")))[0]
    with open(source, "rb") as f:
        data = f.read()
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "cut.tfrecord.gz").write_bytes(data[: len(data) // 2])
    assert run_predict(trained_model, str(inputs), tmp_path / "out") == 0
    dead = rows_of(tmp_path / "out", "dead_letter")
    readable = len(rows_of(tmp_path / "out", "predictions"))
    assert len(dead) == 1 and dead[0]["record"] == readable
    assert "unreadable from record" in dead[0]["error"]


@NEEDS_BFLOAT16
def test_bfloat16_scores_the_same_strings_in_other_arithmetic(trained_model, inputs, tmp_path):
    # Raw confidences (the beam decoder, no calibration.json): this model's calibrated ones are
    # flat, the same whatever the arithmetic.
    raw = str(tmp_path / "model")
    shutil.copytree(trained_model, raw, ignore=shutil.ignore_patterns(exported.CALIBRATION))
    assert run_predict(raw, inputs, tmp_path / "float32", "--decoder", "beam") == 0
    # Its own process: the precision is a process-wide TensorFlow setting.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "digitseq",
            "predict",
            "--model",
            raw,
            "--input",
            os.path.join(inputs, "*"),
            "--out",
            str(tmp_path / "bfloat16"),
            "--decoder",
            "beam",
            "--precision",
            "bfloat16",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    float32 = {r["id"]: r for r in rows_of(tmp_path / "float32", "predictions")}
    rows = rows_of(tmp_path / "bfloat16", "predictions")
    assert sorted(r["id"] for r in rows) == sorted(float32)
    same = [r["prediction"] == float32[r["id"]]["prediction"] for r in rows]
    assert sum(same) >= 0.9 * len(rows)
    moved = [abs(r["confidence"] - float32[r["id"]]["confidence"]) for r in rows]
    assert 0 < max(moved) < 0.1, "bfloat16 was not used, or changed the scores too much"
    with open(os.path.join(str(tmp_path / "bfloat16"), prediction.RUN)) as f:
        assert json.load(f)["precision"] == "bfloat16"


@NEEDS_BFLOAT16
def test_every_thread_that_scores_runs_the_run_s_precision(trained_model):
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
    from tensorflow.python.eager import context

    def bfloat16_on() -> bool:  # what TensorFlow passes to this thread's function calls
        options = config_pb2.ConfigProto.FromString(
            context.context().function_call_options.config_proto_serialized
        )
        return (
            options.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16
            == rewriter_config_pb2.RewriterConfig.ON
        )

    cache, seen = model_handler.ModelCache(precision="bfloat16"), []
    called, go = threading.Event(), threading.Event()

    def worker():
        tf.function(lambda: tf.constant(1))()  # its call options are made now, in float32
        called.set()
        go.wait()
        cache.get(trained_model)
        seen.append(bfloat16_on())

    thread = threading.Thread(target=worker)
    try:
        thread.start()
        assert called.wait(timeout=60), "the worker thread did not call its function"
        cache.get(trained_model)
        seen.append(bfloat16_on())
        go.set()
        thread.join(timeout=60)
        assert seen == [True, True]
    finally:
        go.set()
        precision.use("float32")


def test_precision_falls_back_to_float32_on_a_cpu_without_bfloat16(tmp_path, caplog):
    without, with_ = tmp_path / "without", tmp_path / "with"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    with_.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16\n")
    assert precision.cpu_has_bfloat16(str(without)) is False
    assert precision.cpu_has_bfloat16(str(with_)) is True
    assert precision.cpu_has_bfloat16(str(tmp_path / "none")) is None
    try:
        assert precision.use("bfloat16", cpuinfo=str(with_)) == "bfloat16"
        assert tf.config.optimizer.get_experimental_options()[precision.OPTION] is True
        assert precision.use("bfloat16", cpuinfo=str(without)) == "float32"
        assert tf.config.optimizer.get_experimental_options()[precision.OPTION] is False
        assert "this CPU has none of avx512_bf16, amx_bf16" in caplog.text
    finally:
        precision.use("float32")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--decoder", "viterbi"], "argument --decoder: invalid choice: 'viterbi'"),
        (["--precision", "float16"], "argument --precision: invalid choice: 'float16'"),
        (["--beam-width", "0", "--decoder", "beam"], "--beam-width 0: expected at least 1"),
        (["--format", "csv"], "--format csv: expected one or more of jsonl, parquet"),
        (["--batch-size", "0"], "--batch-size 0: expected at least 1"),
    ],
)
def test_bad_flags_are_refused(trained_model, inputs, tmp_path, capsys, flags, message):
    assert run_predict(trained_model, inputs, tmp_path, *flags) == 2
    assert message in capsys.readouterr().err


def test_bad_model_input_or_output_is_refused(
    trained_model, inputs, variable_dataset, scored, tmp_path, capsys
):
    assert run_predict(variable_dataset, inputs, tmp_path) == 2
    assert (
        "no serving/saved_model.pb, expected an exported model directory" in capsys.readouterr().err
    )
    assert (
        cli.run(
            [
                "predict",
                "--model",
                trained_model,
                "--input",
                str(tmp_path / "none*"),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "matches no files" in capsys.readouterr().err
    assert run_predict(trained_model, inputs, scored) == 2
    assert "already holds prediction outputs" in capsys.readouterr().err
    assert os.path.exists(os.path.join(str(scored), prediction.METRICS))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("variables", "its SavedModel cannot be loaded"),
        ("signature", "its SavedModel has no signature 'serving_default' taking images and widths"),
    ],
)
def test_a_damaged_or_foreign_model_is_refused_before_the_job(
    trained_model, inputs, tmp_path, capsys, damage, message
):
    import shutil

    import tensorflow as tf

    model = tmp_path / "model"
    shutil.copytree(trained_model, model)
    if damage == "variables":
        data = next((model / "serving" / "variables").glob("variables.data-*"))
        data.write_bytes(data.read_bytes()[:100])
    else:
        module = tf.Module()
        module.f = tf.function(
            lambda x: {"y": x * 2}, input_signature=[tf.TensorSpec([None], tf.float32, name="x")]
        )
        shutil.rmtree(model / "serving")
        tf.saved_model.save(
            module, str(model / "serving"), signatures={"serving_default": module.f}
        )
    out = tmp_path / "out"
    assert run_predict(str(model), inputs, out) == 2
    err = capsys.readouterr().err.strip()
    assert f"--model {model}: {message}" in err and len(err.splitlines()) == 1, err
    assert not out.exists()
