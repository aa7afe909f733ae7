"""Actionable scores: calibrated confidence, the review queue, risk-coverage and ECE
in metrics.json, decoding constrained by a format, width batching; bad flags."""

from __future__ import annotations

import json
import math
import os
import re
import shutil

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that
from apache_beam.transforms.util import SortAndBatchElements

from digitseq.pipelines.predict import model_handler
from digitseq.recognizer.serving import calibration
from tests.predicting import BAD, read_test_split, rows_of, run_predict


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_platt_calibration_recovers_known_correctness_rates():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.01, 0.999, 40000)
    truth = _sigmoid(2.0 * np.log(raw / (1 - raw)) - 1.0)
    correct = rng.uniform(size=raw.size) < truth
    fitted = calibration.fit_platt(raw, correct)
    assert fitted.a == pytest.approx(2.0, abs=0.1) and fitted.b == pytest.approx(-1.0, abs=0.1)
    assert calibration.ece(raw, correct) > 0.05
    assert calibration.ece(fitted.apply(raw), correct) < 0.01
    np.testing.assert_allclose(
        fitted.apply_tf(raw.astype(np.float32)).numpy(), fitted.apply(raw), rtol=1e-4
    )


def test_confidence_counts_merge_exactly_in_any_order():
    rng = np.random.default_rng(1)
    rows = [
        (float(c), int(e), int(d), int(n))
        for c, e, d, n in zip(
            rng.uniform(size=300),
            rng.integers(0, 2, 300),
            rng.integers(0, 3, 300),
            rng.integers(2, 6, 300),
        )
    ]

    def counts(part):
        found = calibration.ConfidenceCounts()
        for c, e, d, n in part:
            found.add(c, errors=e, edits=d, characters=n)
        return found

    whole = counts(rows)
    parts = [counts(rows[i::3]) for i in range(3)]
    merged = parts[2].merge(parts[0]).merge(parts[1])
    assert merged.risk_coverage() == whole.risk_coverage()
    assert merged.ece() == whole.ece() and merged.reliability() == whole.reliability()


def _expected_risk_coverage(rows, coverage):
    """The documented definition, recomputed from the rows alone."""
    levels = sorted((round(r["confidence"] * 10**6) for r in rows), reverse=True)
    threshold = levels[max(1, math.ceil(coverage * len(rows) - 1e-9)) - 1]
    accepted = [r for r in rows if round(r["confidence"] * 10**6) >= threshold]
    return {
        "threshold": threshold / 10**6,
        "accepted": len(accepted),
        "ser": sum(r["label"] != r["prediction"] for r in accepted) / len(accepted),
        "cer": sum(r["edits"] for r in accepted) / sum(len(r["label"]) for r in accepted),
    }


