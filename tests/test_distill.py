"""Distillation: learning a teacher's per-frame probabilities besides the CTC loss."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from digitseq import cli
from digitseq.recognizer.train import distill
from digitseq.schemas import exported
from tests.conftest import SMALL


def test_the_distillation_loss_counts_real_frames_and_vanishes_on_the_teacher():
    rng = np.random.default_rng(0)
    teacher = tf.constant(rng.normal(size=(2, 6, 11)), tf.float32)
    lengths = tf.constant([6, 3])
    assert np.allclose(distill.loss_per_example(teacher, teacher, lengths), 0, atol=1e-6)
    student = rng.normal(size=(2, 6, 11)).astype(np.float32)
    loss = distill.loss_per_example(teacher, tf.constant(student), lengths).numpy()
    assert (loss > 0).all()
    beyond = student.copy()
    beyond[1, 3:] = 50.0  # frames past the second string's length
    np.testing.assert_allclose(
        distill.loss_per_example(teacher, tf.constant(beyond), lengths), loss, rtol=1e-6
    )
    truncated = distill.loss_per_example(teacher[1:, :3], tf.constant(student[1:, :3]), lengths[1:])
    np.testing.assert_allclose(truncated, loss[1:], rtol=1e-6)


def test_a_student_trains_with_a_teacher_and_records_it(trained_model, variable_dataset, tmp_path):
    student = str(tmp_path / "student")
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                student,
                "--epochs",
                "1",
                "--teacher",
                trained_model,
                "--distill-weight",
                "0.7",
                *SMALL,
            ]
        )
        == 0
    )
    with open(os.path.join(student, exported.CONFIG)) as f:
        run = json.load(f)["run"]
    assert run["teacher"] == os.path.abspath(trained_model)
    assert run["distill_weight"] == 0.7
    assert os.path.exists(os.path.join(student, exported.SERVING, exported.SAVED_MODEL))


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--conv-blocks", "3"],
            "emits a frame every 4 columns, the model every 8; expected the "
            "same downsampling (2^--width-pools, --width-pools being "
            "--conv-blocks unless given)",
        ),
        (["--distill-weight", "1"], None),
    ],
)
def test_a_teacher_that_does_not_fit_is_refused(
    trained_model, variable_dataset, tmp_path, capsys, flags, message
):
    student = tmp_path / "student"
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(student),
                "--teacher",
                trained_model,
                *SMALL,
                *flags,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    expected = (
        f"--teacher {trained_model}: {message}"
        if message
        else "--distill-weight 1.0: expected more than 0 and less than 1"
    )
    assert err == f"digitseq train: error: {expected}", err
    assert not student.exists()


def test_a_teacher_must_be_an_exported_model(variable_dataset, tmp_path, capsys):
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(tmp_path / "m"),
                "--teacher",
                variable_dataset,
                *SMALL,
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.strip() == (
        f"digitseq train: error: --teacher {variable_dataset}: no model.keras, expected an "
        f"exported model directory (digitseq train writes one)"
    )


def test_a_distillation_weight_needs_a_teacher(variable_dataset, tmp_path, capsys):
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(tmp_path / "m"),
                "--distill-weight",
                "0.3",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.strip() == (
        "digitseq train: error: --distill-weight 0.3: expected together with --teacher (the "
        "weight of its share of the loss)"
    )


def test_the_train_step_weighs_the_teacher_in(variable_dataset):
    import keras

    from digitseq.recognizer.config import ModelConfig
    from digitseq.recognizer.data import reader as data
    from digitseq.recognizer.model import architectures as models
    from digitseq.recognizer.train import trainer as train
    from digitseq.schemas import dataset

    config = ModelConfig(units=8, layers=1, conv_filters=4, dropout=0.0, noise=0.0)
    stats = dataset.load_stats(variable_dataset)
    strategy = tf.distribute.get_strategy()
    batches = data.make_dataset(variable_dataset, "validation", 16)
    losses = {}
    for weight in (None, 0.25):
        keras.utils.set_random_seed(0)
        model = models.build(config, mean=stats["mean"], std=stats["std"])
        teacher = None
        if weight is not None:
            teacher = models.build(config, mean=stats["mean"], std=stats["std"])
            teacher.set_weights(model.get_weights())
        step = train.make_train_step(
            model,
            keras.optimizers.Adam(1e-3),
            strategy,
            teacher=teacher,
            distill_weight=weight or 0.5,
        )
        losses[weight] = float(step(iter(batches))[0])
    # A teacher equal to the model (no noise, dropout or batch statistics to tell them apart)
    # adds nothing, so only the CTC share of the loss remains.
    np.testing.assert_allclose(losses[0.25], 0.75 * losses[None], rtol=1e-5)
