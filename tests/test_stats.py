"""RowMomentsFn: exact per-row statistics, independent of block size and merge order."""

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from digitseq.pipelines.statistics import RowMoments, RowMomentsFn


def _images(sample_mnist, n=50):
    rng = np.random.default_rng(0)
    return [
        np.concatenate(list(sample_mnist.train.images[rng.integers(0, 1000, k)]), axis=1)
        for k in rng.integers(1, 6, n)
    ]


def test_combine_in_a_pipeline_matches_numpy(sample_mnist):
    images = _images(sample_mnist)
    frames = np.concatenate(images, axis=1).astype(np.float64)
    expected = {
        "count": frames.shape[1],
        "mean": frames.mean(axis=1).tolist(),
        "std": frames.std(axis=1).tolist(),
    }
    with TestPipeline(runner="FnApiRunner") as pipeline:
        stats = (
            pipeline
            | beam.Create(images)
            | beam.CombineGlobally(RowMomentsFn(height=28, block_columns=300))
            | beam.Map(lambda m: m.to_json())
        )
        assert_that(
            stats | beam.Map(lambda s: s["count"]), equal_to([expected["count"]]), label="count"
        )
        assert_that(
            stats
            | beam.Map(
                lambda s: bool(
                    np.allclose(s["mean"], expected["mean"], rtol=1e-12, atol=0)
                    and np.allclose(s["std"], expected["std"], rtol=1e-12, atol=1e-12)
                )
            ),
            equal_to([True]),
            label="moments",
        )


def test_merge_order_and_blocking_do_not_change_a_bit(sample_mnist):
    images = _images(sample_mnist)
    results = []
    for block_columns, order in (
        (1, images),
        (10_000, images[::-1]),
        (97, images[1::2] + images[::2]),
    ):
        fn = RowMomentsFn(height=28, block_columns=block_columns)
        parts = [fn.create_accumulator() for _ in range(3)]
        for i, image in enumerate(order):
            fn.add_input(parts[i % 3], image)
        results.append(fn.extract_output(fn.merge_accumulators(parts)).to_json())
    assert results[0] == results[1] == results[2]


def test_global_statistics_over_all_pixels():
    image = np.array([[0, 255, 3], [10, 10, 10]], np.uint8)
    stats = RowMoments.of_image(image).to_json()
    assert stats["mean"] == [86.0, 10.0] and stats["std"][1] == 0.0
    assert np.isclose(stats["global_mean"], image.mean())
    assert np.isclose(stats["global_std"], image.astype(float).std())
