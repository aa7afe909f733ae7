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

import keras

from digitseq.core.errors import ConfigError
from digitseq.recognizer.config import ModelConfig
from digitseq.recognizer.serving.exported_model import ExportedModel

TRAINING_ONLY = ("dropout", "noise")
"""`ModelConfig` fields that do not change the architecture."""
FRONT_END = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def resolve_model(asked: ModelConfig, initial: ExportedModel) -> ModelConfig:
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
            raise ConfigError(
                field.name,
                mine,
                f"the model in init_from ({initial.directory}) "
                f"has {field.name} {theirs}; expected the same, or leave it "
                f"unset",
                others=["init_from"],
            )
    return ModelConfig(**values)


def start_from(model: keras.Model, initial: ExportedModel, *, freeze_conv: bool) -> None:
    """Loads the initial model's weights into `model` (built with the resolved architecture and
    the initial statistics); with `freeze_conv`, freezes the convolutional front end."""
    model.load_weights(initial.keras_path)
    if freeze_conv:
        for layer in front_end(model):
            layer.trainable = False


def front_end(model: keras.Model) -> list[keras.layers.Layer]:
    """The 2D convolutions of `model` and the batch normalizations right after them."""
    found, previous = [], None
    for layer in model.layers:
        if isinstance(layer, FRONT_END) or (
            isinstance(layer, keras.layers.BatchNormalization) and previous in found
        ):
            found.append(layer)
        previous = layer
    return found
