"""Fine-tuning from an exported model and training on several datasets at once."""

from __future__ import annotations

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from digitseq import cli
from digitseq.core.errors import ConfigError
from digitseq.recognizer.config import ModelConfig, TrainConfig
from digitseq.recognizer.data import reader as data
from digitseq.recognizer.model import ctc
from digitseq.recognizer.serving import exported_model
from digitseq.recognizer.train import finetune
from digitseq.recognizer.train import trainer as train
from digitseq.schemas import batch, dataset, exported
from tests.conftest import SMALL, render


@pytest.fixture(scope="module")
def lengths_2_and_4(tmp_path_factory):
    """Two small datasets told apart by their label length: fixed 2 and fixed 4 digits."""
    root = tmp_path_factory.mktemp("mix")
    for length in (2, 4):
        assert (
            render(
                root / f"len{length}",
                "--length",
                str(length),
                "--train",
                "64",
                "--validation",
                "16",
                "--test",
                "0",
                "--shards",
                "1",
                "--seed",
                str(length),
            )
            == 0
        )
    return str(root / "len2"), str(root / "len4")


def _loss(model, features, labels) -> float:
    out = model(features, training=False)
    return float(
        tf.reduce_mean(
            ctc.loss_per_example(
                labels[batch.LABEL],
                labels[batch.LABEL_LENGTH],
                out[batch.LOGITS],
                out[batch.LENGTHS],
            )
        )
    )


def _model(config: TrainConfig, initial=None):
    stats = initial.stats if initial else dataset.load_stats(config.data_dir[0])
    run = train._build_run(
        config,
        tf.distribute.get_strategy(),
        stats=stats,
        height=28,
        steps=1,
        worker=0,
        initial=initial,
    )
    return run.model


def test_fine_tuning_starts_from_the_given_weights(trained_model, variable_dataset, tmp_path):
    initial = exported_model.open_model(trained_model, field="init_from", keras=True)
    config = TrainConfig(
        data_dir=variable_dataset, model_dir=str(tmp_path / "m"), init_from=trained_model
    )
    config = train.dataclasses.replace(config, model=finetune.resolve_model(config.model, initial))
    features, labels = next(iter(data.make_dataset(variable_dataset, "train", 32, seed=0)))
    saved = keras.saving.load_model(os.path.join(trained_model, exported.MODEL))
    started = _loss(_model(config, initial), features, labels)
    assert started == pytest.approx(_loss(saved, features, labels), rel=1e-5)
    assert started < 0.8 * _loss(_model(config), features, labels)


def test_digitseq_train_fine_tunes_with_nothing_but_init_from(
    trained_model, variable_dataset, tmp_path
):
    model_dir = tmp_path / "tuned"
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(model_dir),
                "--init-from",
                trained_model,
                "--epochs",
                "1",
                "--batch-size",
                "16",
            ]
        )
        == 0
    )
    mine = json.loads((model_dir / exported.CONFIG).read_text())
    theirs = json.loads(open(os.path.join(trained_model, exported.CONFIG)).read())
    assert mine["run"]["model"] == theirs["run"]["model"]
    assert mine["run"]["init_from"] == os.path.abspath(trained_model)
    assert json.loads((model_dir / exported.STATS).read_text()) == json.loads(
        open(os.path.join(trained_model, exported.STATS)).read()
    )


def test_freeze_conv_keeps_the_front_end(trained_model, variable_dataset, tmp_path):
    model_dir = tmp_path / "frozen"
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(model_dir),
                "--init-from",
                trained_model,
                "--freeze-conv",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--learning-rate",
                "0.01",
            ]
        )
        == 0
    )
    before = keras.saving.load_model(os.path.join(trained_model, exported.MODEL))
    after = keras.saving.load_model(str(model_dir / exported.MODEL))
    frozen = {layer.name for layer in finetune.front_end(after)}
    assert frozen and all(name.startswith("conv_") for name in frozen)
    for layer in after.layers:
        same = all(
            np.array_equal(a, b)
            for a, b in zip(layer.get_weights(), before.get_layer(layer.name).get_weights())
        )
        if layer.name in frozen:
            assert same, layer.name
        elif layer.name == "logits":
            assert not same


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--units", "32"],
            "--units 32: the model in --init-from ({init}) has units 16; expected the "
            "same, or leave it unset",
        ),
        (["--arch", "rnn"], "--arch rnn: the model in --init-from ({init}) has arch crnn"),
    ],
)
def test_an_architecture_that_differs_is_one_line(
    trained_model, variable_dataset, tmp_path, capsys, flags, message
):
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(tmp_path / "m"),
                "--init-from",
                trained_model,
                *flags,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and message.format(init=trained_model) in err, err


