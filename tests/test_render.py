"""The render job end to end through the CLI, on the bundled MNIST sample."""

from __future__ import annotations

import collections
import dataclasses
import filecmp
import hashlib
import json
import os

import numpy as np
import pytest

from digitseq import cli
from digitseq.core.errors import InvalidInputError
from digitseq.pipelines import dataset_writer
from digitseq.pipelines.render import drawing, handwriting, planning
from digitseq.pipelines.render import params as render_params
from digitseq.schemas import dataset
from tests.conftest import render
from tests.records import read_split


def _digit(source, index):
    """The MNIST image and label at original index `index` of a (possibly sampled) split."""
    row = int(np.searchsorted(source.indices, index))
    assert source.indices[row] == index
    return source.images[row], int(source.labels[row])


def test_round_trip_pixels_and_labels_match_mnist(variable_dataset, sample_mnist):
    for split in dataset.SPLITS:
        source = sample_mnist.test if split == "test" else sample_mnist.train
        for rec in read_split(variable_dataset, split):
            assert rec["image"].shape == (28, 28 * len(rec["label"]))
            assert rec["digit_left"] == [28 * i for i in range(len(rec["label"]))]
            for i, (label, index) in enumerate(zip(rec["label"], rec["source_index"])):
                image, mnist_label = _digit(source, index)
                assert label == mnist_label
                np.testing.assert_array_equal(rec["image"][:, 28 * i : 28 * (i + 1)], image)


def test_defaults_render_what_the_job_rendered_before_layouts(variable_dataset):
    """Ids, labels, sources and pixels of every record, hashed in file order. The value was
    computed with the render job of commit fdc4ff5 (before overlap and handwriting variation) on the
    same flags and bundled sample, so options at their defaults keep old datasets reproducible."""
    digest = hashlib.sha256()
    for split in dataset.SPLITS:
        for rec in read_split(variable_dataset, split):
            digest.update(repr((rec["id"], rec["label"], rec["source_index"])).encode())
            digest.update(rec["image"].tobytes())
    assert digest.hexdigest() == "ab34a4b456204866eacddc18cca0cea34af594d4efd691d41cdc852a3365bbd6"


def test_splits_draw_from_disjoint_pools(variable_dataset, sample_mnist):
    records = {split: read_split(variable_dataset, split) for split in dataset.SPLITS}
    train_digits = {i for r in records["train"] for i in r["source_index"]}
    validation_digits = {i for r in records["validation"] for i in r["source_index"]}
    assert max(train_digits) < 55000 <= min(validation_digits)
    assert max(i for r in records["test"] for i in r["source_index"]) < 10000
    assert {len(records[s]) for s in dataset.SPLITS} == {300, 60, 80}
    ids = [r["id"] for s in dataset.SPLITS for r in records[s]]
    assert len(ids) == len(set(ids)) and all(i.split("/")[0] in dataset.SPLITS for i in ids)


