"""Starting a run from an exported model: its architecture, its weights, its statistics.

`digitseq train --init-from MODEL_DIR` fine-tunes an exported model directory (`schemas.exported`:
`model.keras`, `config.json`, `stats.json`), for example on a few hundred ingested scans trained
together with renders.

- Architecture: the run's model options left at their defaults take the initial model's values;
  an architecture option set to anything else must equal the initial model's (otherwise one line
  names the first difference). `dropout` and `noise` act during training only and may differ.
- Input height: the data's must equal the initial model's.
- Statistics: the run keeps the initial model's standardization statistics (the mean and
  standard deviation per image row baked into its `Standardize` layer, and its `stats.json`),
  not the new data's: the pretrained weights were learnt on inputs standardized that way, and
  re-standardizing with a small fine-tuning set's statistics would shift every input feature
  the first layer sees. The exported fine-tuned model carries those statistics in `stats.json`.
- `freeze_conv`: the convolutional front end (every 2D convolution and the batch normalization
  after it) stops training; the layers after it (recurrent or 1D convolutional context, and the
  classifier) adapt.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from typing import Any, Mapping

import keras

from digitseq.recognizer.config import ModelConfig
from digitseq.schemas import exported
from digitseq.core import storage
from digitseq.core.errors import ConfigError

TRAINING_ONLY = ("dropout", "noise")
"""`ModelConfig` fields that do not change the architecture."""
FRONT_END = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


@dataclasses.dataclass(frozen=True)
class InitialModel:
    """An exported model to start from."""

    directory: str
    model: ModelConfig
    height: int
    stats: Mapping[str, Any]

    @property
    def weights_path(self) -> str:
        return os.path.join(self.directory, exported.MODEL)


def load_initial(directory: str, *, field: str = "init_from") -> InitialModel:
    """The exported model directory `directory`, checked.

    Raises:
      ConfigError: naming `field`: it holds no exported model, its config cannot be read, or
        its model file cannot be loaded.
    """
    import tensorflow as tf

    for name in (exported.MODEL, exported.CONFIG, exported.STATS):
        if not tf.io.gfile.exists(os.path.join(directory, name)):
            raise ConfigError(field, directory, f"no {name}, expected an exported model "
                              f"directory (digitseq train writes one)")
    config = storage.read_json(os.path.join(directory, exported.CONFIG))
    try:
        model = ModelConfig(**config["run"]["model"])
        height = int(config["height"])
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(field, directory, f"its {exported.CONFIG} does not describe a "
                          f"digitseq model ({type(err).__name__}: {err})") from None
    check_loadable(os.path.join(directory, exported.MODEL), field=field, directory=directory)
    return InitialModel(directory=directory, model=model, height=height,
                        stats=storage.read_json(os.path.join(directory, exported.STATS)))


def check_loadable(path: str, *, field: str, directory: str) -> None:
    """Checks the Keras archive `path` (a zip file) end to end, every member against its CRC,
    before any file of the run is written; the weights themselves are read once, later.

    Raises:
      ConfigError: naming `field` and the file: truncated, tampered, or not a zip archive.
    """
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as f, zipfile.ZipFile(f) as archive:
            damaged = archive.testzip()
        reason = f"its member {damaged} fails its CRC check" if damaged else None
    except (zipfile.BadZipFile, OSError, EOFError, tf.errors.OpError) as err:
        reason = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:200]}"
    if reason:
        raise ConfigError(field, directory, f"its {exported.MODEL} cannot be loaded ({reason}); "
                          f"expected the Keras model digitseq train exported, unchanged")


def resolve_model(asked: ModelConfig, initial: InitialModel) -> ModelConfig:
    """The run's architecture: `asked`, its defaulted fields taken from the initial model.

    Raises:
      ConfigError: an architecture field set to a value other than the initial model's.
    """
    defaults, values = ModelConfig(), {}
    for field in dataclasses.fields(ModelConfig):
        mine, theirs = getattr(asked, field.name), getattr(initial.model, field.name)
        if mine == getattr(defaults, field.name):
            values[field.name] = theirs
        elif field.name in TRAINING_ONLY or mine == theirs:
            values[field.name] = mine
        else:
            raise ConfigError(field.name, mine, f"the model in init_from ({initial.directory}) "
                              f"has {field.name} {theirs}; expected the same, or leave it "
                              f"unset", others=["init_from"])
    return ModelConfig(**values)


def check_height(initial: InitialModel, height: int, data_dir: str) -> None:
    if initial.height != height:
        raise ConfigError("init_from", initial.directory, f"takes images of height "
                          f"{initial.height}, but {data_dir} holds height {height}; expected "
                          f"the same height")


def start_from(model: keras.Model, initial: InitialModel, *, freeze_conv: bool) -> None:
    """Loads the initial model's weights into `model` (built with the resolved architecture and
    the initial statistics); with `freeze_conv`, freezes the convolutional front end."""
    model.load_weights(initial.weights_path)
    if freeze_conv:
        for layer in front_end(model):
            layer.trainable = False


def front_end(model: keras.Model) -> list[keras.layers.Layer]:
    """The 2D convolutions of `model` and the batch normalizations right after them."""
    found, previous = [], None
    for layer in model.layers:
        if isinstance(layer, FRONT_END) or (
                isinstance(layer, keras.layers.BatchNormalization) and previous in found):
            found.append(layer)
        previous = layer
    return found
