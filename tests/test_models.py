"""The architectures: contract, masks from width, safe reloading, export, bad options."""

import json
import math
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from digitseq.core.errors import InvalidInputError
from digitseq.recognizer.config import ARCHITECTURES, ModelConfig
from digitseq.recognizer.model import architectures as models
from digitseq.recognizer.model import ctc
from tests.weights import STATS, randomize_biases_and_statistics


def _frames(sample_mnist, digits, pad_to):
    image = np.concatenate([sample_mnist.test.images[i] for i in digits], axis=1)
    frames = np.zeros((1, pad_to, 28), np.uint8)
    frames[0, : image.shape[1]] = image.T
    return frames, np.array([image.shape[1]], np.int32)


@pytest.mark.parametrize(
    "arch, options",
    [
        *[(arch, {}) for arch in ARCHITECTURES],
        ("crnn", {"batch_norm": True, "conv_layers": 2, "conv_blocks": 3}),
        ("convctc", {"conv_layers": 2, "conv_blocks": 3, "layers": 3, "separable": True}),
        ("convctc", {"conv_blocks": 1, "layers": 2, "kernel_size": 4, "dilation": 3}),
        ("convctc", {"conv_layers": 3, "conv_blocks": 2, "conv_separable": True}),
        ("convctc", {"conv_layers": 2, "conv_blocks": 3, "conv_single_blocks": 2}),
        ("convctc", {"conv_layers": 2, "conv_blocks": 3, "width_pools": 1, "layers": 3}),
        ("crnn", {"conv_blocks": 3, "width_pools": 2}),
    ],
    ids=[
        *ARCHITECTURES,
        "crnn-bn-deep",
        "convctc-residual-separable",
        "convctc-even-kernel",
        "convctc-separable-blocks",
        "convctc-single-blocks",
        "convctc-width-pools",
        "crnn-width-pools",
    ],
)
def test_contract_padding_invariance_and_safe_reload(tmp_path, sample_mnist, arch, options):
    config = ModelConfig(
        arch=arch, units=8, layers=options.pop("layers", 1), conv_filters=4, **options
    )
    model = models.build(config, **STATS)
    randomize_biases_and_statistics(model)
    short, width = _frames(sample_mnist, [0, 1, 2], 84)
    long, _ = _frames(sample_mnist, [0, 1, 2], 140)
    width = width - 3  # an odd width, and ink beyond it that must not count
    out_short = model({"frames": short, "width": width}, training=False)
    out_long = model({"frames": long, "width": width}, training=False)
    out_exact = model({"frames": short[:, : int(width[0])], "width": width}, training=False)
    frames = int(out_short["lengths"][0])
    assert frames == -(-81 // config.downsample)
    assert out_short["logits"].shape[-1] == ctc.NUM_OUTPUTS
    np.testing.assert_allclose(
        out_short["logits"][0, :frames], out_long["logits"][0, :frames], atol=1e-5
    )
    np.testing.assert_allclose(out_exact["logits"][0], out_long["logits"][0, :frames], atol=1e-5)
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        reloaded({"frames": short, "width": width})["logits"], out_short["logits"], atol=1e-6
    )


@pytest.mark.parametrize("arch", ["brnn", "crnn", "convctc"])
def test_pixels_never_make_the_mask(sample_mnist, arch):
    """The same frames with a larger width (ten more all-zero columns) must read differently:
    the backward layers start from the width, not from the last column with ink."""
    model = models.build(
        ModelConfig(arch=arch, units=8, layers=1, conv_filters=4, noise=0.0, dropout=0.0), **STATS
    )
    frames, width = _frames(sample_mnist, [1, 1], 84)
    narrow = model({"frames": frames, "width": width}, training=False)
    wide = model({"frames": frames, "width": width + 10}, training=False)
    frames_out = int(narrow["lengths"][0])
    assert int(wide["lengths"][0]) > frames_out
    assert not np.allclose(
        narrow["logits"][0, :frames_out], wide["logits"][0, :frames_out], atol=1e-6
    )


