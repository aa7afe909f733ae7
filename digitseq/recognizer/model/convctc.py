"""The convolutional CTC recognizer (`--arch convctc`): no recurrence, every layer parallel in time.

    frames [B, T, height] (standardized, zero beyond width)
      -> conv_blocks x (conv_layers x (3x3 conv, batch norm, ReLU), the block's first changing the
         channels and each further one residual (depthwise-separable with `conv_separable`);
         then 2x2 max-pool (the blocks after the first `width_pools`: 1x2, height only); the
         first `conv_single_blocks` blocks have one convolution)
         [B, ceil(T / 2^width_pools), ...]
      -> the remaining rows x channels of each column folded into `units` features (Dense)
      -> layers x residual (x + dropout(ReLU(BN(conv1d(x))))), layer i dilated dilation^i
      -> Dense to the 11 classes

Assumptions: inputs are already zero beyond each sequence's width (the model's first
`ZeroBeyondWidth`). Every convolution here has stride 1 and 'same' padding, whose left padding
does not depend on the input's length; downsampling is left to 2x2 max-pooling, which pads only on
the right. With the frames past ceil(width / downsample) zeroed after every convolution and every
pooling, the outputs on real frames are those of the unpadded sequence. (A strided 3x3 convolution
would pad on the left or not depending on the parity of the bucket width.)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from keras import layers

from digitseq.recognizer.model import ctc
from digitseq.recognizer.model.layers import OutputLengths, ZeroBeyondWidth

if TYPE_CHECKING:
    from digitseq.recognizer.config import ModelConfig


def _conv_bn_relu(
    x, width, filters: int, downsample: int, name: str, *, residual: bool, separable: bool = False
):
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    y = conv(filters, 3, padding="same", use_bias=False, name=name)(x)
    y = layers.BatchNormalization(name=f"{name}_norm")(y)
    if residual:
        y = layers.Add(name=f"{name}_residual")([x, y])
    y = layers.Activation("relu", name=f"{name}_relu")(y)
    return ZeroBeyondWidth(downsample, name=f"{name}_zero_padding")([y, width])


def _temporal(x, width, config: ModelConfig, i: int):
    name = f"temporal_{i}"
    conv = layers.SeparableConv1D if config.separable else layers.Conv1D
    y = conv(
        config.units,
        config.kernel_size,
        padding="same",
        dilation_rate=config.dilation**i,
        use_bias=False,
        name=name,
    )(x)
    y = layers.BatchNormalization(name=f"{name}_norm")(y)
    y = layers.Activation("relu", name=f"{name}_relu")(y)
    if config.dropout:
        y = layers.Dropout(config.dropout, name=f"{name}_dropout")(y)
    y = layers.Add(name=f"{name}_residual")([x, y])
    return ZeroBeyondWidth(config.downsample, name=f"{name}_zero_padding")([y, width])


def pool(x, config: ModelConfig, block: int):
    """Block `block`'s max-pooling of `[B, T, rows, channels]`: 2x2, or height only (1x2) past
    the first `config.width_pools` blocks; 'same' padding, on the right and bottom only."""
    size = (2, 2) if block < config.pooled_blocks else (1, 2)
    return layers.MaxPooling2D(size, padding="same", name=f"pool_{block}")(x)


def head(x, width, config: ModelConfig, height: int):
    """`x` `[B, T, height]` (zero beyond `width`) -> (logits `[B, T', 11]`, lengths `[B]`)."""
    x = layers.Reshape((-1, height, 1), name="to_image")(x)
    rows, channels = height, 1
    for i in range(config.conv_blocks):
        channels = config.conv_filters * 2**i
        for j in range(1 if i < config.conv_single_blocks else config.conv_layers):
            x = _conv_bn_relu(
                x,
                width,
                channels,
                config.width_downsample(i),
                f"conv_{i}_{j}",
                residual=j > 0,
                separable=j > 0 and config.conv_separable,
            )
        x = pool(x, config, i)
        x = ZeroBeyondWidth(config.width_downsample(i + 1), name=f"zero_padding_{i}")([x, width])
        rows = math.ceil(rows / 2)
    x = layers.Reshape((-1, rows * channels), name="to_frames")(x)
    x = layers.Dense(config.units, use_bias=False, name="column_features")(x)
    x = layers.BatchNormalization(name="column_features_norm")(x)
    x = layers.Activation("relu", name="column_features_relu")(x)
    x = ZeroBeyondWidth(config.downsample, name="column_features_zero_padding")([x, width])
    for i in range(config.layers):
        x = _temporal(x, width, config, i)
    logits = layers.Dense(ctc.NUM_OUTPUTS, name="logits")(x)
    return logits, OutputLengths(config.downsample, name="lengths")(width)