def test_stats_match_numpy_on_decoded_train_frames(variable_dataset):
    frames = np.concatenate([r["image"] for r in read_split(variable_dataset, "train")], axis=1)
    stats = dataset.load_stats(variable_dataset)
    values = frames.astype(np.float64)
    assert stats["count"] == frames.shape[1]
    np.testing.assert_allclose(stats["mean"], values.mean(axis=1), rtol=1e-9, atol=0)
    np.testing.assert_allclose(stats["std"], values.std(axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stats["global_mean"], values.mean(), rtol=1e-9)
    np.testing.assert_allclose(stats["global_std"], values.std(), rtol=1e-9)


def test_metadata_describes_the_files(variable_dataset):
    metadata = dataset.load_metadata(variable_dataset)
    assert metadata["params"]["mode"] == "variable" and metadata["seed"] == 7
    assert metadata["source"]["kind"] == "sample" and metadata["source"]["sha256"]
    for split in dataset.SPLITS:
        records = read_split(variable_dataset, split)
        lengths = collections.Counter(str(len(r["label"])) for r in records)
        widths = collections.Counter(str(r["image"].shape[1]) for r in records)
        assert metadata["counts"][split] == len(records)
        assert metadata["length_histogram"][split] == dict(sorted(lengths.items()))
        assert metadata["width_histogram"][split] == dict(
            sorted(widths.items(), key=lambda kv: int(kv[0]))
        )
        listed = {f["path"] for f in metadata["files"][split]}
        on_disk = {f"{split}/{name}" for name in os.listdir(os.path.join(variable_dataset, split))}
        assert listed == on_disk
        for entry in metadata["files"][split]:
            assert entry["bytes"] == os.path.getsize(os.path.join(variable_dataset, entry["path"]))


def test_each_shard_holds_one_width_bucket(variable_dataset):
    from tests.records import tf  # the same TensorFlow the helper uses

    metadata = dataset.load_metadata(variable_dataset)
    for entry in metadata["files"]["train"]:
        path = os.path.join(variable_dataset, entry["path"])
        count = 0
        for data in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            from digitseq.schemas import record

            parsed = record.parse_record(data.numpy())
            assert len(parsed.label) == entry["length"] and parsed.width <= entry["max_width"]
            count += 1
        assert count == entry["records"]


def test_gap_and_jitter(tmp_path, sample_mnist):
    out = tmp_path / "gaps"
    assert (
        render(
            out,
            "--mode",
            "fixed",
            "--length",
            "3",
            "--train",
            "40",
            "--validation",
            "0",
            "--test",
            "0",
            "--gap",
            "2,6",
            "--jitter",
            "3",
            "--shards",
            "1",
        )
        == 0
    )
    records = read_split(str(out), "train")
    assert len(records) == 40
    assert all(56 + 2 * 2 <= r["image"].shape[1] <= 56 + 2 * 6 + 28 for r in records)
    widths = {r["image"].shape[1] for r in records}
    assert len(widths) > 1
    # Each record is its MNIST digits left to right, each shifted vertically by at most 3 rows
    # (zero-filled), separated by 2..6 blank columns: rebuild it exactly.
    for rec in records:
        image, x = rec["image"], 0
        for i, index in enumerate(rec["source_index"]):
            digit = _digit(sample_mnist.train, index)[0]
            gaps = [0] if i == 0 else range(2, 7)
            found = [
                (gap, shift)
                for gap in gaps
                for shift in range(-3, 4)
                if not image[:, x : x + gap].any()
                and np.array_equal(image[:, x + gap : x + gap + 28], _shifted(digit, shift))
            ]
            assert found, (rec["id"], i)
            x += found[0][0] + 28
        assert x == image.shape[1]


def _shifted(digit, shift):
    """`digit` moved down by `shift` rows (up if negative), zero-filled, as the renderer does."""
    out = np.zeros_like(digit)
    if shift >= 0:
        out[shift:] = digit[: digit.shape[0] - shift]
    else:
        out[:shift] = digit[-shift:]
    return out


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--preset", "touching", "--thickness=-1,1", "--jitter", "3"],
    ],
    ids=["plain", "every_option"],
)
@pytest.mark.slow
def test_same_seed_gives_identical_files_with_one_and_two_workers(tmp_path, options):
    flags = [
        "--mode",
        "variable",
        "--train",
        "120",
        "--validation",
        "20",
        "--test",
        "20",
        "--shards",
        "2",
        "--seed",
        "3",
        *options,
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    assert render(one, *flags) == 0
    assert (
        render(two, *flags, "--direct_num_workers=2", "--direct_running_mode=multi_processing") == 0
    )
    compared = 0
    for root, _, files in os.walk(one):
        for name in files:
            path = os.path.join(root, name)
            other = os.path.join(two, os.path.relpath(path, one))
            assert filecmp.cmp(path, other, shallow=False), path
            compared += 1
    assert compared == sum(len(f) for _, _, f in os.walk(two)) > 10


def test_shards_are_automatic_by_default_and_the_flag_overrides(tmp_path):
    flags = ["--mode", "variable", "--train", "30", "--validation", "2", "--test", "0"]
    assert render(tmp_path / "auto", *flags) == 0
    metadata = dataset.load_metadata(str(tmp_path / "auto"))
    assert metadata["params"]["shards"] is None
    per_length = collections.Counter(f["length"] for f in metadata["files"]["train"])
    assert set(per_length.values()) == {4}
    assert len(metadata["files"]["validation"]) == 2
    assert render(tmp_path / "given", *flags, "--shards", "1") == 0
    metadata = dataset.load_metadata(str(tmp_path / "given"))
    assert metadata["params"]["shards"] == 1 and len(metadata["files"]["train"]) == 4


def test_different_seed_gives_different_sequences(tmp_path):
    flags = ["--train", "20", "--validation", "0", "--test", "0", "--shards", "1"]
    assert render(tmp_path / "a", *flags, "--seed", "1") == 0
    assert render(tmp_path / "b", *flags, "--seed", "2") == 0
    labels = [[r["label"] for r in read_split(str(tmp_path / d), "train")] for d in "ab"]
    assert labels[0] != labels[1]


# Bad input: one line on stderr naming the flag/file, exit status 2, and no COMPLETED.


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--mode", "variable", "--min-length", "4", "--max-length", "2"],
            "--min-length 4: expected at most --max-length 2",
        ),
        (["--length", "0"], "--length 0: expected at least 1"),
        (["--train", "-5"], "--train -5: expected a count of 0 or more"),
        (["--test", "-1"], "--test -1"),
        (["--train", "0"], "--train 0: the standardization statistics come from the train split"),
        (["--gap", "5,2"], "--gap 5,2: expected 0 <= MIN <= MAX"),
        (["--shards", "0"], "--shards 0: expected at least 1"),
        (["--mnist", "/nonexistent/mnist"], "MNIST source /nonexistent/mnist"),
        (["--overlap", "5,2"], "--overlap 5,2: expected 0 <= MIN <= MAX <= 27"),
        (["--overlap", "0,28"], "--overlap 0,28: expected 0 <= MIN <= MAX <= 27"),
        (["--overlap=-1,3"], "--overlap -1,3: expected 0 <= MIN <= MAX <= 27"),
        (["--scale", "0,1.2"], "--scale 0,1.2: expected 0 < MIN <= MAX"),
        (["--scale", "1.2,0.8"], "--scale 1.2,0.8: expected 0 < MIN <= MAX"),
        (["--rotation=-50,10"], "--rotation -50,10: expected -45 <= MIN <= MAX <= 45"),
        (["--rotation", "10,5"], "--rotation 10,5: expected -45 <= MIN <= MAX <= 45"),
        (["--slant", "0,1.5"], "--slant 0,1.5: expected -1 <= MIN <= MAX <= 1"),
        (["--thickness", "0,4"], "--thickness 0,4: expected -3 <= MIN <= MAX <= 3"),
        (
            ["--gap", "2,6", "--overlap", "0,12"],
            "--gap 2,6: digits are either apart or overlapping, but --overlap is 0,12 too",
        ),
        (
            ["--preset", "touching", "--gap", "1,3"],
            "--gap 1,3: digits are either apart or overlapping, but --overlap is 0,12 too",
        ),
        (["--jitter", "28"], "--jitter 28: expected 0..27"),
        (["--writer-scale", "0,1"], "--writer-scale 0,1: expected 0 < MIN <= MAX"),
        (["--writer-slant=-1.5,0"], "--writer-slant -1.5,0: expected -1 <= MIN <= MAX <= 1"),
        (["--aspect", "0.4,1"], "--aspect 0.4,1: expected 0.5 <= MIN <= MAX <= 2"),
        (["--aspect", "1.2,1.1"], "--aspect 1.2,1.1: expected 0.5 <= MIN <= MAX <= 2"),
        (["--stroke=-0.6,1"], "--stroke -0.6,1: expected -0.5 <= MIN <= MAX <= 2"),
        (["--stroke", "0,2.5"], "--stroke 0,2.5: expected -0.5 <= MIN <= MAX <= 2"),
        (["--elastic=-1,3"], "--elastic -1,3: expected 0 <= MIN <= MAX <= 100"),
        (["--elastic", "0,101"], "--elastic 0,101: expected 0 <= MIN <= MAX <= 100"),
        (["--elastic-sigma", "0.5"], "--elastic-sigma 0.5: expected 1..10"),
        (["--elastic-sigma", "nan"], "--elastic-sigma nan: expected a finite number"),
        (["--baseline", "0,9"], "--baseline 0,9: expected -8 <= MIN <= MAX <= 8"),
        (["--spacing", "0,1.5"], "--spacing 0,1.5: expected -0.5 <= MIN <= MAX <= 1"),
        (["--spacing", "inf,inf"], "--spacing inf,inf: expected finite numbers"),
        (["--spacing-jitter", "0.6"], "--spacing-jitter 0.6: expected 0..0.5"),
        (
            ["--scan", "--scan-height", "8,40"],
            "--scan-height 8,40: expected 16 <= MIN <= MAX <= 200",
        ),
        (["--scan-height", "40,30"], "--scan-height 40,30: expected 16 <= MIN <= MAX <= 200"),
        (["--scan-paper", "100,250"], "--scan-paper 100,250: expected 160 <= MIN <= MAX <= 255"),
        (
            ["--scan-ink", "0,120"],
            "--scan-ink 0,120: expected 0 <= MIN <= MAX <= --scan-paper MIN - 128 (92)",
        ),
        (
            ["--scan-paper", "200,255", "--scan-ink", "0,80"],
            "--scan-ink 0,80: expected 0 <= MIN <= MAX <= --scan-paper MIN - 128 (72)",
        ),
        (["--scan-noise", "0,9"], "--scan-noise 0,9: expected 0 <= MIN <= MAX <= 8"),
        (["--scan-texture", "0,7"], "--scan-texture 0,7: expected 0 <= MIN <= MAX <= 6"),
        (["--scan-blur", "0,3"], "--scan-blur 0,3: expected 0 <= MIN <= MAX <= 2"),
        (
            ["--scan-jpeg", "10,90"],
            "--scan-jpeg 10,90: expected 0,0 (no JPEG) or 30 <= MIN <= MAX <= 100",
        ),
        (["--scan-jpeg", "50,101"], "--scan-jpeg 50,101: expected 0,0 (no JPEG) or 30 <= MIN"),
        (["--scan-margin", "0,2.5"], "--scan-margin 0,2.5: expected 0 <= MIN <= MAX <= 2"),
        (["--scan-tilt=-11,0"], "--scan-tilt -11,0: expected -10 <= MIN <= MAX <= 10"),
        (
            ["--preset", "scanned", "--scan-tilt", "0,-inf"],
            "--scan-tilt 0.0,-inf: expected finite numbers",
        ),
    ],
)
def test_bad_parameters_are_refused(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    code = render(out, "--train", "10", "--validation", "0", "--test", "0", *flags)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert not (out / dataset.COMPLETED).exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--preset", "cursive"], "argument --preset: invalid choice: 'cursive'"),
        (["--scale", "1.2"], "argument --scale: expected MIN,MAX (two numbers), found '1.2'"),
        (["--overlap", "a,b"], "argument --overlap: expected MIN,MAX (two integers), found 'a,b'"),
    ],
)
def test_malformed_flags_are_refused_by_argparse(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert render(out, "--train", "10", *flags) == 2
    assert message in capsys.readouterr().err
    assert not (out / dataset.COMPLETED).exists()


def test_bad_mnist_file_is_refused_through_the_cli(tmp_path, capsys, idx_dir):
    with open(idx_dir / "t10k-labels-idx1-ubyte", "r+b") as f:
        f.write((2051).to_bytes(4, "big"))
    out = tmp_path / "out"
    code = render(out, "--mnist", str(idx_dir), "--train", "5")
    err = capsys.readouterr().err
    assert code == 2 and "t10k-labels-idx1-ubyte: magic number 2051, expected 2049" in err
    assert not out.exists()


def test_existing_dataset_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    flags = ["--train", "10", "--validation", "0", "--test", "0", "--shards", "1"]
    assert render(out, *flags) == 0
    before = (out / dataset.METADATA).read_text()
    assert render(out, *flags, "--seed", "9") == 2
    assert (
        "already holds a dataset (COMPLETED ...); pass --overwrite to replace what is there"
    ) in capsys.readouterr().err
    assert (out / dataset.METADATA).read_text() == before
    assert render(out, *flags, "--seed", "9", "--overwrite") == 0
    assert json.loads((out / dataset.METADATA).read_text())["seed"] == 9


def test_unwritable_output_is_refused(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = render(blocker / "out", "--train", "10")
    err = capsys.readouterr().err
    assert code == 2 and f"--out {blocker / 'out'}: cannot write there" in err


@pytest.mark.parametrize("lost", ["a shard", "metadata.json"])
def test_interrupted_job_leaves_no_completed(tmp_path, monkeypatch, lost):
    """A job that fails writing a shard, or writing metadata.json (its last file before
    COMPLETED), leaves no COMPLETED: fails if COMPLETED is written any earlier."""
    from digitseq.core import storage

    written, write_shard, write_json = [], dataset_writer.write_shard, storage.write_json

    def shard_lost(records, **kwargs):
        written.append(kwargs["path"])
        if len(written) == 1:
            raise RuntimeError("worker lost")
        return write_shard(records, **kwargs)

    def metadata_lost(path, value):
        if path.endswith(dataset.METADATA):
            raise RuntimeError("worker lost")
        write_json(path, value)

    if lost == "a shard":
        monkeypatch.setattr(dataset_writer, "write_shard", shard_lost)
    else:
        monkeypatch.setattr(storage, "write_json", metadata_lost)
    with pytest.raises(RuntimeError, match="worker lost"):
        render(
            tmp_path / "out",
            "--train",
            "10",
            "--validation",
            "0",
            "--test",
            "0",
            "--mode",
            "variable",
            "--shards",
            "1",
        )
    assert not (tmp_path / "out" / dataset.COMPLETED).exists()
    with pytest.raises(InvalidInputError, match="no COMPLETED file"):
        dataset.load_metadata(str(tmp_path / "out"))


def test_plan_is_independent_of_everything_but_params_and_seed():
    params = render_params.RenderParams(mode="variable")
    plans = planning.plan_shards(params, {"train": 1000, "test": 7}, seed=5, shards=3)
    pool = np.arange(500)

    def specs(plan, seed=5):
        return [
            (s.record_id, s.rows.tolist(), s.gaps.tolist(), s.shifts.tolist())
            for s in drawing.make_specs(plan, params, seed=seed, pool=pool)
        ]

    forward = {plan: specs(plan) for plan in plans}
    np.random.seed(0)  # a global RNG in use elsewhere, and the other order, change nothing
    np.random.random(100)
    backward = {plan: specs(plan) for plan in reversed(plans)}
    assert forward == backward
    # Another split's count changes neither this split's plans nor its sequences.
    other = planning.plan_shards(params, {"train": 1000, "test": 300}, seed=5, shards=3)
    train_plans = [p for p in plans if p.split == "train"]
    assert [p for p in other if p.split == "train"] == train_plans
    assert specs(train_plans[0]) != specs(train_plans[0], seed=6)
    assert sum(p.count for p in plans if p.split == "train") == 1000
    starts = sorted((p.start, p.count) for p in plans if p.split == "train")
    assert all(a[0] + a[1] == b[0] for a, b in zip(starts, starts[1:]))
    assert {p.length for p in plans if p.split == "test"} <= {2, 3, 4, 5}


# Layouts: overlap, handwriting variation, presets.


def _rebuild(rec: dict, source) -> np.ndarray:
    """The image as the pixel-wise maximum of the record's MNIST digits at their left columns."""
    image = np.zeros_like(rec["image"])
    for left, index in zip(rec["digit_left"], rec["source_index"]):
        box = image[:, left : left + 28]
        np.maximum(box, _digit(source, index)[0], out=box)
    return image


def test_overlapping_digits_are_the_pixelwise_maximum_at_their_columns(tmp_path, sample_mnist):
    out = tmp_path / "overlap"
    assert (
        render(
            out,
            "--mode",
            "variable",
            "--min-length",
            "2",
            "--max-length",
            "4",
            "--train",
            "60",
            "--validation",
            "0",
            "--test",
            "20",
            "--overlap",
            "3,20",
            "--shards",
            "2",
        )
        == 0
    )
    metadata = dataset.load_metadata(str(out))
    for split, source in (("train", sample_mnist.train), ("test", sample_mnist.test)):
        boundary = {f["length"]: f["max_width"] for f in metadata["files"][split]}
        widths = collections.defaultdict(set)
        for rec in read_split(str(out), split):
            n, lefts = len(rec["label"]), rec["digit_left"]
            overlaps = [28 - (right - left) for left, right in zip(lefts, lefts[1:])]
            assert lefts[0] == 0 and len(lefts) == n and all(3 <= o <= 20 for o in overlaps)
            assert rec["image"].shape == (28, 28 * n - sum(overlaps))
            assert rec["label"] == [_digit(source, i)[1] for i in rec["source_index"]]
            np.testing.assert_array_equal(rec["image"], _rebuild(rec, source))
            widths[n].add(rec["image"].shape[1])
        for n, seen in widths.items():
            assert boundary[n] == 28 * n - 3 * (n - 1) >= max(seen)
            assert len(seen) > 1


def test_pan001_overlaps_every_pair_by_15_columns(tmp_path, sample_mnist):
    out = tmp_path / "pan001"
    assert (
        render(
            out,
            "--preset",
            "pan001",
            "--length",
            "3",
            "--train",
            "20",
            "--validation",
            "0",
            "--test",
            "0",
            "--shards",
            "1",
        )
        == 0
    )
    records = read_split(str(out), "train")
    assert {r["image"].shape[1] for r in records} == {3 * 28 - 2 * 15}
    assert all(r["digit_left"] == [0, 13, 26] for r in records)
    for rec in records:
        np.testing.assert_array_equal(rec["image"], _rebuild(rec, sample_mnist.train))
    metadata = dataset.load_metadata(str(out))
    assert metadata["params"]["preset"] == "pan001" and metadata["params"]["overlap"] == [15, 15]
    assert [f["max_width"] for f in metadata["files"]["train"]] == [54]


@pytest.mark.parametrize(
    "flags, change",
    [
        (["--scale", "1.2,1.2"], {"scale": 1.2}),
        (["--rotation", "10,10"], {"rotation": 10.0}),
        (["--slant=-0.3,-0.3"], {"slant": -0.3}),
        (["--thickness", "1,1"], {"thickness": 1}),
        (["--thickness=-1,-1"], {"thickness": -1}),
    ],
    ids=["scale", "rotation", "slant", "thicker", "thinner"],
)
def test_each_variation_changes_only_what_it_says(tmp_path, sample_mnist, flags, change):
    common = [
        "--length",
        "3",
        "--train",
        "20",
        "--validation",
        "0",
        "--test",
        "0",
        "--shards",
        "1",
        "--seed",
        "4",
    ]
    assert render(tmp_path / "plain", *common) == 0
    assert render(tmp_path / "varied", *common, *flags) == 0
    plain, varied = (read_split(str(tmp_path / d), "train") for d in ("plain", "varied"))
    for before, after in zip(plain, varied):
        for key in ("id", "label", "source_index", "digit_left"):
            assert before[key] == after[key]
        assert not np.array_equal(before["image"], after["image"])
        for left, index in zip(after["digit_left"], after["source_index"]):
            expected = handwriting.vary(_digit(sample_mnist.train, index)[0], **change)
            np.testing.assert_array_equal(after["image"][:, left : left + 28], expected)


WRITERS = {
    "overlap": (0, 6),
    "scale": (0.95, 1.05),
    "rotation": (-4.0, 4.0),
    "slant": (-0.06, 0.06),
    "jitter": 1,
    "writer_scale": (0.8, 1.1),
    "writer_slant": (-0.3, 0.4),
    "aspect": (0.7, 1.25),
    "stroke": (-0.4, 1.5),
    "elastic": (0.0, 34.0),
    "baseline": (-3.0, 3.0),
    "spacing": (-0.2, 0.15),
    "spacing_jitter": 0.1,
}


def test_presets_expand_to_their_documented_fields():
    assert render_params.PRESETS == {
        "plain": {},
        "touching": {
            "overlap": (0, 12),
            "scale": (0.85, 1.15),
            "rotation": (-8.0, 8.0),
            "slant": (-0.25, 0.25),
            "thickness": (0, 1),
            "jitter": 2,
        },
        "pan001": {"overlap": (15, 15)},
        "writers": WRITERS,
        "scanned": {**WRITERS, "scan": True},
        "handwriting": {
            **WRITERS,
            "scale": (0.9, 1.1),
            "rotation": (-8.0, 8.0),
            "slant": (-0.1, 0.1),
            "aspect": (0.6, 1.3),
            "spacing": (-0.25, 0.3),
            "scan": True,
            "font_fraction": 0.5,
        },
    }
    defaults = render_params.RenderParams()
    for name, fields in render_params.PRESETS.items():
        params = render_params.preset_params(name)
        assert params.preset == name
        for field in dataclasses.fields(params):
            if field.name != "preset":
                assert getattr(params, field.name) == fields.get(
                    field.name, getattr(defaults, field.name)
                )
    assert render_params.preset_params("plain") == defaults
    explicit = render_params.preset_params("touching", overlap=(2, 4), jitter=0)
    assert explicit.overlap == (2, 4) and explicit.jitter == 0 and explicit.scale == (0.85, 1.15)
    assert render_params.preset_params("touching").max_width(5) == 5 * 28


def test_explicit_flags_override_the_preset_and_both_are_recorded(tmp_path):
    out = tmp_path / "out"
    assert (
        render(
            out,
            "--preset",
            "touching",
            "--overlap",
            "10,10",
            "--scale",
            "1,1",
            "--train",
            "10",
            "--validation",
            "0",
            "--test",
            "0",
            "--shards",
            "1",
        )
        == 0
    )
    params = dataset.load_metadata(str(out))["params"]
    assert params["preset"] == "touching" and params["overlap"] == [10, 10]
    assert params["scale"] == [1, 1] and params["rotation"] == [-8, 8] and params["jitter"] == 2
    assert {r["image"].shape[1] for r in read_split(str(out), "train")} == {5 * 28 - 4 * 10}


def test_render_help_lists_what_each_preset_sets(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    assert cli.run(["render", "--help"]) == 0
    text = capsys.readouterr().out
    assert "plain: no flags" in text
    assert (
        "touching: --overlap=0,12 --scale=0.85,1.15 --rotation=-8,8 --slant=-0.25,0.25 "
        "--thickness=0,1 --jitter=2" in text
    )
    assert "pan001: --overlap=15,15" in text
    assert (
        "writers: --overlap=0,6 --scale=0.95,1.05 --rotation=-4,4 --slant=-0.06,0.06 "
        "--jitter=1 --writer-scale=0.8,1.1 --writer-slant=-0.3,0.4 --aspect=0.7,1.25 "
        "--stroke=-0.4,1.5 --elastic=0,34 --baseline=-3,3 --spacing=-0.2,0.15 "
        "--spacing-jitter=0.1" in text
    )
    assert "--spacing-jitter=0.1 --scan" in text