@pytest.mark.parametrize(
    "options, message",
    [
        ({"arch": "transformer"}, "arch transformer"),
        ({"arch": "crnn", "cell": "simple"}, "cell simple: only for arch rnn"),
        ({"units": 0}, "units 0"),
        ({"dropout": 1.0}, "dropout 1.0"),
        ({"noise": math.nan}, "noise nan: expected a finite number"),
        ({"noise": math.inf}, "noise inf: expected a finite number"),
        ({"arch": "convctc", "kernel_size": 0}, "kernel_size 0: expected at least 1"),
        ({"arch": "convctc", "dilation": -2}, "dilation -2: expected at least 1"),
        ({"arch": "convctc", "conv_blocks": -1}, "conv_blocks -1: expected 0 or more"),
        (
            {"arch": "convctc", "dilation": 3, "layers": 5, "conv_blocks": 2},
            r"dilation 3: the widest temporal layer steps 324 input columns .* expected at most 280",
        ),
        (
            {"arch": "convctc", "dilation": 2, "layers": 5, "conv_blocks": 5},
            "dilation 2: the widest temporal layer steps 512 input columns",
        ),
        ({"arch": "brnn", "width_pools": 1}, "width_pools 1: only for arch crnn or convctc"),
        (
            {"arch": "convctc", "conv_blocks": 3, "width_pools": -1},
            r"width_pools -1: expected 0..3",
        ),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(InvalidInputError, match=message):
        ModelConfig(**options)


@pytest.mark.parametrize("arch", ["crnn", "convctc"])
def test_width_pools_pools_the_width_in_the_first_blocks_only(arch):
    config = ModelConfig(arch=arch, units=8, layers=1, conv_filters=4, conv_blocks=3, width_pools=1)
    model = models.build(config, **STATS)
    pools = [layer.pool_size for layer in model.layers if layer.name.startswith("pool_")]
    assert pools == [(2, 2), (1, 2), (1, 2)]  # [time, rows]: rows halve in every block
    out = model(
        {"frames": np.zeros((1, 61, 28), np.uint8), "width": np.array([61])}, training=False
    )
    assert config.downsample == 2 and int(out["lengths"][0]) == out["logits"].shape[1] == 31


def test_fewer_width_pools_relax_the_dilation_limit():
    with pytest.raises(InvalidInputError, match="dilation 4: the widest temporal layer steps 512"):
        ModelConfig(arch="convctc", dilation=4, layers=4, conv_blocks=3)  # 64 x 8 columns
    assert (
        ModelConfig(arch="convctc", dilation=4, layers=4, conv_blocks=3, width_pools=2).downsample
        == 4
    )  # 64 x 4 = 256 columns: allowed

    assert ModelConfig(arch="convctc", dilation=35, layers=2, conv_blocks=3).dilation == 35
    with pytest.raises(InvalidInputError, match="dilation 36: the widest temporal layer steps 288"):
        ModelConfig(arch="convctc", dilation=36, layers=2, conv_blocks=3)
    with pytest.raises(InvalidInputError, match="dilation 2: the widest temporal layer steps 512"):
        ModelConfig(arch="convctc", dilation=2, layers=7, conv_blocks=3)
    # Other architectures have no temporal convolutions: the rule does not apply.
    assert ModelConfig(arch="crnn", dilation=2, layers=7, conv_blocks=3).layers == 7


@pytest.mark.slow
def test_convctc_export_serves_the_keras_model_in_a_fresh_process(tmp_path, sample_mnist):
    from digitseq.recognizer.serving import decoding, export

    config = ModelConfig(
        arch="convctc", units=8, layers=2, conv_filters=4, conv_blocks=2, conv_layers=2
    )
    model = models.build(config, **STATS)
    randomize_biases_and_statistics(model, seed=1)
    export.export_model(
        model,
        str(tmp_path),
        stats=STATS,
        metadata={"height": 28},
        config={"run": {"model": config.to_json()}},
    )
    frames = np.zeros((3, 140, 28), np.uint8)
    widths = np.array([140, 81, 56], np.int32)
    for i, (digits, width) in enumerate(zip([[0, 1, 2, 3, 4], [5, 6, 7], [8, 9]], widths)):
        image = np.concatenate([sample_mnist.test.images[d] for d in digits], axis=1)
        frames[i, :width] = image.T[:width]
    np.save(tmp_path / "images.npy", np.transpose(frames, (0, 2, 1)))
    np.save(tmp_path / "widths.npy", widths)
    script = textwrap.dedent(f"""
        import json, numpy as np, tensorflow as tf
        serving = tf.saved_model.load({str(tmp_path / "serving")!r})
        args = dict(images=tf.constant(np.load({str(tmp_path / "images.npy")!r})),
                    widths=tf.constant(np.load({str(tmp_path / "widths.npy")!r})))
        out = {{**serving.signatures["serving_default"](**args),
               **{{"logits_" + k: v for k, v in serving.signatures["logits"](**args).items()}}}}
        print(json.dumps({{k: v.numpy().tolist() for k, v in out.items()}}))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    out = model({"frames": frames, "width": widths}, training=False)
    lengths = out["lengths"].numpy()
    assert served["logits_lengths"] == lengths.tolist() == [35, 21, 14]
    logits = np.array(served["logits_logits"])
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(logits[i, :n], out["logits"][i, :n], atol=1e-4)
    digits, digit_counts, confidence = decoding.decode(out["logits"], out["lengths"])
    assert served["lengths"] == digit_counts.numpy().tolist()
    assert decoding.to_strings(
        np.array(served["digits"]), np.array(served["lengths"])
    ) == decoding.to_strings(digits, digit_counts)
    np.testing.assert_allclose(served["confidence"], confidence.numpy(), rtol=1e-4)
    reloaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(
        reloaded({"frames": frames, "width": widths})["logits"], out["logits"], atol=1e-5
    )


def test_conv_separable_makes_only_the_residual_block_convolutions_separable():
    model = models.build(
        ModelConfig(
            arch="convctc",
            conv_blocks=2,
            conv_layers=3,
            conv_filters=4,
            units=8,
            layers=1,
            conv_separable=True,
        ),
        **STATS,
    )
    kinds = {
        layer.name: type(layer).__name__
        for layer in model.layers
        if re.fullmatch(r"conv_\d+_\d+", layer.name)
    }
    assert kinds == {
        "conv_0_0": "Conv2D",
        "conv_0_1": "SeparableConv2D",
        "conv_0_2": "SeparableConv2D",
        "conv_1_0": "Conv2D",
        "conv_1_1": "SeparableConv2D",
        "conv_1_2": "SeparableConv2D",
    }


def test_conv_single_blocks_gives_the_first_blocks_one_convolution():
    model = models.build(
        ModelConfig(
            arch="convctc",
            conv_blocks=3,
            conv_layers=2,
            conv_filters=4,
            units=8,
            layers=1,
            conv_single_blocks=2,
        ),
        **STATS,
    )
    convolutions = [
        layer.name for layer in model.layers if re.fullmatch(r"conv_\d+_\d+", layer.name)
    ]
    assert convolutions == ["conv_0_0", "conv_1_0", "conv_2_0", "conv_2_1"]