@pytest.fixture(scope="module")
def reviewed(trained_model, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("reviewed")
    assert (
        run_predict(
            trained_model,
            inputs,
            out,
            "--review-below",
            "0.5",
            "--decoder",
            "beam",
            "--lengths",
            "2..5",
        )
        == 0
    )
    return out


def test_every_record_lands_once_in_predictions_review_or_dead_letters(reviewed, variable_dataset):
    predictions, review = rows_of(reviewed, "predictions"), rows_of(reviewed, "review")
    dead = rows_of(reviewed, "dead_letter")
    records = read_test_split(variable_dataset)
    assert len(predictions) + len(review) + len(dead) == len(records) + 1 + len(BAD)
    places = [(r["file"], r["record"]) for r in predictions + review + dead]
    assert len(places) == len(set(places))
    assert review and all(r["confidence"] >= 0.5 for r in predictions)
    for row in review:
        assert (
            "below the review threshold 0.5" in row["reason"]
            or "survived the beam" in row["reason"]
        ), row
    assert all(2 <= len(r["prediction"]) <= 5 for r in predictions)
    with open(os.path.join(str(reviewed), "run.json")) as f:
        run = json.load(f)
    assert run["calibrated"] is True and run["constraint"] == "[0-9]{2,5}"
    assert run["counters"]["reviewed"] == len(review)


def test_risk_coverage_and_ece_equal_a_recomputation_from_the_rows(reviewed):
    rows = [
        r for r in rows_of(reviewed, "predictions") + rows_of(reviewed, "review") if "label" in r
    ]
    with open(os.path.join(str(reviewed), "metrics.json")) as f:
        written = json.load(f)
    assert [entry["coverage"] for entry in written["risk_coverage"]] == [1.0, 0.99, 0.98, 0.95, 0.9]
    for entry in written["risk_coverage"]:
        expected = _expected_risk_coverage(rows, entry["coverage"])
        assert {k: entry[k] for k in expected} == pytest.approx(expected), entry
    bins = np.minimum((np.array([round(r["confidence"] * 10**6) for r in rows]) * 15) // 10**6, 14)
    ece = sum(
        abs(
            sum(r["label"] == r["prediction"] for r, b in zip(rows, bins) if b == k)
            - sum(round(r["confidence"] * 10**6) / 10**6 for r, b in zip(rows, bins) if b == k)
        )
        for k in range(15)
    ) / len(rows)
    assert written["ece"]["value"] == pytest.approx(ece) and written["ece"]["bins"] == 15
    assert written["reviewed"] == len(rows_of(reviewed, "review"))


def test_an_impossible_format_sends_every_record_to_review(
    trained_model, variable_dataset, tmp_path
):
    source = sorted(os.listdir(os.path.join(variable_dataset, "test")))[0]
    inputs_dir = tmp_path / "in"
    inputs_dir.mkdir()
    shutil.copy(os.path.join(variable_dataset, "test", source), inputs_dir)
    assert (
        run_predict(
            trained_model, str(inputs_dir), tmp_path / "out", "--decoder", "beam", "--length", "40"
        )
        == 0
    )
    review = rows_of(tmp_path / "out", "review")
    assert review and not rows_of(tmp_path / "out", "predictions")
    assert all(
        "no string matching the pattern [0-9]{40} survived the beam" in r["reason"]
        and r["prediction"] == ""
        and r["confidence"] == 0.0
        for r in review
    )


def test_a_model_without_calibration_serves_raw_confidence_marked_uncalibrated(
    trained_model, inputs, scored, tmp_path
):
    import keras

    from digitseq.recognizer.serving import export

    assert os.path.exists(os.path.join(trained_model, "calibration.json"))
    fitted = calibration.read(trained_model)
    old = tmp_path / "old"
    shutil.copytree(trained_model, old)
    model = keras.models.load_model(os.path.join(trained_model, "model.keras"), safe_mode=True)
    export.write_serving(model, str(old), height=28, calibration=None)
    assert not (old / "calibration.json").exists()
    assert run_predict(str(old), inputs, tmp_path / "out") == 0
    with open(tmp_path / "out" / "run.json") as f:
        assert json.load(f)["calibrated"] is False
    raw = {r["id"]: r["confidence"] for r in rows_of(tmp_path / "out", "predictions")}
    calibrated = {r["id"]: r["confidence"] for r in rows_of(scored, "predictions")}
    ids = sorted(raw)
    np.testing.assert_allclose(
        [calibrated[i] for i in ids],
        fitted.greedy.apply([raw[i] for i in ids]),
        rtol=1e-4,
        atol=1e-6,
    )


@pytest.fixture(scope="module")
def scored(trained_model, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored18")
    assert run_predict(trained_model, inputs, out, "--batch-size", "16") == 0
    return out


def test_padding_efficiency_is_reported_and_width_batching_pads_little(scored, variable_dataset):
    with open(os.path.join(str(scored), "run.json")) as f:
        run = json.load(f)
    counters = run["counters"]
    assert run["batching"]["mode"] == "width" and counters["batches"] >= 81 / 16
    assert run["batching"]["padding_efficiency"] == pytest.approx(
        counters["real_columns"] / counters["padded_columns"]
    )
    widths = sorted(r["image"].shape[1] for r in read_test_split(variable_dataset))
    assert counters["real_columns"] == sum(widths) + 56  # the unlabeled record is 56 wide
    assert 0.9 <= run["batching"]["padding_efficiency"] <= 1.0


def test_width_batching_covers_every_element_once_within_its_limits():
    rng = np.random.default_rng(2)
    widths = rng.integers(20, 300, 500)
    handler = model_handler.SequenceModelHandler(
        model_dir="unused", max_batch_size=16, max_batch_columns=1000
    )
    kwargs = handler.sort_and_batch_kwargs()

    def check(batches):
        for batch in batches:
            assert len(batch) <= 16
            assert len(batch) == 1 or sum(image.shape[1] for _, image in batch) <= 1000
        keys = sorted(key for batch in batches for key, _ in batch)
        assert keys == list(range(len(widths)))

    with TestPipeline(runner="FnApiRunner") as p:
        batches = (
            p
            | beam.Create([(i, np.zeros((2, int(w)), np.uint8)) for i, w in enumerate(widths)])
            | SortAndBatchElements(**kwargs)
        )
        assert_that(batches | beam.combiners.ToList(), lambda found: check(found[0]))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--review-below", "1.5"], "--review-below 1.5: expected a confidence in 0..1"),
        (["--review-below", "-0.1"], "--review-below -0.1: expected a confidence in 0..1"),
        (["--review-below", "nan"], "--review-below nan: expected a finite number"),
        (["--review-below", "inf"], "--review-below inf: expected a finite number"),
        (
            ["--decoder", "beam", "--pattern", "(12"],
            "--pattern (12: expected a regular expression "
            "over digits: not a valid regular expression",
        ),
        (["--decoder", "beam", "--pattern", "[a-z]{5}"], "can match a non-digit"),
        (["--decoder", "beam", "--pattern", "[0-9]{0}"], "matches no digit string"),
        (["--decoder", "beam", "--length", "0"], "--length 0: expected at least 1 digit"),
        (["--decoder", "beam", "--lengths", "5..2"], "--lengths 5..2: expected MIN at most MAX"),
        (["--decoder", "beam", "--lengths", "2-5"], "--lengths 2-5: expected MIN..MAX digits"),
        (
            ["--decoder", "beam", "--length", "3", "--pattern", "1[0-9]{4}"],
            "--pattern 1[0-9]{4}: expected a format some digit string has",
        ),
        (["--length", "5"], "--length 5: expected --decoder beam: constrained decoding is a beam"),
        (["--batch-columns", "0"], "--batch-columns 0: expected at least 1"),
    ],
)
def test_bad_flags_are_refused_with_one_line(tmp_path, capsys, flags, message):
    assert run_predict(str(tmp_path / "model"), str(tmp_path), tmp_path / "out", *flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert re.match(r"digitseq predict: error: --[a-z-]+ \S+: expected ", err), err


def test_report_draws_the_risk_coverage_curve_and_reliability_diagram(reviewed, capsys):
    from digitseq import cli

    assert cli.run(["report", str(reviewed)]) == 0
    picture = os.path.join(str(reviewed), "report-confidence.png")
    assert f"wrote {picture}" in capsys.readouterr().out
    with open(picture, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_calibrate_command_rewrites_the_serving_confidence(
    trained_model, variable_dataset, tmp_path, capsys
):
    import tensorflow as tf

    from digitseq import cli
    from tests.records import read_split

    model = tmp_path / "model"
    shutil.copytree(trained_model, model)
    os.remove(model / "calibration.json")
    assert cli.run(["calibrate", "--model", str(model), "--data", variable_dataset]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "platt-logit"
    fitted = calibration.read(str(model))
    assert fitted.fitted["split"] == "validation" and fitted.fitted["sequences"] == 60
    rec = read_split(variable_dataset, "test")[0]
    inputs = {
        "images": tf.constant(rec["image"][None]),
        "widths": tf.constant([rec["image"].shape[1]], tf.int32),
    }
    served = tf.saved_model.load(str(model / "serving")).signatures["serving_default"](**inputs)
    logits = tf.saved_model.load(str(model / "serving")).signatures["logits"](**inputs)
    from digitseq.recognizer.serving import decoding

    raw = decoding.decode(logits["logits"], logits["lengths"])[2].numpy()
    np.testing.assert_allclose(
        served["confidence"].numpy(), fitted.greedy.apply(raw), rtol=1e-4, atol=1e-7
    )
    assert (
        cli.run(
            ["calibrate", "--model", str(model), "--data", variable_dataset, "--split", "nosuch"]
        )
        == 2
    )
    assert "--split nosuch: has 0 labeled strings" in capsys.readouterr().err


def _served_rows(model_dir, records):
    """(calibrated confidence, right) of the model's serving signature on each record."""
    import tensorflow as tf

    serve = tf.saved_model.load(os.path.join(model_dir, "serving")).signatures["serving_default"]
    rows = []
    for rec in records:
        image = rec["image"]
        out = serve(images=tf.constant(image[None]), widths=tf.constant([image.shape[1]]))
        digits = out["digits"].numpy()[0][: int(out["lengths"].numpy()[0])]
        rows.append((float(out["confidence"].numpy()[0]), digits.tolist() == rec["label"]))
    return rows


def _tree(directory):
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                found[os.path.relpath(os.path.join(root, name), directory)] = f.read()
    return found


def test_calibrate_into_a_new_directory_reports_ece_and_risk_coverage_of_its_rows(
    trained_model, variable_dataset, tmp_path, capsys
):
    from digitseq import cli
    from tests.records import read_split

    before = _tree(trained_model)
    out = tmp_path / "calibrated"
    argv = ["calibrate", "--model", trained_model, "--data", variable_dataset, "--out", str(out)]
    assert cli.run(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model_dir"] == str(out) and _tree(trained_model) == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no staging left
    fitted = calibration.read(str(out)).fitted["greedy"]
    rows = _served_rows(str(out), read_split(variable_dataset, "validation"))
    confidence = np.array([c for c, _ in rows])
    right = np.array([ok for _, ok in rows])
    bins = np.minimum((confidence * 15).astype(int), 14)
    ece = sum(abs(right[bins == k].sum() - confidence[bins == k].sum()) for k in range(15)) / len(
        rows
    )
    assert fitted["ece_calibrated"] == pytest.approx(ece, abs=2e-3)
    assert fitted["ser"] == pytest.approx(1 - right.mean())
    order = np.argsort(-confidence, kind="stable")
    table = {row["coverage"]: row for row in fitted["risk_coverage"]}
    assert sorted(table) == [0.8, 0.9, 0.95, 1.0]
    for coverage, row in table.items():
        accepted = order[: row["accepted"]]
        assert row["accepted"] >= np.ceil(coverage * len(rows) - 1e-9)
        assert row["ser"] == pytest.approx(1 - right[accepted].mean())
    assert cli.run(argv) == 2
    assert f"--out {out}: exists; expected a new directory" in capsys.readouterr().err


def test_a_shipped_model_is_calibrated_into_a_copy_and_left_untouched(
    variable_dataset, tmp_path, capsys, monkeypatch
):
    from digitseq import cli
    from digitseq.recognizer.serving import builtin

    name = builtin.aliases()["general"]
    package = tmp_path / "builtin"  # the shipped files, copied: a failure cannot change them
    package.mkdir()
    shutil.copytree(os.path.join(builtin.HERE, name), package / name)
    for part in ("models.json", "aliases.json"):
        shutil.copy(os.path.join(builtin.HERE, part), package / part)
    monkeypatch.setattr(builtin, "HERE", str(package))
    monkeypatch.setattr(builtin, "MANIFEST", str(package / "models.json"))
    monkeypatch.setattr(builtin, "ALIASES", str(package / "aliases.json"))
    monkeypatch.setattr(builtin, "_verified", set())
    shipped = builtin.resolve("general", field="model")
    before = _tree(shipped)
    argv = ["calibrate", "--model", "general", "--data", variable_dataset]
    assert cli.run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--model general: is a shipped model; expected --out, a new directory "
                        "for the calibrated copy") and "\n" not in err  # fmt: skip
    assert cli.run(["calibrate", "--model", "nosuch-model", "--data", variable_dataset]) == 2
    assert "--model nosuch-model: no builtin model of that name" in capsys.readouterr().err
    assert cli.run([*argv, "--out", str(tmp_path / "mine")]) == 0
    builtin._verified.clear()  # checked again against the recorded checksums
    assert _tree(shipped) == before and builtin.resolve("general", field="model") == shipped
    assert calibration.read(str(tmp_path / "mine")).fitted["data"] == variable_dataset
    mine = _tree(tmp_path / "mine")
    assert (
        mine["model.keras"] == before["model.keras"] and mine["stats.json"] == before["stats.json"]
    )


@pytest.mark.parametrize(
    "case, message",
    [
        ("few", "--split test: has 30 labeled strings in {data}; a calibration needs at least 50"),
        ("images", "{data}: no COMPLETED file, so not a complete digitseq dataset"),
    ],
)
def test_calibrate_refuses_too_few_strings_and_data_that_is_not_a_dataset(
    trained_model, tmp_path, capsys, case, message
):
    from digitseq import cli
    from tests.conftest import render

    data = tmp_path / "data"
    if case == "few":
        flags = ["--mode", "variable", "--train", "10", "--validation", "0", "--test", "30"]
        assert render(data, *flags) == 0
    else:
        data.mkdir()
        (data / "a.png").write_bytes(b"not a dataset")
    argv = ["calibrate", "--model", trained_model, "--data", str(data), "--split", "test"]
    assert cli.run([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message.format(data=data) in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
