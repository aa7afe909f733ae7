"""Batch normalization folded into the layer before it, for serving.

In inference a `BatchNormalization` is an affine map per channel, `x * scale + shift` with
`scale = gamma / sqrt(moving_variance + epsilon)` and `shift = beta - moving_mean * scale`. When
its input comes straight from a convolution or Dense layer without an activation that feeds
nothing else, the map folds into that layer's output channels: kernel times `scale`, bias
`bias * scale + shift`, and the normalization becomes an identity. The folded model computes the
same function in inference (up to float rounding); on CPU the separate normalization costs a
large share of the `convctc` models' time (bench/README.md). Training keeps the
unfolded model: folding is for the exported serving signatures only (`recognizer.serving.export`).

Assumptions: the model is a Keras functional model whose layers have unique names; normalization
is over the last axis (channels last, Keras' default).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

_FOLDS_INTO = (
    layers.Conv1D,
    layers.Conv2D,
    layers.Dense,
    layers.SeparableConv1D,
    layers.SeparableConv2D,
)
"""Layers whose output channels are a kernel's last axis plus a bias, so a per-channel affine map
after them folds in."""


def _producers(layer_config: dict) -> list[str]:
    """Names of the layers whose outputs a layer config's inbound nodes take."""
    found = []

    def visit(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                found.append(value["config"]["keras_history"][0])
            else:
                for item in value.values():
                    visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    visit(layer_config["inbound_nodes"])
    return found


def foldable_pairs(model: keras.Model) -> dict[str, str]:
    """`{normalization layer name: the layer it folds into}` for every `BatchNormalization` over
    the last axis whose only input is a conv or Dense layer without an activation that feeds it
    alone."""
    return _pairs(model, model.get_config()["layers"])


def _pairs(model: keras.Model, configs: list[dict]) -> dict[str, str]:
    consumers: dict[str, int] = {}
    for config in configs:
        for name in _producers(config):
            consumers[name] = consumers.get(name, 0) + 1
    pairs = {}
    for config in configs:
        layer = model.get_layer(config["name"])
        if not isinstance(layer, layers.BatchNormalization):
            continue
        producers = _producers(config)
        if len(producers) != 1 or consumers.get(producers[0]) != 1:
            continue
        producer = model.get_layer(producers[0])
        rank = len(layer.input.shape)
        if (
            isinstance(producer, _FOLDS_INTO)
            and producer.activation is keras.activations.linear
            and layer.axis in (-1, rank - 1)
        ):
            pairs[layer.name] = producer.name
    return pairs


def _scale_and_shift(norm: layers.BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    mean = keras.ops.convert_to_numpy(norm.moving_mean).astype(np.float64)
    variance = keras.ops.convert_to_numpy(norm.moving_variance).astype(np.float64)
    gamma = (
        keras.ops.convert_to_numpy(norm.gamma).astype(np.float64)
        if norm.scale
        else np.ones_like(mean)
    )
    beta = (
        keras.ops.convert_to_numpy(norm.beta).astype(np.float64)
        if norm.center
        else np.zeros_like(mean)
    )
    scale = gamma / np.sqrt(variance + norm.epsilon)
    return scale, beta - mean * scale


def fold_batch_norm(model: keras.Model) -> keras.Model:
    """A copy of `model` for inference with every foldable normalization (`foldable_pairs`)
    folded into the layer before it and replaced by an identity; `model` is unchanged. A model
    with nothing to fold is returned as is."""
    config = model.get_config()
    pairs = _pairs(model, config["layers"])
    if not pairs:
        return model
    folded_into = set(pairs.values())
    for layer_config in config["layers"]:
        if layer_config["name"] in folded_into:
            layer_config["config"]["use_bias"] = True
        elif layer_config["name"] in pairs:
            layer_config.update(
                class_name="Identity",
                module="keras.layers",
                registered_name=None,
                config={
                    "name": layer_config["name"],
                    "trainable": False,
                    "dtype": layer_config["config"].get("dtype"),
                },
            )
            for node in layer_config["inbound_nodes"]:
                node["kwargs"].pop("mask", None)
    folded = keras.Model.from_config(config)
    norms = {into: model.get_layer(norm) for norm, into in pairs.items()}
    for layer in folded.layers:
        source = model.get_layer(layer.name)
        if layer.name in norms:
            _set_folded(layer, source, norms[layer.name])
        elif layer.name not in pairs:
            layer.set_weights(source.get_weights())
    return folded


def _set_folded(layer, source, norm: layers.BatchNormalization) -> None:
    scale, shift = _scale_and_shift(norm)
    kernel_name = "pointwise_kernel" if hasattr(source, "pointwise_kernel") else "kernel"
    kernel = keras.ops.convert_to_numpy(getattr(source, kernel_name)).astype(np.float64)
    bias = (
        keras.ops.convert_to_numpy(source.bias).astype(np.float64)
        if source.use_bias
        else np.zeros_like(shift)
    )
    if hasattr(source, "depthwise_kernel"):
        layer.depthwise_kernel.assign(source.depthwise_kernel)
    getattr(layer, kernel_name).assign((kernel * scale).astype(np.float32))
    layer.bias.assign((bias * scale + shift).astype(np.float32))
