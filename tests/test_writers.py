"""Writers and paper: per-string styles, elastic distortion, continuous stroke width,
bucket bounds, and one normalisation for rendered scans and image files. Digits come from the
bundled MNIST sample."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from digitseq.pipelines import images
from digitseq.pipelines.render import drawing, handwriting, paper, planning
from digitseq.pipelines.render import params as render_params
from digitseq.schemas import dataset
from tests.conftest import render
from tests.records import read_split


def _rendered(params, sample_mnist, *, count=40, seed=3, split="train"):
    """Every sequence of a `count`-sequence split, through `drawing.render_shard` (as the job)."""
    plans = planning.plan_shards(params, {split: count}, seed=seed, shards=1)
    source = sample_mnist.test if split == "test" else sample_mnist.train
    pool = planning.digit_pool(source, split)
    return [
        (plan, rendered)
        for plan in plans
        for rendered in drawing.render_shard(plan, params, seed=seed, pool=pool, mnist_split=source)
    ]


def _writer(**fields):
    return render_params.RenderParams(mode="variable", **fields)


# One normalisation for rendered scans and image files.

SCAN_FLAGS = [
    "--preset",
    "scanned",
    "--mode",
    "variable",
    "--train",
    "24",
    "--validation",
    "0",
    "--test",
    "6",
    "--shards",
    "1",
    "--seed",
    "5",
]


@pytest.fixture(scope="module")
def scanned_dataset(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("scanned")
    assert render(out, *SCAN_FLAGS) == 0
    return str(out)


def test_a_scan_written_as_png_and_read_by_the_image_path_is_the_record(
    scanned_dataset, sample_mnist
):
    import tensorflow as tf

    params = render_params.preset_params("scanned", mode="variable")
    records = {
        r["id"]: r for split in ("train", "test") for r in read_split(scanned_dataset, split)
    }
    compared = 0
    for split, count in (("train", 24), ("test", 6)):
        for plan, rendered in _rendered(params, sample_mnist, count=count, seed=5, split=split):
            assert rendered.scan is not None and rendered.scan.dtype == np.uint8
            assert rendered.scan.mean() > 127.5  # dark ink on light paper
            png = tf.io.encode_png(rendered.scan[..., None]).numpy()
            from_file = images.normalize_file(png)
            assert not rendered.squeezed
            np.testing.assert_array_equal(from_file, rendered.image)
            written = records[rendered.record_id]
            np.testing.assert_array_equal(written["image"], rendered.image)
            assert written["digit_left"] == []  # box columns do not survive the paper
            assert written["image"].shape[1] <= plan.max_width
            compared += 1
    assert compared == len(records) == 30


def test_scanned_records_parse_and_stay_in_their_buckets(scanned_dataset):
    from digitseq.recognizer.data.reader import make_dataset

    metadata = dataset.load_metadata(scanned_dataset)
    assert metadata["params"]["scan"] is True and metadata["params"]["preset"] == "scanned"
    for entry in metadata["files"]["train"]:
        assert entry["max_width"] == render_params.preset_params("scanned").max_width(
            entry["length"]
        )
    widths = [int(w) for w in metadata["width_histogram"]["train"]]
    assert len(set(widths)) > 5
    from digitseq.schemas import batch

    seen, boundary = 0, max(e["max_width"] for e in metadata["files"]["train"])
    for features, _labels in make_dataset(scanned_dataset, "train", 8):
        seen += int(features[batch.WIDTH].shape[0])
        assert int(features[batch.FRAMES].shape[1]) <= boundary
        assert int(max(features[batch.WIDTH])) <= boundary
    assert seen == 24


def test_a_wider_normalised_scan_is_squeezed_to_the_bucket():
    strip = np.full((40, 400), 240, np.uint8)
    strip[18:22, 20:380] = 30  # a long, flat stroke: its normalised width far exceeds 100
    assert images.normalize(strip.astype(np.float32)).shape[1] > 100
    image, squeezed = paper.to_record(strip, 100)
    assert squeezed and image.shape == (28, 100)
    fitting, squeezed = paper.to_record(strip, 10_000)
    assert not squeezed
    np.testing.assert_array_equal(fitting, images.normalize(strip.astype(np.float32)))


def test_scan_is_a_pure_function_of_its_look(sample_mnist):
    image = np.concatenate(list(sample_mnist.train.images[:3]), axis=1)
    look = paper.ScanLook(
        height=40,
        ink=40,
        paper=230,
        noise=3.0,
        texture=3.0,
        blur=0.6,
        jpeg=70,
        margin=0.4,
        tilt=3.0,
        seed=11,
    )
    first = paper.scan(image, look)
    np.testing.assert_array_equal(first, paper.scan(image, look))
    assert not np.array_equal(first, paper.scan(image, dataclasses.replace(look, seed=12)))
    band = first.shape[0] / (1 + 2 * 0.4 + 2 * np.ceil(84 * np.sin(np.radians(3)) / 2) / 28)
    assert band == pytest.approx(40, abs=2)


def test_a_string_scans_the_same_alone_and_among_others(sample_mnist):
    params = render_params.preset_params(
        "scanned", scan_blur=(0.0, 2.0), scan_tilt=(-8.0, 8.0), scan_height=(16, 90)
    )
    looks = paper.draw_looks(np.random.default_rng(3), params, 2 * paper.GROUP + 5)
    digits = sample_mnist.train.images
    strings = [np.concatenate(list(digits[i : i + 2 + i % 4]), axis=1) for i in range(len(looks))]
    together = paper.scan_batch(strings, looks)
    assert len({page.shape for page in together}) > paper.GROUP  # groups of mixed sizes
    for string, look, page in zip(strings, looks, together):
        np.testing.assert_array_equal(page, paper.scan(string, look))


# Handwriting beyond MNIST's writers.


def _mass(images_: np.ndarray) -> np.ndarray:
    return images_.astype(np.float64).sum(axis=(-2, -1))


def test_elastic_distortion_is_reproducible_bounded_and_keeps_the_ink(sample_mnist):
    digits = sample_mnist.train.images[:100]
    noise = np.random.default_rng(0).uniform(-1, 1, size=(100, 2, 28, 28))
    field = handwriting.elastic_field(noise, np.full(100, 34.0), 4.0)
    np.testing.assert_array_equal(field, handwriting.elastic_field(noise, np.full(100, 34.0), 4.0))
    # Simard's field: alpha times uniform noise smoothed by a Gaussian of sigma 4, whose standard
    # deviation is about alpha * 0.577 / (2 sqrt(pi) sigma) = 1.38 pixels here.
    assert 0.9 < float(field.std()) < 1.6 and float(np.abs(field).max()) < 8
    inverse = handwriting.inverse_matrices(
        scale=np.ones(100), slant=np.zeros(100), rotation=np.zeros(100), aspect=np.ones(100)
    )
    widths = np.full(100, 28)
    still = handwriting.to_uint8(handwriting.warp_batch(digits, inverse, widths, 28))
    np.testing.assert_array_equal(still, digits)  # no displacement, no change
    moved = handwriting.to_uint8(handwriting.warp_batch(digits, inverse, widths, 28, field))
    assert all(not np.array_equal(a, b) for a, b in zip(moved, digits))
    ratio = _mass(moved) / _mass(digits)  # stretched here, squeezed there, but no ink lost
    assert ratio.min() > 0.5 and ratio.max() < 1.6 and 0.9 < float(np.median(ratio)) < 1.1
    # Through the renderer: the same seed gives the same bytes, another seed others.
    params = _writer(elastic=(20.0, 40.0))
    one, again = (_rendered(params, sample_mnist, count=20) for _ in range(2))
    other = _rendered(params, sample_mnist, count=20, seed=4)
    assert all(np.array_equal(a[1].image, b[1].image) for a, b in zip(one, again))
    assert any(
        a[1].image.shape != b[1].image.shape or not np.array_equal(a[1].image, b[1].image)
        for a, b in zip(one, other)
    )


@pytest.mark.parametrize("stroke", [-0.5, -0.25, 0.3, 1.0, 1.5, 2.0])
def test_stroke_width_varies_continuously_within_its_stated_ink_range(sample_mnist, stroke):
    """Documented: below 0 every pixel keeps at least 1 + stroke of its ink (so the mass stays in
    [1 + stroke, 1] x the original and no digit is erased); above 0 the mass grows, within
    [1, 1 + 2 * stroke] x the original."""
    digits = sample_mnist.train.images[:200].astype(np.float32)
    out = handwriting.stroke_batch(digits, np.full(200, stroke))
    ratio = _mass(out) / _mass(digits)
    eroded = np.stack([handwriting.thicken(d, -1) for d in digits.astype(np.uint8)])
    if stroke < 0:  # the documented blend with one erosion step
        np.testing.assert_allclose(out, (1 + stroke) * digits - stroke * eroded, atol=1e-3)
    elif stroke == int(stroke):  # whole steps are grey dilations by the 3x3 cross
        np.testing.assert_array_equal(
            out, np.stack([handwriting.thicken(d, int(stroke)) for d in digits.astype(np.uint8)])
        )
    if stroke < 0:
        assert np.all(out >= (1 + stroke) * digits - 1e-3)
        assert ratio.min() >= 1 + stroke - 1e-6 and ratio.max() <= 1
    else:
        assert ratio.min() >= 1 and ratio.max() <= 1 + 2 * stroke
    a_little_more = handwriting.stroke_batch(
        digits, np.full(200, stroke + 0.1 if stroke < 2 else stroke)
    )
    assert np.all(_mass(a_little_more) >= _mass(out) - 1e-3)  # monotone in the stroke


def _lean(image: np.ndarray) -> float:
    """How far right the ink of the top half sits from that of the bottom half, in columns."""

    def column(part):
        part = part.astype(np.float64)
        return float((part.sum(axis=0) * np.arange(part.shape[1])).sum() / max(part.sum(), 1))

    return column(image[:14]) - column(image[14:])


def test_aspect_and_writer_slant_are_per_string_and_slant_is_per_digit(sample_mnist):
    aspect = _rendered(_writer(aspect=(0.6, 1.4)), sample_mnist, count=60)
    boxes = []
    for _, rendered in aspect:
        steps = np.diff(rendered.digit_left)
        assert len(set(steps.tolist())) <= 1  # one box width per string
        box = rendered.image.shape[1] - rendered.digit_left[-1]
        assert 17 <= box <= 39 and (not len(steps) or steps[0] == box)
        boxes.append(box)
    assert len(set(boxes)) > 8

    def spread(params):
        """Mean within-string and across-string standard deviation of the digits' lean change."""
        within, means = [], []
        for _, rendered in _rendered(params, sample_mnist, count=60):
            lefts = rendered.digit_left
            leans = [
                _lean(rendered.image[:, left : left + 28])
                - _lean(
                    sample_mnist.train.images[np.searchsorted(sample_mnist.train.indices, index)]
                )
                for left, index in zip(lefts, rendered.source_index)
            ]
            within.append(np.std(leans))
            means.append(np.mean(leans))
        return float(np.mean(within)), float(np.std(means))

    writer_within, writer_across = spread(_writer(writer_slant=(-0.5, 0.5)))
    digit_within, digit_across = spread(_writer(slant=(-0.5, 0.5), elastic=(0.0, 1.0)))
    assert writer_within < 0.5 * writer_across  # digits of one writer lean alike
    assert digit_within > 2 * writer_within  # per-digit slant differs within a string


