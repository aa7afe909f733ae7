"""`digitseq ingest` on real image files written here from MNIST test digit strings: black ink on
white, heights 20 to 80, PNG and JPEG, grey, RGB and with alpha; and on every kind of bad input.
Then the ingested directory read by the reader, `inspect` and `train`; `predict` on the image
files equal to `predict` on their ingested records; and (slow) a model trained on renders reading
ingested strings about as well as renders."""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from digitseq import cli
from digitseq.core import storage
from digitseq.pipelines import images
from digitseq.pipelines.ingest import steps as ingest_steps
from digitseq.recognizer.data import reader as data
from digitseq.recognizer.data import records
from digitseq.schemas import dataset, prediction, record
from tests.conftest import SMALL, render
from tests.records import read_split

COUNT = 24


def _strip(sample_mnist, rng) -> tuple[np.ndarray, str]:
    rows = rng.choice(len(sample_mnist.test.images), int(rng.integers(2, 6)), replace=False)
    strip = np.concatenate([sample_mnist.test.images[i] for i in rows], axis=1)
    return strip, "".join(str(int(sample_mnist.test.labels[i])) for i in rows)


def _scan(strip: np.ndarray, height: int, variant: int) -> bytes:
    """`strip` (white on black, height 28) as a black-on-white file of `height` rows."""
    width = max(1, round(strip.shape[1] * height / 28))
    resized = tf.image.resize(
        strip[..., None].astype(np.float32), [height, width], antialias=True
    ).numpy()
    ink = np.clip(np.round(resized), 0, 255).astype(np.uint8)
    paper = 255 - ink
    if variant == 0:
        return tf.io.encode_png(paper).numpy()
    if variant == 1:
        return tf.io.encode_png(np.repeat(paper, 3, axis=-1)).numpy()
    if variant == 2:
        rgba = np.concatenate([np.zeros_like(np.repeat(ink, 3, axis=-1)), ink], axis=-1)
        return tf.io.encode_png(rgba).numpy()
    return tf.io.encode_jpeg(
        np.repeat(paper, 3, axis=-1) if variant == 3 else paper, quality=95
    ).numpy()


@pytest.fixture(scope="module")
def scans(sample_mnist, tmp_path_factory):
    """COUNT image files under `scans/` and `labels.csv` (with leading zeros and a few explicit
    splits); returns the folder and `{name: (label, strip, split or None)}`."""
    folder = tmp_path_factory.mktemp("scans")
    (folder / "scans").mkdir()
    rng = np.random.default_rng(13)
    truth, lines = {}, ["file,label,split"]
    for i in range(COUNT):
        strip, label = _strip(sample_mnist, rng)
        variant = i % 5
        name = f"scans/s{i:03d}.{'jpg' if variant >= 3 else 'png'}"
        (folder / name).write_bytes(_scan(strip, int(rng.integers(20, 81)), variant))
        split = "test" if i % 8 == 0 else None
        truth[name] = (label, strip, split)
        lines.append(f"{name},{label},{split or ''}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder, truth


def ingest(folder: pathlib.Path, out: pathlib.Path, *flags: str, labels: str = "labels.csv") -> int:
    return cli.run(
        [
            "ingest",
            "--images",
            str(folder / "scans" / "*"),
            "--labels",
            str(folder / labels),
            "--out",
            str(out),
            *flags,
        ]
    )


def _records(out) -> dict[str, dict]:
    found = {}
    for split in dataset.SPLITS:
        for rec in read_split(str(out), split):
            found[rec["id"]] = {**rec, "split": split}
    return found


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a.shape[1], b.shape[1])
    return float(np.abs(a[:, :width].astype(float) - b[:, :width].astype(float)).mean())


