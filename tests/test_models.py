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


@pytest.mark.parametrize("arch", models.ARCHITECTURES)
def test_contract_padding_invariance_and_safe_reload(tmp_path, sample_mnist, arch):
    config = models.ModelConfig(arch=arch, units=8, layers=1, conv_filters=4)
    model = models.build(config, **STATS)
    short, width = _frames(sample_mnist, [0, 1, 2], 84)
    long, _ = _frames(sample_mnist, [0, 1, 2], 140)
    out_short = model({"frames": short, "width": width}, training=False)
    out_long = model({"frames": long, "width": width}, training=False)
    frames = int(out_short["lengths"][0])
    assert frames == 84 // config.downsample
    assert out_short["logits"].shape[-1] == ctc.NUM_OUTPUTS
    np.testing.assert_allclose(out_short["logits"][0, :frames], out_long["logits"][0, :frames],
                               atol=1e-5)
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded({"frames": short, "width": width})["logits"],
                               out_short["logits"], atol=1e-6)


def test_pixels_never_make_the_mask(sample_mnist):
    model = models.build(models.ModelConfig(arch="brnn", units=8, layers=1), **STATS)
    frames, width = _frames(sample_mnist, [1, 1], 84)
    blank_inside = frames.copy()
    blank_inside[0, 20:30] = 0  # all-zero columns inside the sequence still count
    a = model({"frames": frames, "width": width})["logits"][0, :56]
    b = model({"frames": blank_inside, "width": width})["logits"][0, :56]
    assert not np.allclose(a[30:], b[30:])  # the recurrent state carries through the blank run


@pytest.mark.parametrize("options, message", [
    ({"arch": "transformer"}, "arch transformer"),
    ({"arch": "crnn", "cell": "simple"}, "cell simple: only for arch rnn"),
    ({"units": 0}, "units 0"),
    ({"dropout": 1.0}, "dropout 1.0"),
])
def test_bad_options(options, message):
    with pytest.raises(InvalidInputError, match=message):
        models.ModelConfig(**options)
