"""Batch normalization folded for serving: the same function, without the normalization layers."""

import keras
import numpy as np
import pytest
from keras import layers

from digitseq.recognizer.config import ModelConfig
from digitseq.recognizer.model import architectures as models
from digitseq.recognizer.serving import folding
from tests.weights import STATS, randomize_biases_and_statistics


def _batch_norms(model):
    return [layer.name for layer in model.layers if isinstance(layer, layers.BatchNormalization)]


@pytest.mark.parametrize(
    "options",
    [
        {"arch": "convctc", "conv_blocks": 2, "conv_layers": 2, "layers": 2},
        {
            "arch": "convctc",
            "conv_blocks": 2,
            "conv_layers": 2,
            "layers": 2,
            "conv_separable": True,
            "separable": True,
        },
        {"arch": "crnn", "batch_norm": True, "conv_blocks": 2, "layers": 1},
    ],
    ids=["convctc", "convctc-separable", "crnn-bn"],
)
def test_the_folded_model_computes_the_same_logits_without_normalization(options):
    model = models.build(ModelConfig(units=8, conv_filters=4, **options), **STATS)
    randomize_biases_and_statistics(model)
    weights = [w.numpy().copy() for w in model.weights]
    norms = _batch_norms(model)
    folded = folding.fold_batch_norm(model)
    assert norms and set(folding.foldable_pairs(model)) == set(norms)
    assert _batch_norms(folded) == []
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 97, 28)).astype(np.uint8)
    inputs = {"frames": frames, "width": np.array([97, 61, 30], np.int32)}
    expected = model(inputs, training=False)
    found = folded(inputs, training=False)
    np.testing.assert_allclose(found["logits"], expected["logits"], atol=1e-4)
    np.testing.assert_array_equal(found["lengths"], expected["lengths"])
    assert _batch_norms(model) == norms
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_a_normalization_that_cannot_fold_stays():
    inputs = keras.Input((5, 3))
    shared = layers.Dense(4, name="shared")(inputs)
    normalized = layers.BatchNormalization(name="shared_norm")(shared)
    across = layers.BatchNormalization(axis=1, name="across_time")(
        layers.Conv1D(4, 3, padding="same", name="conv")(inputs)
    )
    activated = layers.BatchNormalization(name="after_relu")(
        layers.Dense(4, activation="relu", name="relu_dense")(inputs)
    )
    outputs = layers.Concatenate()([layers.Add()([shared, normalized]), across, activated])
    model = keras.Model(inputs, outputs)
    randomize_biases_and_statistics(model)
    assert folding.foldable_pairs(model) == {}
    assert folding.fold_batch_norm(model) is model


def test_a_model_without_normalization_is_served_as_is():
    model = models.build(ModelConfig(arch="rnn", units=8, layers=1), **STATS)
    assert folding.fold_batch_norm(model) is model
