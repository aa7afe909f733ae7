"""Training-time augmentation: in the reader's graph, only when training, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from digitseq.core.errors import ConfigError
from digitseq.recognizer.config import Augmentation, ReaderConfig
from digitseq.recognizer.data import augment
from digitseq.recognizer.data import reader as data
from digitseq.schemas import batch

AUGMENT = ReaderConfig(augment=True)


def _first(dataset):
    features, labels = next(iter(dataset))
    return features[batch.FRAMES].numpy(), features[batch.WIDTH].numpy(), labels


def test_training_batches_are_warped_reproducibly(variable_dataset):
    plain, widths, _ = _first(
        data.make_dataset(variable_dataset, "train", 16, training=True, seed=4)
    )
    warped, warped_widths, _ = _first(
        data.make_dataset(variable_dataset, "train", 16, training=True, seed=4, config=AUGMENT)
    )
    again, _, _ = _first(
        data.make_dataset(variable_dataset, "train", 16, training=True, seed=4, config=AUGMENT)
    )
    other, _, _ = _first(
        data.make_dataset(variable_dataset, "train", 16, training=True, seed=5, config=AUGMENT)
    )
    np.testing.assert_array_equal(widths, warped_widths)
    assert not np.array_equal(plain, warped)
    np.testing.assert_array_equal(warped, again)
    assert warped.shape == plain.shape and warped.dtype == np.uint8
    for i, width in enumerate(warped_widths):
        assert not warped[i, width:].any()
        # A mild warp keeps most of the ink.
        assert 0.7 < warped[i].astype(float).sum() / plain[i].astype(float).sum() < 1.3
    assert other.shape != warped.shape or not np.array_equal(other, warped)


def test_evaluation_batches_are_never_warped(variable_dataset):
    plain, _, _ = _first(data.make_dataset(variable_dataset, "validation", 16))
    same, _, _ = _first(data.make_dataset(variable_dataset, "validation", 16, config=AUGMENT))
    np.testing.assert_array_equal(plain, same)


def test_a_zero_warp_is_the_identity():
    frames = tf.constant(np.random.default_rng(0).integers(0, 256, (2, 30, 28)), tf.uint8)
    frames = tf.where(tf.sequence_mask([30, 20], 30)[..., None], frames, tf.zeros_like(frames))
    none = Augmentation(shear=0, scale=0, shift=0, rotation=0)
    out = augment.warp_frames(frames, tf.constant([30, 20]), tf.constant([1, 2]), none)
    np.testing.assert_array_equal(out.numpy(), frames.numpy())


@pytest.mark.parametrize(
    "field, value",
    [
        ("shear", 2.0),
        ("scale", -0.1),
        ("shift", 9.0),
        ("rotation", 31.0),
        ("elastic", -1.0),
        ("elastic", 101.0),
    ],
)
def test_bad_ranges_are_refused(field, value):
    with pytest.raises(ConfigError, match=f"^{field} {value}: expected 0.."):
        Augmentation(**{field: value})


@pytest.mark.parametrize("value", [0.5, 11.0, float("nan"), float("inf")])
def test_bad_elastic_smoothing_is_refused(value):
    with pytest.raises(ConfigError, match="^elastic_sigma"):
        Augmentation(elastic=34, elastic_sigma=value)


def test_displacing_by_whole_pixels_moves_the_image_and_fills_zeros():
    images = tf.constant(np.random.default_rng(1).uniform(0, 255, (2, 9, 7)), tf.float32)
    still = augment.displace(images, tf.zeros([2, 2, 9, 7]))
    np.testing.assert_allclose(still.numpy(), images.numpy())
    # Output column t takes input column t + 2; output row y takes input row y - 1.
    field = tf.broadcast_to(tf.constant([2.0, -1.0])[:, None, None], [2, 2, 9, 7])
    moved = augment.displace(images, field).numpy()
    np.testing.assert_allclose(moved[:, :-2, 1:], images.numpy()[:, 2:, :-1], rtol=1e-6)
    assert not moved[:, -2:].any() and not moved[:, :, 0].any()


def test_displacing_by_half_a_pixel_averages_neighbours():
    images = tf.constant(np.random.default_rng(2).uniform(0, 255, (1, 6, 5)), tf.float32)
    field = tf.broadcast_to(tf.constant([0.5, 0.0])[:, None, None], [1, 2, 6, 5])
    moved = augment.displace(images, field).numpy()
    expected = (images.numpy()[:, :-1] + images.numpy()[:, 1:]) / 2
    np.testing.assert_allclose(moved[:, :-1], expected, rtol=1e-5)


def test_displacing_agrees_with_bilinear_sampling_done_by_hand():
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (2, 8, 6)).astype(np.float32)
    field = rng.uniform(-4, 4, (2, 2, 8, 6)).astype(np.float32)  # many samples fall outside
    moved = augment.displace(tf.constant(images), tf.constant(field)).numpy()

    def pixel(b, t, y):
        inside = 0 <= t < images.shape[1] and 0 <= y < images.shape[2]
        return images[b, t, y] if inside else 0.0

    for b, t, y in np.ndindex(images.shape):
        at_t, at_y = t + field[b, 0, t, y], y + field[b, 1, t, y]
        t0, y0 = int(np.floor(at_t)), int(np.floor(at_y))
        ft, fy = at_t - t0, at_y - y0
        expected = (1 - ft) * ((1 - fy) * pixel(b, t0, y0) + fy * pixel(b, t0, y0 + 1)) + ft * (
            (1 - fy) * pixel(b, t0 + 1, y0) + fy * pixel(b, t0 + 1, y0 + 1)
        )
        assert moved[b, t, y] == pytest.approx(expected, rel=1e-4, abs=1e-3), (b, t, y)


def test_elastic_fields_are_smooth_and_scale_with_their_strength():
    shape, seed = tf.constant([3, 60, 28]), tf.constant([5, 6], tf.int64)
    field = augment.elastic_field(shape, tf.constant([0.0, 10.0, 34.0]), 4.0, seed).numpy()
    stronger = augment.elastic_field(shape, tf.constant([34.0] * 3), 4.0, seed).numpy()
    assert field.shape == (3, 2, 60, 28)
    assert not field[0].any()
    np.testing.assert_allclose(stronger[1], field[1] * 3.4, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(stronger[2], field[2])
    # Simard et al.'s alpha 34, sigma 4 moves pixels about a pixel or two, and smoothly.
    assert 0.5 < field[2].std() < 3.0
    for axis in (1, 2):
        assert np.abs(np.diff(field[2], axis=axis)).mean() < 0.25 * np.abs(field[2]).mean()


def test_elastic_warps_are_reproducible_and_keep_widths(variable_dataset):
    config = ReaderConfig(augment=True, augmentation=Augmentation(elastic=34))
    affine, _, _ = _first(
        data.make_dataset(variable_dataset, "train", 16, training=True, seed=4, config=AUGMENT)
    )
    warped, widths, _ = _first(
        data.make_dataset(variable_dataset, "train", 16, training=True, seed=4, config=config)
    )
    again, _, _ = _first(
        data.make_dataset(variable_dataset, "train", 16, training=True, seed=4, config=config)
    )
    np.testing.assert_array_equal(warped, again)
    assert not np.array_equal(warped, affine)
    for i, width in enumerate(widths):
        assert not warped[i, width:].any()
        assert 0.7 < warped[i].astype(float).sum() / affine[i].astype(float).sum() < 1.3