def test_uncropped_records_match_the_strips_with_labels_and_splits(scans, tmp_path):
    folder, truth = scans
    assert ingest(folder, tmp_path / "out", "--no-crop", "--max-rejected", "0") == 0
    found = _records(tmp_path / "out")
    assert sorted(found) == sorted(truth)
    for name, (label, strip, split) in truth.items():
        rec = found[name]
        assert rec["label"] == [int(c) for c in label]
        assert rec["split"] == (
            split or ingest_steps.hash_split(name, validation_fraction=0.1, test_fraction=0.1)
        )
        assert rec["image"].shape[0] == 28 and abs(rec["image"].shape[1] - strip.shape[1]) <= 1
        assert _mean_difference(rec["image"], strip) < 12, name
    assert (tmp_path / "out" / dataset.COMPLETED).exists()
    assert not (tmp_path / "out" / "rejected.jsonl").read_text()


def test_records_equal_the_shared_normalisation_and_keep_the_source(scans, tmp_path):
    folder, truth = scans
    assert ingest(folder, tmp_path / "out", "--max-rejected", "0") == 0
    metadata = dataset.load_metadata(str(tmp_path / "out"))
    for split in dataset.SPLITS:
        for rec in records.sample_records(str(tmp_path / "out"), split, COUNT):
            data = (folder / rec.record_id).read_bytes()
            np.testing.assert_array_equal(rec.image, images.normalize_file(data))
            decoded = tf.io.decode_image(data).shape
            assert rec.source_file == rec.record_id
            assert rec.source_size == (decoded[0], decoded[1])
            assert rec.source_index is None
            strip = truth[rec.record_id][1]
            assert 0.6 * strip.shape[1] <= rec.width <= 1.4 * strip.shape[1]
    assert sum(metadata["counts"].values()) == COUNT
    assert metadata["ingest"] == {
        "inputs": COUNT,
        "records": COUNT,
        "rejected": 0,
        "rejected_by_kind": {},
    }
    for entry in metadata["files"]["train"]:
        assert entry["max_width"] % ingest_steps.BUCKET == 0
        assert (tmp_path / "out" / entry["path"]).stat().st_size == entry["bytes"]
        for rec in tf.data.TFRecordDataset(str(tmp_path / "out" / entry["path"]), "GZIP"):
            parsed = record.parse_record(rec.numpy())
            assert entry["max_width"] - ingest_steps.BUCKET < parsed.width <= entry["max_width"]
            assert len(parsed.label) == entry["length"]


def test_make_dataset_and_inspect_read_the_output(scans, tmp_path):
    folder, _ = scans
    out = tmp_path / "out"
    assert ingest(folder, out) == 0
    seen = 0
    for features, _labels in data.make_dataset(str(out), "train", 4):
        assert features["frames"].shape[-1] == 28
        seen += int(features["width"].shape[0])
    assert seen == dataset.load_metadata(str(out))["counts"]["train"]
    assert cli.run(["inspect", str(out), "--count", "4"]) == 0


def test_polarity_and_contrast_do_not_matter(sample_mnist):
    strip = np.concatenate(list(sample_mnist.test.images[:3]), axis=1).astype(np.float32)
    reference = images.normalize(strip)
    np.testing.assert_array_equal(images.normalize(255 - strip), reference)
    np.testing.assert_array_equal(images.normalize(255 - strip, invert="yes"), reference)
    faint = 200 - strip * 0.5
    assert _mean_difference(images.normalize(faint), reference) < 2
    with pytest.raises(images.NoInkError, match="no ink"):
        images.normalize(np.full((30, 40), 255.0))


