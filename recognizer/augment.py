"""Training-time augmentation of whole batches, in the tf.data graph (no `py_function`).

Each sequence gets its own random affine warp of its image: a slant (horizontal shear about the
middle row), a vertical scale about the middle row, a vertical shift and a small rotation.
Widths and labels do not change: the warp keeps the string's left-to-right order and its columns,
and what leaves the image is cut (the ranges are small enough that MNIST's four blank border rows
and columns absorb it). Pixels beyond each sequence's width stay zero.

Randomness is stateless: every batch draws its parameters from a seed pair that the caller
supplies (in `recognizer.data`, a `tf.data.Dataset.random` stream from the training seed), so the
same seed gives the same warps in the same order.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

from schemas.errors import ConfigError
from schemas.options import check_finite, option


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Ranges of the random warp; each value is drawn uniformly per sequence.

    Attributes:
      shear: largest slant, as horizontal pixels per row (0.3 moves the top row about 4 pixels).
      scale: largest relative change of height (0.1: 0.9 to 1.1 times as tall).
      shift: largest vertical shift in pixels, either way.
      rotation: largest rotation in degrees, either way.
    """

    shear: float = option(0.3, flag="--augment-shear")
    scale: float = option(0.1, flag="--augment-scale")
    shift: float = option(2.0, flag="--augment-shift")
    rotation: float = option(2.0, flag="--augment-rotation")

    def __post_init__(self):
        check_finite(self)
        for name, high in (("shear", 1.0), ("scale", 0.5), ("shift", 8.0), ("rotation", 30.0)):
            if not 0 <= getattr(self, name) <= high:
                raise ConfigError(name, getattr(self, name), f"expected 0..{high:g}")


def warp_frames(frames: tf.Tensor, widths: tf.Tensor, seed: tf.Tensor,
                augmentation: Augmentation) -> tf.Tensor:
    """Warps a batch of frames `uint8 [B, T, height]`; returns the same shape and dtype.

    Args:
      frames: time-major frames, zero beyond each sequence's width.
      widths: int `[B]`, each sequence's real columns.
      seed: int `[2]`, the stateless seed of this batch.
      augmentation: the ranges.
    """
    batch = tf.shape(frames)[0]
    height = tf.cast(tf.shape(frames)[2], tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)

    def draw(i, limit):
        return tf.random.stateless_uniform([batch], seeds[i], -limit, limit)

    shear = draw(0, augmentation.shear)
    scale = 1.0 + draw(1, augmentation.scale)
    shift = draw(2, augmentation.shift)
    angle = draw(3, augmentation.rotation * math.pi / 180)
    # Output pixel (x, y) takes input pixel (a0 x + a1 y + a2, b0 x + b1 y + b2), with y measured
    # from the middle row: a slant, then a rotation about (x0, middle), then the vertical scale.
    middle = (height - 1) / 2
    x0 = tf.cast(widths, tf.float32) / 2
    cos, sin = tf.cos(angle), tf.sin(angle)
    a0, a1 = cos, sin / scale + shear
    b0, b1 = -sin, cos / scale
    a2 = x0 - a0 * x0 - a1 * middle
    b2 = middle - b0 * x0 - b1 * middle - shift
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    images = tf.transpose(tf.cast(frames, tf.float32), [0, 2, 1])[..., None]
    warped = keras.ops.image.affine_transform(
        images, transforms, interpolation="bilinear", fill_mode="constant", fill_value=0.0,
        data_format="channels_last")
    warped = tf.transpose(warped[..., 0], [0, 2, 1])
    inside = tf.sequence_mask(widths, tf.shape(frames)[1])[..., None]
    warped = tf.where(inside, warped, 0.0)
    return tf.cast(tf.clip_by_value(tf.round(warped), 0, 255), tf.uint8)
