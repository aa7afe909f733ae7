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
- `crnn` (default): convolution blocks that each halve the width (two by default: / 4), then
  bidirectional LSTMs (the captcha-OCR / CRNN design).
- `convctc`: no recurrence (`recognizer.convctc`): residual 2D convolution blocks with batch
  normalization that each halve width and height, the height folded into column features, then
  residual dilated (optionally depthwise-separable) 1D convolutions over the columns; every
  layer runs in parallel over time, which is what CPUs are good at.

Convolutions see padding as zeros: every model zeroes the frames beyond each sequence's width
after every convolution (`ZeroBeyondWidth`), so its outputs on real frames do not depend on how
far a batch is padded. Batch normalization in training mode counts the padded frames in its
batch statistics (the reader pads each width bucket to a boundary at most a few columns away).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import keras
from keras import layers

from recognizer import convctc, ctc
from recognizer.layers import LengthMask, OutputLengths, Standardize, ZeroBeyondWidth
from schemas import batch
from schemas.errors import ConfigError
from schemas.options import check_choice, check_finite, option

ARCHITECTURES = ("crnn", "brnn", "rnn", "convctc")
CONVOLUTIONAL = ("crnn", "convctc")
MAX_DILATION_COLUMNS = 10 * 28
"""The widest step between two taps of a dilated `convctc` layer, in input columns: ten MNIST
digits side by side. A layer dilated further reads only padding with its side taps on every
string of up to ten digits."""
CELLS = {"simple": layers.SimpleRNN, "gru": layers.GRU, "lstm": layers.LSTM}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture options (the defaults are each architecture's usual setting).

    Attributes:
      arch: the architecture.
      cell: recurrent cell (`simple` is SimpleRNN, `rnn` only).
      units: recurrent units per direction (and `crnn`'s conv feature size); `convctc`: channels
        of the column features and of every temporal convolution.
      layers: recurrent layers; `convctc`: temporal (1D) convolution layers, each residual.
      bidirectional: bidirectional recurrent layers for `rnn` (always on for `brnn` and `crnn`).
      dropout: dropout after each recurrent layer (and the conv features), training only.
      noise: standard deviation of the Gaussian noise on standardized inputs, training only.
      conv_blocks: `crnn`, `convctc`: conv + 2x2 max-pool blocks, each halving width and height
        (output frames = ceil(width / 2^blocks)).
      conv_filters: `crnn`, `convctc`: filters of the first block, doubling per block.
      conv_layers: `crnn`, `convctc`: 3x3 convolutions per block, before its pooling (`convctc`:
        every one after the block's first adds its output to its input).
      batch_norm: `crnn`: batch normalization after each convolution (always on for `convctc`).
      kernel_size: `convctc`: taps of each temporal convolution.
      dilation: `convctc`: temporal layer i is dilated dilation^i (1: no dilation); the widest,
        dilation^(layers - 1) x 2^conv_blocks input columns, must be at most 280 (ten digits).
      separable: `convctc`: depthwise-separable temporal convolutions (fewer weights and FLOPs).
    """

    arch: str = option("crnn", choices=ARCHITECTURES)
    cell: str = option("lstm", choices=CELLS)
    units: int = 128
    layers: int = 2
    bidirectional: bool = False
    dropout: float = 0.25
    noise: float = 0.1
    conv_blocks: int = 2
    conv_filters: int = 32
    conv_layers: int = 1
    batch_norm: bool = False
    kernel_size: int = 3
    dilation: int = 2
    separable: bool = False

    def __post_init__(self):
        check_finite(self)
        check_choice("arch", self.arch, ARCHITECTURES)
        check_choice("cell", self.cell, CELLS)
        if self.arch != "rnn" and self.cell == "simple":
            raise ConfigError("cell", self.cell, "only for arch rnn, expected lstm or gru",
                              others=["arch"])
        for name in ("units", "layers", "conv_filters", "conv_layers", "kernel_size", "dilation"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")
        if self.conv_blocks < 0:
            raise ConfigError("conv_blocks", self.conv_blocks, "expected 0 or more")
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout", self.dropout, "expected 0 <= dropout < 1")
        if self.noise < 0:
            raise ConfigError("noise", self.noise, "expected 0 or more")
        if self.arch == "convctc":
            widest = self.dilation ** (self.layers - 1) * self.downsample
            if widest > MAX_DILATION_COLUMNS:
                raise ConfigError(
                    "dilation", self.dilation,
                    f"the widest temporal layer steps {widest} input columns between taps "
                    f"(dilation^(layers - 1) x 2^conv_blocks); expected at most "
                    f"{MAX_DILATION_COLUMNS} (ten digits)", others=["layers", "conv_blocks"])

    @property
    def downsample(self) -> int:
        return 2 ** self.conv_blocks if self.arch in CONVOLUTIONAL else 1

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build(config: ModelConfig, *, mean: Sequence[float], std: Sequence[float],
          height: int = 28) -> keras.Model:
    """Builds the named architecture; `mean`/`std` per image row come from `stats.json`."""
    frames = keras.Input(shape=(None, height), dtype="uint8", name=batch.FRAMES)
    width = keras.Input(shape=(), dtype="int32", name=batch.WIDTH)
    x = Standardize(mean, std, name="standardize")(frames)
    if config.noise:
        x = layers.GaussianNoise(config.noise, name="noise")(x)
    x = ZeroBeyondWidth(name="zero_padding")([x, width])
    if config.arch == "convctc":
        logits, lengths = convctc.head(x, width, config, height)
        return keras.Model({batch.FRAMES: frames, batch.WIDTH: width},
                           {batch.LOGITS: logits, batch.LENGTHS: lengths}, name=config.arch)
    if config.arch == "crnn":
        x = _conv_front_end(x, width, config, height)
    lengths = OutputLengths(config.downsample, name="lengths")(width)
    mask = LengthMask(name="mask")([lengths, x])
    bidirectional = config.bidirectional or config.arch in ("brnn", "crnn")
    for i in range(config.layers):
        cell = CELLS[config.cell](config.units, return_sequences=True, name=f"{config.cell}_{i}")
        recurrent = layers.Bidirectional(cell, name=f"bi_{config.cell}_{i}") if bidirectional \
            else cell
        x = recurrent(x, mask=mask)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    logits = layers.Dense(ctc.NUM_OUTPUTS, name="logits")(x)
    return keras.Model({batch.FRAMES: frames, batch.WIDTH: width},
                       {batch.LOGITS: logits, batch.LENGTHS: lengths}, name=config.arch)


def _conv_front_end(x, width, config: ModelConfig, height: int):
    """`[B, T, height]` -> `[B, ceil(T / 2^blocks), features]`, zero beyond each sequence."""
    x = layers.Reshape((-1, height, 1), name="to_image")(x)
    rows = height
    for i in range(config.conv_blocks):
        filters = config.conv_filters * 2 ** i
        for j in range(config.conv_layers):
            name = f"conv_{i}" if config.conv_layers == 1 else f"conv_{i}_{j}"
            if config.batch_norm:
                x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
                x = layers.BatchNormalization(name=f"{name}_norm")(x)
                x = layers.Activation("relu", name=f"{name}_relu")(x)
            else:
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
            x = ZeroBeyondWidth(2 ** i, name=f"{name}_zero_padding")([x, width])
        x = layers.MaxPooling2D(2, padding="same", name=f"pool_{i}")(x)
        x = ZeroBeyondWidth(2 ** (i + 1), name=f"zero_padding_{i}")([x, width])
        rows = math.ceil(rows / 2)
    channels = config.conv_filters * 2 ** (config.conv_blocks - 1) if config.conv_blocks else 1
    x = layers.Reshape((-1, rows * channels), name="to_frames")(x)
    x = layers.Dense(config.units, activation="relu", name="conv_features")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name="conv_dropout")(x)
    return x