def test_crop_removes_the_paper_around_the_ink(sample_mnist):
    strip = np.concatenate(list(sample_mnist.test.images[3:7]), axis=1).astype(np.float32)
    rows = np.flatnonzero((strip > images.INK_LEVEL).any(axis=1))
    columns = np.flatnonzero((strip > images.INK_LEVEL).any(axis=0))
    box = strip[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    vertical, horizontal = (round(m * box.shape[0]) for m in (images.MARGIN_Y, images.MARGIN_X))
    expected_width = round((box.shape[1] + 2 * horizontal) * 28 / (box.shape[0] + 2 * vertical))
    scan = np.pad(255 - strip, ((40, 25), (60, 10)), constant_values=255)
    cropped = images.normalize(scan)
    assert cropped.shape == (28, expected_width)
    assert _mean_difference(cropped, images.normalize(255 - strip)) < 1
    assert abs(images.normalize(scan, crop=False).shape[1] - expected_width) > 20


BAD = {
    "scans/truncated.png": "unreadable",
    "scans/garbage.png": "unreadable",
    "scans/blank.png": "no_ink",
    "scans/unlabeled.png": "no_label",
    "scans/missing.png": "no_image",
    "scans/letters.png": "bad_label",
    "scans/number.png": "bad_label",
    "scans/twice.png": "duplicate",
    "scans/badsplit.png": "bad_split",
}


@pytest.fixture()
def with_bad(scans, tmp_path):
    """The good scans plus one file or labels row for every kind of bad input."""
    folder, truth = scans
    good = (folder / "scans" / "s001.png").read_bytes()
    bad = tmp_path / "in"
    (bad / "scans").mkdir(parents=True)
    for name in truth:
        (bad / name).write_bytes((folder / name).read_bytes())
    (bad / "scans/truncated.png").write_bytes(good[: len(good) // 2])
    (bad / "scans/garbage.png").write_bytes(b"not an image")
    (bad / "scans/blank.png").write_bytes(
        tf.io.encode_png(np.full((30, 60, 1), 250, np.uint8)).numpy()
    )
    for name in ("unlabeled", "letters", "number", "twice", "badsplit"):
        (bad / f"scans/{name}.png").write_bytes(good)
    lines = [json.dumps({"file": n, "label": label}) for n, (label, _, _) in truth.items()]
    lines += [
        json.dumps({"file": n, "label": "12"})
        for n in (
            "scans/truncated.png",
            "scans/garbage.png",
            "scans/blank.png",
            "scans/missing.png",
            "scans/twice.png",
            "./scans/twice.png",
        )
    ]
    lines += [
        json.dumps({"file": "scans/letters.png", "label": "12a"}),
        json.dumps({"file": "scans/number.png", "label": 7}),
        json.dumps({"file": "scans/badsplit.png", "label": "1", "split": "dev"}),
    ]
    (bad / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return bad, truth


def test_every_bad_input_is_rejected_with_its_reason_and_counted(with_bad, tmp_path):
    folder, truth = with_bad
    out = tmp_path / "out"
    assert ingest(folder, out, "--max-rejected", "0.5", labels="labels.jsonl") == 0
    rows = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    kinds = {
        os.path.relpath(r["file"], folder) if os.path.isabs(r["file"]) else r["file"]: r["kind"]
        for r in rows
    }
    assert kinds == BAD
    assert all(r["reason"] for r in rows)
    metadata = dataset.load_metadata(str(out))
    images_on_disk = len(list((folder / "scans").iterdir()))
    labels_only = 1
    assert images_on_disk + labels_only == sum(metadata["counts"].values()) + len(rows)
    assert metadata["ingest"]["rejected"] == len(BAD)
    assert sorted(_records(out)) == sorted(truth)


def test_too_many_rejects_fail_without_completed(with_bad, tmp_path, capsys):
    folder, _ = with_bad
    out = tmp_path / "out"
    assert ingest(folder, out, labels="labels.jsonl") == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    assert "--max-rejected 0.01" in message and f"{len(BAD)} of {COUNT + len(BAD)}" in message
    assert not (out / dataset.COMPLETED).exists()
    assert len((out / "rejected.jsonl").read_text().splitlines()) == len(BAD)


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("labels.csv", "file,label\na.png,12\nb.png,3,4\n", "labels.csv line 3 column 9: 3 fields"),
        ("labels.csv", "name,digits\na.png,12\n", "labels.csv line 1 column 1: header name,digits"),
        (
            "labels.jsonl",
            '{"file": "a.png", "label": "1"}\n{"file": "b.png" "label": "2"}\n',
            "labels.jsonl line 2 column 18: not valid JSON",
        ),
        (
            "labels.jsonl",
            '{"file": "a.png", "digits": "1"}\n',
            "labels.jsonl line 1 column 1: keys",
        ),
        ("labels.csv", "file,label\n", "labels.csv: no labeled files"),
    ],
)
def test_an_unparseable_labels_file_is_a_one_line_error(
    scans, tmp_path, capsys, name, text, expected
):
    folder, _ = scans
    (tmp_path / name).write_text(text)
    code = cli.run(
        [
            "ingest",
            "--images",
            str(folder / "scans" / "*"),
            "--labels",
            str(tmp_path / name),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    message = capsys.readouterr().err.strip()
    assert code == 2 and len(message.splitlines()) == 1
    assert expected in message
    assert not (tmp_path / "out").exists()


def test_leading_zeros_are_kept(scans, tmp_path):
    folder, truth = scans
    name = next(iter(truth))
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "a.png").write_bytes((folder / name).read_bytes())
    (tmp_path / "labels.csv").write_text("file,label,split\nscans/a.png,007,train\n")
    assert ingest(tmp_path, tmp_path / "out", "--max-rejected", "0") == 0
    assert [r["label"] for r in read_split(str(tmp_path / "out"), "train")] == [[0, 0, 7]]


def test_a_labels_file_among_the_images_is_not_an_image(scans, tmp_path, capsys):
    folder, truth = scans
    name = next(iter(truth))
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "a.png").write_bytes((folder / name).read_bytes())
    (tmp_path / "scans" / "labels.csv").write_text("file,label,split\na.png,12,train\n")
    assert ingest(tmp_path, tmp_path / "out", "--max-rejected", "0", labels="scans/labels.csv") == 0
    assert dataset.load_metadata(str(tmp_path / "out"))["ingest"]["inputs"] == 1
    assert not (tmp_path / "out" / "rejected.jsonl").read_text()
    (tmp_path / "scans" / "a.png").unlink()
    assert ingest(tmp_path, tmp_path / "again", labels="scans/labels.csv") == 2
    assert "matches only the labels file, expected image files" in capsys.readouterr().err


def test_option_errors_name_the_flag(scans, tmp_path, capsys):
    folder, _ = scans
    assert (
        ingest(folder, tmp_path / "out", "--test-fraction", "0.95", "--validation-fraction", "0.1")
        == 2
    )
    assert (
        "--test-fraction 0.95: expected at most 1 - --validation-fraction"
        in capsys.readouterr().err
    )
    assert (
        cli.run(
            [
                "ingest",
                "--images",
                str(tmp_path / "none*.png"),
                "--labels",
                str(folder / "labels.csv"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "--images" in capsys.readouterr().err
    assert ingest(folder, tmp_path / "out", "--max-rejected", "1.5") == 2
    assert "--max-rejected 1.5: expected a fraction from 0 to 1" in capsys.readouterr().err


def test_predict_on_image_files_equals_predict_on_their_ingested_records(
    scans, trained_model, tmp_path
):
    folder, truth = scans
    inputs = tmp_path / "inputs"
    (inputs / "scans").mkdir(parents=True)
    for i, name in enumerate(truth):
        paper = tf.io.decode_image((folder / name).read_bytes(), expand_animations=False)
        padded = tf.pad(paper, [[i, 2 * i], [3 * i, 5], [0, 0]], constant_values=255)
        (inputs / name).write_bytes(tf.io.encode_png(padded).numpy())
    lines = (folder / "labels.csv").read_text().splitlines()
    (inputs / "labels.csv").write_text("\n".join(lines) + "\n")
    assert ingest(inputs, tmp_path / "data") == 0
    assert (
        cli.run(
            [
                "predict",
                "--model",
                trained_model,
                "--input",
                str(tmp_path / "data" / "*" / "*.tfrecord.gz"),
                "--out",
                str(tmp_path / "records"),
            ]
        )
        == 0
    )
    (inputs / "scans" / "garbage.png").write_bytes(b"not an image")
    (inputs / "labels.csv").write_text("\n".join(lines[:-1] + ["scans/garbage.png,1,"]) + "\n")
    assert (
        cli.run(
            [
                "predict",
                "--model",
                trained_model,
                "--input",
                str(inputs / "scans" / "*"),
                "--labels",
                str(inputs / "labels.csv"),
                "--out",
                str(tmp_path / "files"),
            ]
        )
        == 0
    )
    from_records = {row["id"]: row for row in prediction.read_rows(str(tmp_path / "records"))}
    from_files = {
        os.path.relpath(row["file"], inputs): row
        for row in prediction.read_rows(str(tmp_path / "files"))
    }
    assert sorted(from_files) == sorted(truth)
    for name, row in from_files.items():
        assert row["id"] == row["file"] == str(inputs / name)
        assert row["prediction"] == from_records[name]["prediction"]
        assert row["confidence"] == pytest.approx(from_records[name]["confidence"], rel=1e-3)
        unlabeled = name == lines[-1].split(",")[0]
        assert row.get("label") == (None if unlabeled else truth[name][0])
    dead = list(prediction.read_rows(str(tmp_path / "files"), prediction.DEAD_LETTER))
    assert [(d["file"], "cannot decode" in d["error"]) for d in dead] == [
        (str(inputs / "scans" / "garbage.png"), True)
    ]
    metrics = storage.read_json(str(tmp_path / "files" / prediction.METRICS))
    assert (metrics["scored"], metrics["unlabeled"], metrics["dead_letters"]) == (COUNT, 1, 1)
    assert cli.run(["report", str(tmp_path / "files"), "--count", "4"]) == 0


def test_predict_sends_images_the_labels_file_cannot_label_to_dead_letters(scans, tmp_path):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from digitseq.pipelines import labels as labels_lib
    from digitseq.pipelines.predict.image_files import ReadImages
    from digitseq.pipelines.predict.records import DEAD

    folder, truth = scans
    names = sorted(truth)[:3]
    twice, bad, good = (str(folder / name) for name in names)
    label = truth[names[2]][0]
    (tmp_path / "labels.csv").write_text(
        f"file,label\n{twice},12\n{bad},12a\n{twice},12\n{good},{label}\n"
    )
    rows, _ = labels_lib.read_labels(str(tmp_path / "labels.csv"))
    with TestPipeline() as p:
        read = p | beam.Create([twice, bad, good]) | ReadImages(rows=rows, distribute=False)
        assert_that(
            read[DEAD] | beam.Map(lambda row: row["error"]),
            equal_to(
                [
                    f"{twice}: listed 2 times in the labels file (lines 2, 4), expected once",
                    f"{bad}: labels file line 3: label '12a', expected a string of digits 0-9 (quoted "
                    f"in JSON, so leading zeros stay)",
                ]
            ),
            label="DeadLetters",
        )
        assert_that(
            read["examples"] | beam.Map(lambda item: (item[0].record_id, item[0].label)),
            equal_to([(good, label)]),
            label="Scored",
        )


@pytest.mark.slow
def test_a_model_trained_on_renders_reads_ingested_strings_about_as_well(tmp_path):
    """The shipped model (trained on renders only, `general-v1`) reads rendered test strings
    written as scans (black on white, 20..80 pixels high, PNG and JPEG, grey, RGB and alpha) and
    ingested about as well as the renders themselves: ingested as they are (`--no-crop`) within
    1.2 times the renders' CER plus 1 point, cropped to their ink (the default, for scans with
    paper around the writing) within 1.5 times plus 3 points. Measured with general-v1: 1.71%
    rendered, 0.86% ingested, 0.29% uncropped (a small model trained on plain renders here gave
    6.9%, 10.4%, 7.4%; a crop margin of 0.2 on every side gave three times the renders' CER)."""
    data = tmp_path / "rendered"
    assert (
        render(
            data,
            "--mode",
            "variable",
            "--train",
            "100",
            "--validation",
            "0",
            "--test",
            "200",
            "--seed",
            "3",
        )
        == 0
    )
    model = "general-v1"
    folder = tmp_path / "scans"
    (folder / "scans").mkdir(parents=True)
    rng = np.random.default_rng(5)
    lines = ["file,label,split"]
    for i, rec in enumerate(read_split(str(data), "test")):
        name = f"scans/{i:04d}.{'jpg' if i % 5 >= 3 else 'png'}"
        (folder / name).write_bytes(_scan(rec["image"], int(rng.integers(20, 81)), i % 5))
        lines.append(f"{name},{''.join(map(str, rec['label']))},test")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    assert ingest(folder, tmp_path / "ingested", "--max-rejected", "0") == 0
    assert ingest(folder, tmp_path / "uncropped", "--no-crop", "--max-rejected", "0") == 0
    cer = {}
    for kind in ("rendered", "ingested", "uncropped"):
        assert (
            cli.run(
                [
                    "predict",
                    "--model",
                    model,
                    "--input",
                    str(tmp_path / kind / "test" / "*.tfrecord.gz"),
                    "--out",
                    str(tmp_path / f"scored-{kind}"),
                ]
            )
            == 0
        )
        metrics = storage.read_json(str(tmp_path / f"scored-{kind}" / prediction.METRICS))
        assert metrics["scored"] == 200
        cer[kind] = metrics["cer"]
    print(
        f"CER rendered {cer['rendered']:.2%}, ingested {cer['ingested']:.2%}, uncropped "
        f"{cer['uncropped']:.2%}"
    )
    assert cer["rendered"] < 0.25
    assert cer["uncropped"] <= cer["rendered"] * 1.2 + 0.01
    assert cer["ingested"] <= cer["rendered"] * 1.5 + 0.03


def _bmp(grey: np.ndarray) -> bytes:
    """An uncompressed 24-bit BMP of a uint8 grey image (TensorFlow decodes BMP but cannot write
    it)."""
    height, width = grey.shape
    stride = (3 * width + 3) // 4 * 4
    rows = b"".join(
        np.repeat(row[:, None], 3, axis=1).tobytes().ljust(stride, b"\0") for row in grey[::-1]
    )
    header = (
        b"BM"
        + (54 + len(rows)).to_bytes(4, "little")
        + bytes(4)
        + (54).to_bytes(4, "little")
        + (40).to_bytes(4, "little")
        + width.to_bytes(4, "little")
        + height.to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (24).to_bytes(2, "little")
        + bytes(24)
    )
    return header + rows


def _gif(grey: np.ndarray) -> bytes:
    """A GIF of a uint8 grey image with a grey palette, LZW codes written without compression
    (a clear code before every 250 pixels keeps codes 9 bits wide); TensorFlow decodes GIF but
    cannot write it."""
    height, width = grey.shape
    codes = []
    for i, value in enumerate(grey.ravel().tolist()):
        if i % 250 == 0:
            codes.append(256)
        codes.append(value)
    codes.append(257)
    bits = sum(code << (9 * i) for i, code in enumerate(codes))
    data = bits.to_bytes((9 * len(codes) + 7) // 8, "little")
    blocks = b"".join(
        bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)
    )
    size = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    palette = bytes(v for i in range(256) for v in (i, i, i))
    return (
        b"GIF89a"
        + size
        + b"\xf7\x00\x00"
        + palette
        + b"\x2c"
        + bytes(4)
        + size
        + b"\x00"
        + b"\x08"
        + blocks
        + b"\x00"
        + b"\x3b"
    )


@pytest.mark.parametrize(
    "shape,size",
    [
        ((57, 203), (28, 100)),
        ((20, 61), (28, 86)),
        ((28, 140), (64, 320)),
        ((90, 33), (28, 10)),
        ((1, 5), (28, 140)),
    ],
)
def test_resize_is_tf_image_resize_with_antialiasing(shape, size):
    image = np.random.default_rng(sum(shape)).uniform(0, 255, shape).astype(np.float32)
    expected = tf.image.resize(image[..., None], size, antialias=True).numpy()[..., 0]
    np.testing.assert_array_equal(images.resize(image, *size), expected)


def test_gif_files_normalise_like_png(sample_mnist):
    paper = (255 - np.concatenate(list(sample_mnist.test.images[:3]), axis=1)).astype(np.uint8)
    gif = _gif(paper)
    decoded = tf.io.decode_image(gif, expand_animations=False).numpy()
    np.testing.assert_array_equal(decoded[..., 0], paper)  # the file is what it should be
    png = tf.io.encode_png(paper[..., None]).numpy()
    np.testing.assert_allclose(
        images.normalize_file(gif).astype(int), images.normalize_file(png).astype(int), atol=1
    )


def test_bmp_files_and_forced_polarity_normalise_like_png(sample_mnist):
    paper = (255 - np.concatenate(list(sample_mnist.test.images[:3]), axis=1)).astype(np.uint8)
    png = tf.io.encode_png(paper[..., None]).numpy()
    np.testing.assert_array_equal(images.normalize_file(_bmp(paper)), images.normalize_file(png))
    ink = tf.io.encode_png(255 - paper[..., None]).numpy()
    np.testing.assert_array_equal(
        images.normalize_file(ink, invert="no"), images.normalize_file(png)
    )
    np.testing.assert_array_equal(
        images.normalize_file(png, invert="yes"), images.normalize_file(png)
    )


def test_digitseq_train_reads_an_ingested_dataset(scans, tmp_path):
    folder, _ = scans
    assert ingest(folder, tmp_path / "data") == 0
    assert (
        cli.run(
            [
                "train",
                "--data",
                str(tmp_path / "data"),
                "--model-dir",
                str(tmp_path / "model"),
                "--epochs",
                "1",
                *SMALL,
            ]
        )
        == 0
    )
    assert (tmp_path / "model" / "serving").is_dir()


def test_predict_refuses_mixed_inputs_and_labels_for_records(
    scans, trained_model, tmp_path, capsys
):
    folder, truth = scans
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.png").write_bytes((folder / next(iter(truth))).read_bytes())
    (mixed / "b.tfrecord.gz").write_bytes(b"")
    assert (
        cli.run(
            [
                "predict",
                "--model",
                trained_model,
                "--input",
                str(mixed / "*"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "--input" in capsys.readouterr().err
    assert (
        cli.run(
            [
                "predict",
                "--model",
                trained_model,
                "--input",
                str(mixed / "*.tfrecord.gz"),
                "--labels",
                str(folder / "labels.csv"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "--labels" in capsys.readouterr().err


@pytest.mark.slow
def test_a_directory_the_input_pattern_matches_is_a_dead_letter(scans, trained_model, tmp_path):
    folder, truth = scans
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in sorted(truth)[:3]:
        (inputs / os.path.basename(name)).write_bytes((folder / name).read_bytes())
    (inputs / "more.png").mkdir()  # a folder whose name looks like an image
    out = tmp_path / "scored"
    assert (
        cli.run(
            ["predict", "--model", trained_model, "--input", str(inputs / "*"), "--out", str(out)]
        )
        == 0
    )
    dead = [
        json.loads(line)
        for path in sorted(out.glob(f"{prediction.DEAD_LETTER}-*"))
        for line in path.read_text().splitlines()
    ]
    assert [row["error"] for row in dead] == [f"{inputs / 'more.png'}: a directory, not a file"]
    metrics = storage.read_json(str(out / prediction.METRICS))
    assert metrics["scored"] == 3 and metrics["dead_letters"] == 1
