"""Custom Keras layers of the recognizer, registered so `model.keras` loads with safe_mode=True.

`import recognizer.model.layers` registers them.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

PACKAGE = "digitseq"


def output_lengths(widths, downsample: int):
    """Frames a network that downsamples by `downsample` emits for sequences `widths` wide:
    ceil(width / downsample)."""
    widths = ops.cast(widths, "int32")
    return (widths + downsample - 1) // downsample


def frame_mask(lengths, frames: int):
    """Boolean `[B, frames]`: frame t < length."""
    steps = ops.arange(frames, dtype="int32")
    return ops.expand_dims(steps, 0) < ops.expand_dims(ops.cast(lengths, "int32"), 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Standardize(keras.layers.Layer):
    """Raw uint8 frames `[B, T, height]` -> float32 `(x - mean) / std` per feature (image row).

    The constants come from the dataset's `stats.json`; a row that never varies (std near 0) is
    only centred.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], **kwargs):
        super().__init__(**kwargs)
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} values, std {len(std)}: expected the same")
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    def call(self, frames):
        mean = ops.convert_to_tensor(self.mean, "float32")
        std = ops.convert_to_tensor(self.std, "float32")
        std = ops.where(std > 1e-3, std, ops.ones_like(std))
        return (ops.cast(frames, "float32") - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package=PACKAGE)
class OutputLengths(keras.layers.Layer):
    """Sequence widths `[B]` -> frames the network emits for them: ceil(width / downsample)."""

    def __init__(self, downsample: int = 1, **kwargs):
        super().__init__(**kwargs)
        if downsample < 1:
            raise ValueError(f"downsample {downsample}: expected at least 1")
        self.downsample = int(downsample)

    def call(self, widths):
        return output_lengths(widths, self.downsample)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "downsample": self.downsample}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LengthMask(keras.layers.Layer):
    """`[lengths [B], sequence [B, T, ...]]` -> boolean mask `[B, T]`: frame t < length."""

    def call(self, inputs):
        lengths, sequence = inputs
        return frame_mask(lengths, ops.shape(sequence)[1])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1][:2])


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroBeyondWidth(keras.layers.Layer):
    """`[x [B, T, ...], width [B]]` -> x with frames t >= ceil(width / downsample) set to 0.

    After standardization a padded (raw 0) frame would be -mean/std, and after a convolution the
    frames just past the end hold activations of the last real ones; zeroing them makes padding
    look like convolution's own 'same' padding, so outputs do not depend on the bucket width.
    """

    def __init__(self, downsample: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.downsample = int(downsample)

    def call(self, inputs):
        x, width = inputs
        keep = ops.cast(
            frame_mask(output_lengths(width, self.downsample), ops.shape(x)[1]), x.dtype
        )
        for _ in range(len(x.shape) - 2):
            keep = ops.expand_dims(keep, -1)
        return x * keep

    def get_config(self):
        return {**super().get_config(), "downsample": self.downsample}

    def compute_output_shape(self, input_shape):
        return input_shape[0]
