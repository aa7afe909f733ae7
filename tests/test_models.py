"""The three architectures: contract, masks from width, safe reloading, learning."""

import keras
import numpy as np
import pytest

from recognizer import ctc, models
from schemas.errors import InvalidInputError

STATS = {"mean": [33.0] * 28, "std": [78.0] * 28}


def _frames(sample_mnist, digits, pad_to):
    image = np.concatenate([sample_mnist.test.images[i] for i in digits], axis=1)
    frames = np.zeros((1, pad_to, 28), np.uint8)
    frames[0, :image.shape[1]] = image.T
    return frames, np.array([image.shape[1]], np.int32)


@pytest.mark.parametrize("arch, options", [
    *[(arch, {}) for arch in models.ARCHITECTURES],
    ("crnn", {"batch_norm": True, "conv_layers": 2, "conv_blocks": 3}),
], ids=[*models.ARCHITECTURES, "crnn-bn-deep"])
def test_contract_padding_invariance_and_safe_reload(tmp_path, sample_mnist, arch, options):
    config = models.ModelConfig(arch=arch, units=8, layers=1, conv_filters=4, **options)
    model = models.build(config, **STATS)
    # Trained biases and batch statistics are not zero: padding must stay invisible all the same.
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if weight.path.endswith(("bias", "moving_mean")):
            weight.assign(rng.uniform(-0.3, 0.3, weight.shape).astype(np.float32))
    short, width = _frames(sample_mnist, [0, 1, 2], 84)
    long, _ = _frames(sample_mnist, [0, 1, 2], 140)
    width = width - 3  # an odd width, and ink beyond it that must not count
    out_short = model({"frames": short, "width": width}, training=False)
    out_long = model({"frames": long, "width": width}, training=False)
    out_exact = model({"frames": short[:, :int(width[0])], "width": width}, training=False)
    frames = int(out_short["lengths"][0])
    assert frames == -(-81 // config.downsample)
    assert out_short["logits"].shape[-1] == ctc.NUM_OUTPUTS
    np.testing.assert_allclose(out_short["logits"][0, :frames], out_long["logits"][0, :frames],
                               atol=1e-5)
    np.testing.assert_allclose(out_exact["logits"][0], out_long["logits"][0, :frames], atol=1e-5)
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded({"frames": short, "width": width})["logits"],
                               out_short["logits"], atol=1e-6)


@pytest.mark.parametrize("arch", ["brnn", "crnn"])
def test_pixels_never_make_the_mask(sample_mnist, arch):
    """The same frames with a larger width (ten more all-zero columns) must read differently:
    the backward layers start from the width, not from the last column with ink."""
    model = models.build(models.ModelConfig(arch=arch, units=8, layers=1, conv_filters=4,
                                            noise=0.0, dropout=0.0), **STATS)
    frames, width = _frames(sample_mnist, [1, 1], 84)
    narrow = model({"frames": frames, "width": width}, training=False)
    wide = model({"frames": frames, "width": width + 10}, training=False)
    frames_out = int(narrow["lengths"][0])
    assert int(wide["lengths"][0]) > frames_out
    assert not np.allclose(narrow["logits"][0, :frames_out], wide["logits"][0, :frames_out],
                           atol=1e-6)


@pytest.mark.parametrize("options, message", [
    ({"arch": "transformer"}, "arch transformer"),
    ({"arch": "crnn", "cell": "simple"}, "cell simple: only for arch rnn"),
    ({"units": 0}, "units 0"),
    ({"dropout": 1.0}, "dropout 1.0"),
])
def test_bad_options(options, message):
    with pytest.raises(InvalidInputError, match=message):
        models.ModelConfig(**options)