def test_spacing_is_per_string_and_its_jitter_per_pair(sample_mnist):
    def advances(params):
        return [
            np.diff(r.digit_left).tolist()
            for _, r in _rendered(params, sample_mnist, count=60)
            if len(r.digit_left) > 2
        ]

    steady = advances(_writer(spacing=(-0.4, 0.6)))
    assert all(len(set(a)) == 1 for a in steady)
    assert len({a[0] for a in steady}) > 8 and min(a[0] for a in steady) < 28 < max(
        a[0] for a in steady
    )
    varying = advances(_writer(spacing=(0.0, 0.0), spacing_jitter=0.3))
    assert sum(len(set(a)) > 1 for a in varying) > 0.8 * len(varying)
    assert all(28 - 8 <= step <= 28 + 8 for a in varying for step in a)  # round(28 * 0.3) = 8


def test_baseline_drifts_from_the_first_digit_to_the_last(sample_mnist):
    """Baseline 6 rows: digit i of n moves round(6 * (i / (n - 1) - 1/2)) rows down, the first 3
    up and the last 3 down; nothing else changes."""
    source = sample_mnist.train
    for _, rendered in _rendered(_writer(baseline=(6.0, 6.0)), sample_mnist):
        n = len(rendered.label)
        assert rendered.digit_left == tuple(range(0, 28 * n, 28))
        for i, index in enumerate(rendered.source_index):
            shift = int(np.floor(6.0 * (i / (n - 1) - 0.5) + 0.5)) if n > 1 else 0
            digit = source.images[np.searchsorted(source.indices, index)]
            np.testing.assert_array_equal(
                rendered.image[:, 28 * i : 28 * (i + 1)], handwriting.shift_vertically(digit, shift)
            )
        assert n == 1 or abs(int(np.floor(6.0 * 0.5 + 0.5))) == 3


