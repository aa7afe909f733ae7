"""The recognizer's options: the config dataclasses of the model, the reader and its
augmentation, and training, with the names they choose from.

Nothing here imports TensorFlow, Keras or Beam, so the command line builds its flags from these
dataclasses and validates them (every option checked once, in its `__post_init__`) without
loading either: `digitseq --help` and a bad flag answer at once. The modules that act on a config
(`models`, `augment`, `data`, `train`, `decoding`) import it from here.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from digitseq.core.errors import ConfigError
from digitseq.core.options import check_choice, check_finite, option

ARCHITECTURES = ("crnn", "brnn", "rnn", "convctc")
CONVOLUTIONAL = ("crnn", "convctc")
MAX_DILATION_COLUMNS = 10 * 28
"""The widest step between two taps of a dilated `convctc` layer, in input columns: ten MNIST
digits side by side. A layer dilated further reads only padding with its side taps on every
string of up to ten digits."""
CELL_NAMES = ("simple", "gru", "lstm")
"""Recurrent cells (`models.CELLS` builds them)."""
OPTIMIZER_NAMES = ("adam", "rmsprop", "sgd")
"""Keras optimizers (`train.OPTIMIZERS` builds them)."""
SCHEDULES = ("constant", "cosine")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
"""tf.distribute strategies (`distribution.make_strategy` makes them)."""
GREEDY, BEAM = "greedy", "beam"
DECODERS = (GREEDY, BEAM)
"""CTC decoders (`decoding.decode`)."""
FLOAT32, BFLOAT16 = "float32", "bfloat16"
PRECISIONS = (FLOAT32, BFLOAT16)
"""The arithmetic exported models run in (`precision.use`)."""


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
      conv_blocks: `crnn`, `convctc`: conv + max-pool blocks, each halving the height and, the
        first `width_pools` of them, the width (output frames = ceil(width / 2^width_pools)).
      width_pools: `crnn`, `convctc`: how many of the blocks (the first ones) halve the width as
        well as the height; the others pool the height only, so narrow, closely spaced digits
        keep enough frames for CTC to put a blank between two equal ones. None: every block.
      conv_filters: `crnn`, `convctc`: filters of the first block, doubling per block.
      conv_layers: `crnn`, `convctc`: 3x3 convolutions per block, before its pooling (`convctc`:
        every one after the block's first adds its output to its input).
      batch_norm: `crnn`: batch normalization after each convolution (always on for `convctc`).
      kernel_size: `convctc`: taps of each temporal convolution.
      dilation: `convctc`: temporal layer i is dilated dilation^i (1: no dilation); the widest,
        dilation^(layers - 1) x downsample input columns, must be at most 280 (ten digits).
      separable: `convctc`: depthwise-separable temporal convolutions (fewer weights and FLOPs).
      conv_separable: `convctc`: the residual 3x3 convolutions of each block (all after its
        first) depthwise-separable: a 3x3 depthwise then a 1x1 pointwise convolution.
      conv_single_blocks: `convctc`: the first this many blocks have one convolution each,
        `conv_layers` applying to the rest (the full-resolution blocks cost the most per weight).
    """

    arch: str = option("crnn", choices=ARCHITECTURES)
    cell: str = option("lstm", choices=CELL_NAMES)
    units: int = 128
    layers: int = 2
    bidirectional: bool = False
    dropout: float = 0.25
    noise: float = 0.1
    conv_blocks: int = 2
    width_pools: int | None = None
    conv_filters: int = 32
    conv_layers: int = 1
    batch_norm: bool = False
    kernel_size: int = 3
    dilation: int = 2
    separable: bool = False
    conv_separable: bool = False
    conv_single_blocks: int = 0

    def __post_init__(self):
        check_finite(self)
        check_choice("arch", self.arch, ARCHITECTURES)
        check_choice("cell", self.cell, CELL_NAMES)
        if self.arch != "rnn" and self.cell == "simple":
            raise ConfigError(
                "cell", self.cell, "only for arch rnn, expected lstm or gru", others=["arch"]
            )
        for name in ("units", "layers", "conv_filters", "conv_layers", "kernel_size", "dilation"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")
        if self.conv_blocks < 0:
            raise ConfigError("conv_blocks", self.conv_blocks, "expected 0 or more")
        if self.width_pools is not None and self.arch not in CONVOLUTIONAL:
            raise ConfigError(
                "width_pools",
                self.width_pools,
                f"only for arch crnn or convctc, got {self.arch}",
                others=["arch"],
            )
        if self.width_pools is not None and not 0 <= self.width_pools <= self.conv_blocks:
            raise ConfigError(
                "width_pools",
                self.width_pools,
                f"expected 0..{self.conv_blocks} (conv_blocks)",
                others=["conv_blocks"],
            )
        if not 0 <= self.conv_single_blocks <= self.conv_blocks:
            raise ConfigError(
                "conv_single_blocks",
                self.conv_single_blocks,
                f"expected 0..{self.conv_blocks} (conv_blocks)",
                others=["conv_blocks"],
            )
        if self.conv_single_blocks and self.arch != "convctc":
            raise ConfigError(
                "conv_single_blocks",
                self.conv_single_blocks,
                f"only for arch convctc, got {self.arch}",
                others=["arch"],
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout", self.dropout, "expected 0 <= dropout < 1")
        if self.noise < 0:
            raise ConfigError("noise", self.noise, "expected 0 or more")
        if self.arch == "convctc":
            widest = self.dilation ** (self.layers - 1) * self.downsample
            if widest > MAX_DILATION_COLUMNS:
                raise ConfigError(
                    "dilation",
                    self.dilation,
                    f"the widest temporal layer steps {widest} input columns between taps "
                    f"(dilation^(layers - 1) x 2^width_pools, width_pools being conv_blocks "
                    f"unless given); expected at most {MAX_DILATION_COLUMNS} (ten digits)",
                    others=["layers", "width_pools", "conv_blocks"],
                )

    @property
    def pooled_blocks(self) -> int:
        """The blocks whose pooling halves the width (`width_pools`, every block by default)."""
        return self.conv_blocks if self.width_pools is None else self.width_pools

    def width_downsample(self, blocks: int) -> int:
        """Input columns per frame after the first `blocks` conv blocks."""
        return 2 ** min(blocks, self.pooled_blocks)

    @property
    def downsample(self) -> int:
        """Input columns per output frame."""
        return self.width_downsample(self.conv_blocks) if self.arch in CONVOLUTIONAL else 1

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Ranges of the random warp; each value is drawn uniformly per sequence.

    Attributes:
      shear: largest slant, as horizontal pixels per row (0.3 moves the top row about 4 pixels).
      scale: largest relative change of height (0.1: 0.9 to 1.1 times as tall).
      shift: largest vertical shift in pixels, either way.
      rotation: largest rotation in degrees, either way.
      elastic: largest strength of the elastic distortion (Simard et al.'s alpha, pixels per
        unit of the smoothed field; 34 is theirs for MNIST); each sequence draws 0..elastic.
        0 turns it off.
      elastic_sigma: the Gaussian smoothing of the displacement field, in pixels (smaller is
        more local and wilder).
    """

    shear: float = option(0.3, flag="--augment-shear")
    scale: float = option(0.1, flag="--augment-scale")
    shift: float = option(2.0, flag="--augment-shift")
    rotation: float = option(2.0, flag="--augment-rotation")
    elastic: float = option(0.0, flag="--augment-elastic")
    elastic_sigma: float = option(4.0, flag="--augment-elastic-sigma")

    def __post_init__(self):
        check_finite(self)
        for name, high in (
            ("shear", 1.0),
            ("scale", 0.5),
            ("shift", 8.0),
            ("rotation", 30.0),
            ("elastic", 100.0),
        ):
            if not 0 <= getattr(self, name) <= high:
                raise ConfigError(name, getattr(self, name), f"expected 0..{high:g}")
        if not 1 <= self.elastic_sigma <= 10:
            raise ConfigError("elastic_sigma", self.elastic_sigma, "expected 1..10")


@dataclasses.dataclass(frozen=True)
class ReaderConfig:
    """How the training data is read.

    Attributes:
      shuffle_buffer: records per width bucket in the shuffle buffer when training.
      constant_frames: smaller batches for wider buckets (about constant frames per batch).
      skip_corrupt: skip unreadable records (logged) instead of failing.
      verify: read and check every record once up front; otherwise every batch is checked as it
        streams.
      augment: warp every training sequence at random (slant, scale, shift, rotation).
      augmentation: ranges of the random warp
    """

    shuffle_buffer: int = 2048
    constant_frames: bool = False
    skip_corrupt: bool = False
    verify: bool = True
    augment: bool = False
    augmentation: Augmentation = dataclasses.field(default_factory=Augmentation)

    def __post_init__(self):
        check_finite(self)
        if self.shuffle_buffer < 1:
            raise ConfigError("shuffle_buffer", self.shuffle_buffer, "expected at least 1")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to train on, how, and where to write it.

    Attributes:
      data_dir: dataset directory (digitseq render or ingest); give it once per dataset to train
        on several (the first one's validation split picks the best epoch and its statistics
        standardize the inputs).
      model_dir: where checkpoints, logs and the exported model go.
      model: architecture
      reader: reading the training data
      epochs: passes over the training split, every record once (with several --data, over the
        first dataset's; the others by --data-weights).
      batch_size: global batch size (split over the replicas).
      strategy: tf.distribute strategy: auto (mirrored over several GPUs, else one device),
        one_device, mirrored, or multi_worker (reads TF_CONFIG).
      optimizer: the Keras optimizer.
      learning_rate: the (peak) learning rate.
      schedule: constant, or cosine decay to zero over the run (after any warm-up).
      warmup_epochs: epochs of linear warm-up from a tenth of the learning rate (cosine only).
      seed: seed of initialization, shuffling and augmentation.
      early_stopping: stop after this many epochs without a better validation CER (training loss
        without a validation split) (0: off).
      tensorboard_images: validation sequences drawn in TensorBoard each epoch.
      data_weights: mixing weight of each --data dataset's training batches, positive (default:
        in proportion to their training records); an epoch is one pass over the first dataset
        and, of each other, batches in proportion to its weight relative to the first's.
      init_from: exported model directory to start from (fine-tuning), or the name of a model
        that ships with digitseq: its architecture, weights and standardization statistics.
      freeze_conv: with init_from, keep the convolutional front end as it is.
      jit_compile: compile the model's forward and backward pass with XLA (the CTC loss and the
        update stay outside); one compilation per batch shape; arch convctc only.
      weight_average: momentum per step of an exponential moving average of the weights
        (0: off; 0.999 averages over about the last thousand steps). Validation, the best epoch
        and the exported model use the averaged weights; training continues from the raw ones.
      teacher: exported model directory, or the name of a model that ships with digitseq, whose
        per-frame class probabilities the model also learns (distillation); it must take the
        data's height and downsample as the model does.
      distill_weight: with teacher, the share of the loss that matches the teacher (the CTC
        loss has the rest); more than 0 and less than 1.
    """

    data_dir: tuple[str, ...] = option(flag="--data")
    model_dir: str = option()
    model: ModelConfig = option(default_factory=ModelConfig)
    reader: ReaderConfig = option(default_factory=ReaderConfig)
    epochs: int = 10
    batch_size: int = 64
    strategy: str = option("auto", choices=STRATEGIES)
    optimizer: str = option("adam", choices=OPTIMIZER_NAMES)
    learning_rate: float = 1e-3
    schedule: str = option("constant", choices=SCHEDULES)
    warmup_epochs: float = 0.0
    seed: int = 0
    early_stopping: int = 0
    tensorboard_images: int = 6
    data_weights: tuple[float, ...] | None = None
    init_from: str | None = None
    freeze_conv: bool = False
    jit_compile: bool = False
    weight_average: float = 0.0
    teacher: str | None = None
    distill_weight: float = 0.5

    def __post_init__(self):
        if isinstance(self.data_dir, str):
            object.__setattr__(self, "data_dir", (self.data_dir,))
        object.__setattr__(self, "data_dir", tuple(self.data_dir))
        check_finite(self)
        if not self.data_dir:
            raise ConfigError("data_dir", "", "expected at least one dataset directory")
        if self.data_weights is not None:
            object.__setattr__(self, "data_weights", tuple(self.data_weights))
            if len(self.data_weights) != len(self.data_dir):
                raise ConfigError(
                    "data_weights",
                    self.data_weights,
                    f"expected one weight per data_dir ({len(self.data_dir)})",
                    others=["data_dir"],
                )
            if not all(w > 0 for w in self.data_weights):
                raise ConfigError(
                    "data_weights", self.data_weights, "expected positive finite numbers"
                )
        if self.freeze_conv and not self.init_from:
            raise ConfigError(
                "freeze_conv",
                True,
                "expected together with init_from (it freezes the initial model's front end)",
                others=["init_from"],
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")
        check_choice("strategy", self.strategy, STRATEGIES)
        check_choice("optimizer", self.optimizer, OPTIMIZER_NAMES)
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.jit_compile and self.model.arch != "convctc":
            raise ConfigError(
                "jit_compile",
                True,
                f"not for arch {self.model.arch}: XLA cannot "
                f"differentiate its recurrent loops (TensorList crossing the "
                f"XLA/TF boundary); expected arch convctc",
                others=["arch"],
            )
        if not self.learning_rate > 0:
            raise ConfigError("learning_rate", self.learning_rate, "expected > 0")
        if not 0 <= self.weight_average < 1:
            raise ConfigError(
                "weight_average",
                self.weight_average,
                "expected at least 0 (0: off) and less than 1",
            )
        if self.teacher and not 0 < self.distill_weight < 1:
            raise ConfigError(
                "distill_weight", self.distill_weight, "expected more than 0 and less than 1"
            )
        if not self.teacher and self.distill_weight != 0.5:
            raise ConfigError(
                "distill_weight",
                self.distill_weight,
                "expected together with teacher (the weight of its share of the loss)",
                others=["teacher"],
            )
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(
                "warmup_epochs",
                self.warmup_epochs,
                f"expected at least 0 and fewer than epochs ({self.epochs})",
                others=["epochs"],
            )
        for name in ("early_stopping", "tensorboard_images"):
            if getattr(self, name) < 0:
                raise ConfigError(name, getattr(self, name), "expected 0 or more")

    def run_identity(self) -> dict[str, Any]:
        """What makes two runs the same run (epochs may grow between restarts). Options added
        after a run began appear only when set, so that run still resumes."""
        identity = {
            "data_dir": [_absolute(d) for d in self.data_dir],
            "data_weights": list(self.data_weights) if self.data_weights else None,
            "init_from": _absolute(self.init_from) if self.init_from else None,
            "freeze_conv": self.freeze_conv,
            "model": self.model.to_json(),
            "reader": dataclasses.asdict(self.reader),
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "schedule": self.schedule,
            "warmup_epochs": self.warmup_epochs,
            "seed": self.seed,
        }
        if self.weight_average:
            identity["weight_average"] = self.weight_average
        if self.teacher:
            identity["teacher"] = _absolute(self.teacher)
            identity["distill_weight"] = self.distill_weight
        return identity


def _absolute(path: str) -> str:
    return os.path.abspath(path) if "://" not in path else path


@dataclasses.dataclass(frozen=True)
class CalibrateConfig:
    """Calibrating an exported model on a labeled split.

    Attributes:
      model_dir: exported model directory (digitseq train) or the name of a shipped model; its
        serving signature is rewritten with the calibrated confidence and calibration.json
        written beside it, in place or in `out`.
      out: a new directory for the calibrated model (a copy of the model's exported files; the
        source is left untouched); required for a shipped model.
      data_dir: a rendered or ingested dataset directory with the split.
      split: the split fitted on (validation: never fit on test).
      beam_width: beams of the beam decoder whose confidences are fitted.
      batch_size: sequences per batch while decoding the split.
    """

    model_dir: str = option(flag="--model")
    data_dir: str = option(flag="--data")
    out: str | None = None
    split: str = "validation"
    beam_width: int = 8
    batch_size: int = 256

    def __post_init__(self):
        check_finite(self)
        for name in ("beam_width", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")
