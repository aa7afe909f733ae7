"""Training-time augmentation: in the reader's graph, only when training, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from recognizer import augment, data
from schemas import batch
from schemas.errors import ConfigError

AUGMENT = data.ReaderConfig(augment=True)


def _first(dataset):
    features, labels = next(iter(dataset))
    return features[batch.FRAMES].numpy(), features[batch.WIDTH].numpy(), labels


def test_training_batches_are_warped_reproducibly(variable_dataset):
    plain, widths, _ = _first(data.make_dataset(variable_dataset, "train", 16, training=True,
                                                seed=4))
    warped, warped_widths, _ = _first(data.make_dataset(variable_dataset, "train", 16,
                                                        training=True, seed=4, config=AUGMENT))
    again, _, _ = _first(data.make_dataset(variable_dataset, "train", 16, training=True, seed=4,
                                           config=AUGMENT))
    other, _, _ = _first(data.make_dataset(variable_dataset, "train", 16, training=True, seed=5,
                                           config=AUGMENT))
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
    none = augment.Augmentation(shear=0, scale=0, shift=0, rotation=0)
    out = augment.warp_frames(frames, tf.constant([30, 20]), tf.constant([1, 2]), none)
    np.testing.assert_array_equal(out.numpy(), frames.numpy())


@pytest.mark.parametrize("field, value", [("shear", 2.0), ("scale", -0.1), ("shift", 9.0),
                                          ("rotation", 31.0)])
def test_bad_ranges_are_refused(field, value):
    with pytest.raises(ConfigError, match=f"^{field} {value}: expected 0.."):
        augment.Augmentation(**{field: value})