def test_max_width_bounds_every_new_option(sample_mnist):
    """Wide boxes, wide gaps with jitter, overlaps and scans: no record is wider than its plan's
    max_width, and the widest layouts come close to it."""
    for fields, tight in (
        ({"aspect": (1.8, 2.0), "spacing": (0.8, 1.0), "spacing_jitter": 0.5}, True),
        (
            {
                "aspect": (0.5, 2.0),
                "overlap": (0, 27),
                "spacing": (-0.5, 0.2),
                "spacing_jitter": 0.5,
            },
            False,
        ),
        ({"gap": (0, 9), "spacing": (0.3, 0.3), "spacing_jitter": 0.2, "aspect": (1.5, 1.5)}, True),
    ):
        params = _writer(**fields)
        ratios = []
        for plan, rendered in _rendered(params, sample_mnist, count=60):
            assert rendered.image.shape[1] <= plan.max_width == params.max_width(plan.length)
            ratios.append(rendered.image.shape[1] / plan.max_width)
        assert max(ratios) > (0.85 if tight else 0.5)
    params = render_params.preset_params("scanned", mode="variable", aspect=(1.0, 2.0))
    for plan, rendered in _rendered(params, sample_mnist, count=30):
        assert rendered.image.shape[1] <= plan.max_width


def test_old_layouts_keep_the_per_digit_path_and_their_metadata():
    for name in ("plain", "touching", "pan001"):
        params = render_params.preset_params(name)
        assert params.digit_by_digit
        assert set(params.metadata()) == {f.name for f in dataclasses.fields(params)} - set(
            render_params.STYLE_FIELDS
        )
    for name in ("writers", "scanned"):
        assert not render_params.preset_params(name).digit_by_digit
    scanned = render_params.preset_params("scanned").metadata()
    assert set(render_params.SCAN_FIELDS) <= set(scanned)
