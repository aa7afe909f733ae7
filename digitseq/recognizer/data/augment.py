"""Training-time augmentation of whole batches, in the tf.data graph (no `py_function`).

Each sequence gets its own random affine warp of its image: a slant (horizontal shear about the
middle row), a vertical scale about the middle row, a vertical shift and a small rotation; then,
when asked for, an elastic distortion (Simard et al. 2003: a random displacement field smoothed
by a Gaussian, its strength drawn per sequence), so that every epoch sees differently written
digits rather than the same MNIST strokes again.
Widths and labels do not change: the warp keeps the string's left-to-right order and its columns,
and what leaves the image is cut (the ranges are small enough that MNIST's four blank border rows
and columns absorb it). Pixels beyond each sequence's width stay zero.

Randomness is stateless: every batch draws its parameters from a seed pair that the caller
supplies (in `recognizer.data.reader`, a `tf.data.Dataset.random` stream from the training seed), so the
same seed gives the same warps in the same order.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from digitseq.recognizer.config import Augmentation


def warp_frames(
    frames: tf.Tensor, widths: tf.Tensor, seed: tf.Tensor, augmentation: Augmentation
) -> tf.Tensor:
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
        images,
        transforms,
        interpolation="bilinear",
        fill_mode="constant",
        fill_value=0.0,
        data_format="channels_last",
    )
    warped = tf.transpose(warped[..., 0], [0, 2, 1])
    if augmentation.elastic > 0:
        # Seeds of their own, so that adding the distortion leaves the affine warps as they were.
        more = tf.random.experimental.stateless_split(
            tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), 1), 2
        )
        strength = tf.random.stateless_uniform([batch], more[0], 0, augmentation.elastic)
        field = elastic_field(tf.shape(warped), strength, augmentation.elastic_sigma, more[1])
        warped = displace(warped, field)
    inside = tf.sequence_mask(widths, tf.shape(frames)[1])[..., None]
    warped = tf.where(inside, warped, 0.0)
    return tf.cast(tf.clip_by_value(tf.round(warped), 0, 255), tf.uint8)


def elastic_field(
    shape: tf.Tensor, strength: tf.Tensor, sigma: float, seed: tf.Tensor
) -> tf.Tensor:
    """Random displacements `float32 [B, 2, T, height]` (columns, then rows), in pixels.

    Uniform noise in -1..1, smoothed by a Gaussian of `sigma` pixels (cut at four sigmas, zero
    beyond the image) and scaled by each sequence's `strength` `[B]`.
    """
    noise = tf.random.stateless_uniform([shape[0] * 2, shape[1], shape[2]], seed, -1.0, 1.0)
    along_rows = tf.matmul(noise, _gaussian_matrix(shape[2], sigma))
    smoothed = tf.matmul(_gaussian_matrix(shape[1], sigma), along_rows)
    return tf.reshape(smoothed, [shape[0], 2, shape[1], shape[2]]) * strength[:, None, None, None]


def _gaussian_matrix(size: tf.Tensor, sigma: float) -> tf.Tensor:
    """Symmetric `[size, size]` matrix `G` with `G @ v` the Gaussian smoothing of `v`, zero
    outside (a convolution with the kernel cut at four sigmas; a product is far cheaper here).
    The render job's `handwriting.gaussian_matrix` is the same filter in numpy; this one is built
    in the graph because a batch's width is known only there."""
    reach = float(int(4 * sigma + 0.5))
    taps = tf.exp(-0.5 * (tf.range(-reach, reach + 1) / sigma) ** 2)
    index = tf.cast(tf.range(size), tf.float32)
    distance = index[:, None] - index[None, :]
    weights = tf.where(tf.abs(distance) <= reach, tf.exp(-0.5 * (distance / sigma) ** 2), 0.0)
    return weights / tf.reduce_sum(taps)


def displace(images: tf.Tensor, field: tf.Tensor) -> tf.Tensor:
    """Bilinear resampling: output pixel (t, y) of `images` `float32 [B, T, height]` takes the
    input at (t + field[:, 0], y + field[:, 1]) (`field` `[B, 2, T, height]`); outside the image
    is zero.

    The image gets a border of zeros one pixel wide, and the sampling positions are clipped to
    it, so every corner of every position is a valid index and no mask is needed.
    """
    shape = tf.shape(images)
    columns, rows = shape[1] + 2, shape[2] + 2
    padded = tf.reshape(tf.pad(images, [[0, 0], [1, 1], [1, 1]]), [-1])
    t = tf.clip_by_value(
        tf.cast(tf.range(1, columns - 1), tf.float32)[None, :, None] + field[:, 0],
        0.0,
        tf.cast(columns - 1, tf.float32),
    )
    y = tf.clip_by_value(
        tf.cast(tf.range(1, rows - 1), tf.float32)[None, None, :] + field[:, 1],
        0.0,
        tf.cast(rows - 1, tf.float32),
    )
    t0 = tf.minimum(tf.floor(t), tf.cast(columns - 2, tf.float32))
    y0 = tf.minimum(tf.floor(y), tf.cast(rows - 2, tf.float32))
    dt, dy = t - t0, y - y0
    corner = (
        (tf.range(shape[0]) * columns * rows)[:, None, None]
        + tf.cast(t0, tf.int32) * rows
        + tf.cast(y0, tf.int32)
    )
    values = tf.gather(padded, tf.stack([corner, corner + 1, corner + rows, corner + rows + 1]))
    return (1 - dt) * ((1 - dy) * values[0] + dy * values[1]) + dt * (
        (1 - dy) * values[2] + dy * values[3]
    )
