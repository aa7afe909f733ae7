"""The recognizers, selectable by name, all with one input and output contract.

    inputs  {"frames": uint8 [B, T, height], "width": int32 [B]}
    outputs {"logits": float32 [B, T', 11], "lengths": int32 [B]}   (class 10 is the CTC blank)

(key names: `schemas.batch`).

Every model standardizes raw frames with the training statistics (so it takes raw pixels), adds
Gaussian noise and dropout during training only, masks recurrent layers from `width` (never from
pixel values: MNIST digits contain all-zero columns), and reports its output lengths from `width`
and its downsampling.

- `rnn`: the course practical's column-wise recurrent network (SimpleRNN, GRU or LSTM; depth,
  width, optionally bidirectional): the baseline.
- `brnn`: stacked bidirectional LSTM/GRU with dropout (the practical's improved network).
- `crnn` (default): convolution blocks that each halve the height and the width (two by default:
  / 4; `width_pools` may keep the last blocks from halving the width), then
  bidirectional LSTMs (the captcha-OCR / CRNN design).
- `convctc`: no recurrence (`recognizer.model.convctc`): residual 2D convolution blocks with batch
  normalization that each halve the height and (the first `width_pools`) the width, the height
  folded into column features, then
  residual dilated (optionally depthwise-separable) 1D convolutions over the columns; every
  layer runs in parallel over time, which is what CPUs are good at.

Convolutions see padding as zeros: every model zeroes the frames beyond each sequence's width
after every convolution (`ZeroBeyondWidth`), so its outputs on real frames do not depend on how
far a batch is padded. Batch normalization in training mode counts the padded frames in its
batch statistics (the reader pads each width bucket to a boundary at most a few columns away).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers

from digitseq.recognizer.config import ModelConfig
from digitseq.recognizer.model import convctc, ctc
from digitseq.recognizer.model.layers import LengthMask, OutputLengths, Standardize, ZeroBeyondWidth
from digitseq.schemas import batch

CELLS = {"simple": layers.SimpleRNN, "gru": layers.GRU, "lstm": layers.LSTM}  # keys: CELL_NAMES


def build(
    config: ModelConfig, *, mean: Sequence[float], std: Sequence[float], height: int = 28
) -> keras.Model:
    """Builds the named architecture; `mean`/`std` per image row come from `stats.json`."""
    frames = keras.Input(shape=(None, height), dtype="uint8", name=batch.FRAMES)
    width = keras.Input(shape=(), dtype="int32", name=batch.WIDTH)
    x = Standardize(mean, std, name="standardize")(frames)
    if config.noise:
        x = layers.GaussianNoise(config.noise, name="noise")(x)
    x = ZeroBeyondWidth(name="zero_padding")([x, width])
    if config.arch == "convctc":
        logits, lengths = convctc.head(x, width, config, height)
        return keras.Model(
            {batch.FRAMES: frames, batch.WIDTH: width},
            {batch.LOGITS: logits, batch.LENGTHS: lengths},
            name=config.arch,
        )
    if config.arch == "crnn":
        x = _conv_front_end(x, width, config, height)
    lengths = OutputLengths(config.downsample, name="lengths")(width)
    mask = LengthMask(name="mask")([lengths, x])
    bidirectional = config.bidirectional or config.arch in ("brnn", "crnn")
    for i in range(config.layers):
        cell = CELLS[config.cell](config.units, return_sequences=True, name=f"{config.cell}_{i}")
        recurrent = (
            layers.Bidirectional(cell, name=f"bi_{config.cell}_{i}") if bidirectional else cell
        )
        x = recurrent(x, mask=mask)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    logits = layers.Dense(ctc.NUM_OUTPUTS, name="logits")(x)
    return keras.Model(
        {batch.FRAMES: frames, batch.WIDTH: width},
        {batch.LOGITS: logits, batch.LENGTHS: lengths},
        name=config.arch,
    )


def _conv_front_end(x, width, config: ModelConfig, height: int):
    """`[B, T, height]` -> `[B, ceil(T / 2^blocks), features]`, zero beyond each sequence."""
    x = layers.Reshape((-1, height, 1), name="to_image")(x)
    rows = height
    for i in range(config.conv_blocks):
        filters = config.conv_filters * 2**i
        for j in range(config.conv_layers):
            name = f"conv_{i}" if config.conv_layers == 1 else f"conv_{i}_{j}"
            if config.batch_norm:
                x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
                x = layers.BatchNormalization(name=f"{name}_norm")(x)
                x = layers.Activation("relu", name=f"{name}_relu")(x)
            else:
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
            x = ZeroBeyondWidth(config.width_downsample(i), name=f"{name}_zero_padding")([x, width])
        x = convctc.pool(x, config, i)
        x = ZeroBeyondWidth(config.width_downsample(i + 1), name=f"zero_padding_{i}")([x, width])
        rows = math.ceil(rows / 2)
    channels = config.conv_filters * 2 ** (config.conv_blocks - 1) if config.conv_blocks else 1
    x = layers.Reshape((-1, rows * channels), name="to_frames")(x)
    x = layers.Dense(config.units, activation="relu", name="conv_features")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name="conv_dropout")(x)
    return x