def test_init_from_a_directory_without_a_model_is_one_line(variable_dataset, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(tmp_path / "m"),
                "--init-from",
                str(tmp_path / "empty"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err == (
        f"digitseq train: error: --init-from {tmp_path / 'empty'}: no model.keras, "
        f"expected an exported model directory (digitseq train writes one)"
    )


def test_a_different_height_is_refused(trained_model):
    initial = exported_model.open_model(trained_model, field="init_from", keras=True)
    with pytest.raises(ConfigError, match="takes images of height 28, but D holds height 32"):
        initial.check_height(32, data="D")


def _copy_with(metadata_change: dict, source: str, target) -> str:
    shutil.copytree(source, target)
    path = os.path.join(target, dataset.METADATA)
    metadata = json.loads(open(path).read())
    metadata.update(metadata_change)
    with open(path, "w") as f:
        json.dump(metadata, f)
    return str(target)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"height": 32},
            "--data {other}: holds images of height 32, but {first} holds height 28; "
            "expected one height for every dataset",
        ),
        ({"schema_version": 2}, "{other}/metadata.json: schema_version 2, expected 1"),
    ],
)
def test_datasets_given_together_must_agree(lengths_2_and_4, tmp_path, capsys, change, message):
    first = lengths_2_and_4[0]
    other = _copy_with(change, lengths_2_and_4[1], tmp_path / "other")
    assert (
        cli.run(
            ["train", "--data", first, "--data", other, "--model-dir", str(tmp_path / "m"), *SMALL]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and message.format(other=other, first=first) in err, err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--data-weights", "1,0"], "--data-weights 1.0,0.0: expected positive finite numbers"),
        (["--data-weights", "1"], "--data-weights 1.0: expected one weight per --data (2)"),
        (["--data-weights=-1,2"], "--data-weights -1.0,2.0: expected positive finite numbers"),
        (["--freeze-conv"], "--freeze-conv True: expected together with --init-from"),
    ],
)
def test_bad_mixing_options_are_one_line(lengths_2_and_4, tmp_path, capsys, flags, message):
    assert (
        cli.run(
            [
                "train",
                "--data",
                lengths_2_and_4[0],
                "--data",
                lengths_2_and_4[1],
                "--model-dir",
                str(tmp_path / "m"),
                *flags,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and message in err, err


def test_mixing_weights_are_honoured_on_a_seeded_run(lengths_2_and_4):
    def share_of_short(seed):
        mixed = data.make_training_mix(lengths_2_and_4, (3.0, 1.0), 8, seed=seed)
        lengths = [int(labels[batch.LABEL_LENGTH][0]) for _, labels in mixed.take(400)]
        assert set(lengths) == {2, 4}
        return lengths.count(2) / len(lengths), lengths

    share, first = share_of_short(11)
    assert 0.70 <= share <= 0.80
    assert share_of_short(11)[1] == first


def test_several_datasets_train_together(lengths_2_and_4, tmp_path):
    config = TrainConfig(
        data_dir=lengths_2_and_4,
        model_dir=str(tmp_path / "m"),
        epochs=1,
        batch_size=16,
        data_weights=(1.0, 1.0),
        model=ModelConfig(units=16, layers=1, conv_filters=8),
    )
    result = train.train(config, progress=False)
    assert result["criterion"] == "val_cer"
    assert result["history"][0]["examples"] == (64 + 64) // 16 * 16


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
@pytest.mark.parametrize("flag", ["--init-from", "--teacher"])
def test_a_damaged_model_file_is_one_line_and_leaves_nothing(
    trained_model, variable_dataset, tmp_path, capsys, damage, flag
):
    broken = tmp_path / "broken"
    shutil.copytree(trained_model, broken)
    archive = broken / exported.MODEL
    content = bytearray(archive.read_bytes())
    if damage == "truncated":
        content = content[: len(content) // 2]
    else:
        content[len(content) // 2] ^= 0xFF  # one byte inside the weights
    archive.write_bytes(bytes(content))
    model_dir = tmp_path / "tuned"
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(model_dir),
                flag,
                str(broken),
                "--epochs",
                "1",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and (f"{flag} {broken}: its model.keras cannot be loaded (") in err
    ), err
    assert not model_dir.exists()
