"""Training: every architecture learns, replicas agree with one device, a killed run resumes,
two workers train together, the exported SavedModel decodes in a fresh process, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from digitseq import cli
from digitseq.core.errors import InvalidInputError
from digitseq.recognizer.config import ARCHITECTURES, ModelConfig, ReaderConfig, TrainConfig
from digitseq.recognizer.model import architectures as models
from digitseq.recognizer.train import checks
from digitseq.recognizer.train import trainer as train
from digitseq.schemas import dataset
from tests.conftest import SMALL, render
from tests.records import read_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}


def _train_cli(*args):
    return [sys.executable, "-m", "digitseq", "train", *args]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_each_architecture_learns(variable_dataset, tmp_path, arch):
    config = TrainConfig(
        data_dir=variable_dataset,
        model_dir=str(tmp_path / arch),
        epochs=3,
        batch_size=16,
        learning_rate=3e-3,
        model=ModelConfig(arch=arch, units=16, layers=1, conv_filters=8, dropout=0.0, noise=0.0),
    )
    result = train.train(config, progress=False)
    losses = [epoch["loss"] for epoch in result["history"]]
    assert losses[-1] < losses[0] * 0.9, losses
    for name in (
        "model.keras",
        "serving/saved_model.pb",
        "stats.json",
        "config.json",
        "best.keras",
    ):
        assert (tmp_path / arch / name).exists(), name
    written = json.loads((tmp_path / arch / "config.json").read_text())
    assert written["run"]["model"]["arch"] == arch and written["height"] == 28
    assert json.loads((tmp_path / arch / "stats.json").read_text()) == dataset.load_stats(
        variable_dataset
    )
    assert (tmp_path / arch / "logs" / "validation").is_dir()


@pytest.mark.slow
def test_two_replicas_match_one_device(variable_dataset):
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from digitseq.recognizer.data import reader as data
        from digitseq.recognizer.model import architectures as models
        from digitseq.recognizer.train import trainer as train
        from digitseq.recognizer.config import ModelConfig
        from digitseq.schemas import dataset
        stats = dataset.load_stats({variable_dataset!r})
        config = ModelConfig(arch="crnn", units=16, layers=1, conv_filters=8, dropout=0.0,
                             noise=0.0)
        batch = next(iter(data.make_dataset({variable_dataset!r}, "train", 16,
                                            drop_remainder=True)))
        keras.utils.set_random_seed(1)
        initial = models.build(config, mean=stats["mean"], std=stats["std"]).get_weights()

        def one_step(strategy):
            with strategy.scope():
                model = models.build(config, mean=stats["mean"], std=stats["std"])
                model.set_weights(initial)
                optimizer = keras.optimizers.SGD(0.1)
                optimizer.build(model.trainable_variables)
            step = train.make_train_step(model, optimizer, strategy)
            batches = strategy.experimental_distribute_dataset(
                tf.data.Dataset.from_tensors(batch))
            loss = float(step(iter(batches))[0])
            return loss, [w.numpy() for w in model.weights]

        one_loss, one_weights = one_step(tf.distribute.OneDeviceStrategy("/cpu:0"))
        two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        two_loss, two_weights = one_step(two)
        print(json.dumps({{"replicas": two.num_replicas_in_sync, "one": one_loss,
                          "two": two_loss,
                          "max_weight_diff": max(float(np.abs(a - b).max())
                                                 for a, b in zip(one_weights, two_weights)),
                          "max_update": max(float(np.abs(a - b).max())
                                            for a, b in zip(one_weights, initial))}}))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=ENV, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["one"] == pytest.approx(report["two"], abs=1e-5)
    assert report["max_update"] > 1e-4  # the step really changed the weights
    assert report["max_weight_diff"] < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["rnn", "convctc"])
def test_killed_run_resumes_from_the_next_epoch(variable_dataset, tmp_path, arch):
    model_dir = str(tmp_path / "model")
    command = _train_cli(
        "--data",
        variable_dataset,
        "--model-dir",
        model_dir,
        "--epochs",
        "3",
        "--arch",
        arch,
        *SMALL,
    )
    first = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT
    )
    seen = []
    for line in first.stdout:
        seen.append(line)
        if "Saved backup after epoch 1" in line:
            first.send_signal(signal.SIGKILL)
            break
    first.wait()
    assert first.returncode == -signal.SIGKILL, "".join(seen[-20:])
    assert not os.path.exists(os.path.join(model_dir, "model.keras"))

    second = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "after epoch 1" in second.stderr and "Resuming from" in second.stderr
    assert "epoch 1/3:" not in second.stderr and "epoch 3/3:" in second.stderr
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == 2 and summary["last"]["epoch"] == 3
    assert os.path.exists(os.path.join(model_dir, "serving", "saved_model.pb"))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_together_and_the_chief_exports(variable_dataset, tmp_path):
    model_dir = str(tmp_path / "model")
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                _train_cli(
                    "--data",
                    variable_dataset,
                    "--model-dir",
                    model_dir,
                    "--epochs",
                    "1",
                    "--strategy",
                    "multi_worker",
                    "--arch",
                    "rnn",
                    *SMALL,
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env={**ENV, "TF_CONFIG": json.dumps(tf_config)},
            )
        )
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
    config = json.loads(open(os.path.join(model_dir, "config.json")).read())
    assert config["replicas"] == 2 and config["strategy"] == "multi_worker"
    assert os.path.exists(os.path.join(model_dir, "serving", "saved_model.pb"))
    assert sorted(os.listdir(os.path.join(model_dir, "backup"))) == ["worker-0", "worker-1"]


@pytest.mark.slow
def test_saved_model_decodes_in_a_fresh_process(trained_model, variable_dataset):
    import keras
    import tensorflow as tf

    from digitseq.recognizer.data import reader as data
    from digitseq.recognizer.serving import calibration as calibration_lib
    from digitseq.recognizer.serving import decoding
    from digitseq.schemas import batch

    features, _ = next(iter(data.make_dataset(variable_dataset, "test", 8)))
    images = np.transpose(features[batch.FRAMES].numpy(), (0, 2, 1))
    widths = features[batch.WIDTH].numpy()
    np.save(os.path.join(trained_model, "probe_images.npy"), images)
    np.save(os.path.join(trained_model, "probe_widths.npy"), widths)
    script = textwrap.dedent(f"""
        import json, numpy as np, tensorflow as tf
        serving = tf.saved_model.load({os.path.join(trained_model, "serving")!r})
        out = serving.signatures["serving_default"](
            images=tf.constant(np.load({os.path.join(trained_model, "probe_images.npy")!r})),
            widths=tf.constant(np.load({os.path.join(trained_model, "probe_widths.npy")!r})))
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
    model = keras.models.load_model(os.path.join(trained_model, "model.keras"), safe_mode=True)
    out = model({"frames": features[batch.FRAMES], "width": features[batch.WIDTH]})
    digits, lengths, confidence = decoding.decode(out["logits"], out["lengths"])
    assert served["lengths"] == lengths.numpy().tolist()
    assert decoding.to_strings(
        np.array(served["digits"]), np.array(served["lengths"])
    ) == decoding.to_strings(digits, lengths)
    calibration = calibration_lib.read(trained_model)
    assert calibration is not None  # the fixture's data has a validation split
    np.testing.assert_allclose(
        served["confidence"], calibration.greedy.apply(confidence.numpy()), rtol=1e-4
    )
    assert all(0.0 <= c <= 1.0 for c in served["confidence"])
    del tf


def test_model_dir_of_another_run_is_refused(trained_model, variable_dataset, capsys):
    code = cli.run(
        [
            "train",
            "--data",
            variable_dataset,
            "--model-dir",
            trained_model,
            "--epochs",
            "2",
            "--arch",
            "rnn",
            *SMALL,
        ]
    )
    assert code == 2 and "holds another run (differs in model)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "case, message",
    [
        ("incomplete", "no COMPLETED file"),
        ("no_stats", "stats.json: missing"),
        ("no_tf_config", "TF_CONFIG is not set; strategy multi_worker expects a JSON cluster spec"),
        ("broken_tf_config", "TF_CONFIG is not valid JSON (Expecting property name"),
        (
            "tf_config_without_task",
            'TF_CONFIG task {"type": "worker", "index": 2}: not in the cluster',
        ),
        ("infeasible", "labels cannot be aligned by CTC"),
        ("infeasible_convctc", "labels cannot be aligned by CTC"),
        ("nan", "training loss became"),
    ],
)
def test_bad_input_is_refused(variable_dataset, tmp_path, capsys, monkeypatch, case, message):
    data_dir = tmp_path / "data"
    shutil.copytree(variable_dataset, data_dir)
    flags = [
        "train",
        "--data",
        str(data_dir),
        "--model-dir",
        str(tmp_path / "model"),
        "--epochs",
        "1",
        *SMALL,
    ]
    if case == "incomplete":
        (data_dir / dataset.COMPLETED).unlink()
    elif case == "no_stats":
        (data_dir / dataset.STATS).unlink()
    elif case == "no_tf_config":
        monkeypatch.delenv("TF_CONFIG", raising=False)
        flags += ["--strategy", "multi_worker"]
    elif case == "broken_tf_config":
        monkeypatch.setenv("TF_CONFIG", "{broken")
        flags += ["--strategy", "multi_worker"]
    elif case == "tf_config_without_task":
        monkeypatch.setenv(
            "TF_CONFIG",
            json.dumps(
                {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}
            ),
        )
        flags += ["--strategy", "multi_worker"]
    elif case == "infeasible":
        flags += ["--conv-blocks", "5"]
    elif case == "infeasible_convctc":
        flags += ["--arch", "convctc", "--conv-blocks", "5", "--dilation", "1"]
    else:
        flags += ["--optimizer", "sgd", "--learning-rate", "1e9", "--arch", "rnn"]
    assert cli.run(flags) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    if case.startswith("infeasible"):
        assert "ids train/" in err and "at downsample 32" in err


def test_feasibility_check_refuses_overlapped_digits_the_model_cannot_align(tmp_path):
    """pan001 packs 5 digits into 5 * 28 - 4 * 15 = 80 columns: a crnn with 4 conv blocks
    (downsample 16) emits 5 frames, too few for a label with a repeated pair (CTC needs a blank
    between the two). The plain layout (140 columns, 9 frames) and downsample 8 (10 frames) fit."""
    flags = ["--length", "5", "--train", "60", "--validation", "0", "--test", "0", "--shards", "1"]
    assert render(tmp_path / "pan001", "--preset", "pan001", *flags) == 0
    assert render(tmp_path / "plain", *flags) == 0
    downsample = ModelConfig(conv_blocks=4).downsample
    labels = [r["label"] for r in read_split(str(tmp_path / "pan001"), "train")]
    repeated = sum(any(a == b for a, b in zip(label, label[1:])) for label in labels)
    assert downsample == 16 and 0 < repeated < 60
    with pytest.raises(
        InvalidInputError,
        match=f"{repeated} of 60 labels cannot be aligned by CTC .* at downsample 16",
    ):
        checks.check_feasible(str(tmp_path / "pan001"), "train", downsample)
    assert checks.check_feasible(str(tmp_path / "plain"), "train", downsample) == 60
    assert checks.check_feasible(str(tmp_path / "pan001"), "train", 8) == 60


def test_cosine_schedule_warms_up_then_decays_to_zero(tmp_path):
    config = TrainConfig(
        data_dir="d",
        model_dir="m",
        epochs=10,
        learning_rate=2e-3,
        schedule="cosine",
        warmup_epochs=1,
    )
    schedule = train.learning_rate_schedule(config, steps_per_epoch=100)
    assert float(schedule(0)) == pytest.approx(2e-4)
    assert float(schedule(100)) == pytest.approx(2e-3)
    assert float(schedule(550)) == pytest.approx(1e-3, rel=1e-3)
    assert float(schedule(1000)) == pytest.approx(0, abs=1e-9)
    constant = train.learning_rate_schedule(
        TrainConfig(data_dir="d", model_dir="m"), steps_per_epoch=100
    )
    assert constant == 1e-3


def test_without_validation_the_criterion_is_the_training_loss_and_examples_are_counted(tmp_path):
    from digitseq.recognizer.data import layout
    from digitseq.recognizer.data import reader as data

    assert (
        render(
            tmp_path / "data",
            "--mode",
            "variable",
            "--train",
            "120",
            "--validation",
            "0",
            "--test",
            "0",
            "--shards",
            "1",
            "--seed",
            "2",
        )
        == 0
    )
    config = TrainConfig(
        data_dir=str(tmp_path / "data"),
        model_dir=str(tmp_path / "model"),
        epochs=1,
        batch_size=16,
        reader=ReaderConfig(constant_frames=True),
        model=ModelConfig(arch="rnn", units=8, layers=1),
    )
    result = train.train(config, progress=False)
    assert result["criterion"] == "train_loss"
    assert result["best"] == pytest.approx(result["history"][0]["loss"])
    info = layout.split_info(config.data_dir[0], "train")
    sizes = data.bucket_batch_sizes(info, 16, constant_frames=True)
    assert len(set(sizes.values())) > 1  # constant frames: batch sizes differ per bucket
    assert result["history"][0]["examples"] == 120  # the epoch saw every record once


def test_importing_the_layers_is_enough_to_load_a_model(trained_model):
    script = textwrap.dedent(f"""
        import keras
        import digitseq.recognizer.model.layers
        keras.saving.load_model({os.path.join(trained_model, "model.keras")!r}, safe_mode=True)
        print("loaded")
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=ENV, cwd=ROOT
    )
    assert result.returncode == 0 and "loaded" in result.stdout, result.stderr[-2000:]


def _one_step(variable_dataset, *, jit_compile: bool, seed: int = 1):
    import keras
    import tensorflow as tf

    from digitseq.recognizer.data import reader as data

    stats = dataset.load_stats(variable_dataset)
    config = ModelConfig(
        arch="convctc", units=8, layers=2, conv_filters=4, conv_layers=2, dropout=0.0, noise=0.0
    )
    keras.utils.set_random_seed(seed)
    features = next(
        iter(data.make_dataset(variable_dataset, "train", 16, training=True, seed=seed))
    )
    model = models.build(config, mean=stats["mean"], std=stats["std"])
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    step = train.make_train_step(model, optimizer, strategy, jit_compile=jit_compile)
    before = [w.numpy() for w in model.weights]
    loss, examples = step(
        iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(features)))
    )
    return float(loss), int(examples), before, [w.numpy() for w in model.weights]


@pytest.mark.slow
def test_xla_step_equals_the_plain_step(variable_dataset):
    """The compiled forward and backward pass (CTC loss outside) updates the weights as the plain
    step does, batch-norm statistics included."""
    plain = _one_step(variable_dataset, jit_compile=False)
    xla = _one_step(variable_dataset, jit_compile=True)
    assert plain[1] == xla[1] == 16
    assert plain[0] == pytest.approx(xla[0], rel=1e-4)
    for a, b in zip(plain[2], xla[2]):
        np.testing.assert_array_equal(a, b)
    assert max(float(np.abs(a - s).max()) for s, a in zip(plain[2], plain[3])) > 1e-3
    for a, b in zip(plain[3], xla[3]):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-3)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_convctc_step(variable_dataset):
    first = _one_step(variable_dataset, jit_compile=False, seed=3)
    again = _one_step(variable_dataset, jit_compile=False, seed=3)
    other = _one_step(variable_dataset, jit_compile=False, seed=4)
    assert first[0] == again[0] != other[0]
    for a, b in zip(first[3], again[3]):
        np.testing.assert_array_equal(a, b)


def test_averaged_weights_hold_the_moving_average_inside_and_the_raw_weights_after(
    variable_dataset,
):
    """Keras' EMA: the first update's weights, then average = m * average + (1 - m) * weights."""
    import keras
    import tensorflow as tf

    from digitseq.recognizer.data import reader as data

    stats = dataset.load_stats(variable_dataset)
    keras.utils.set_random_seed(0)
    model = models.build(
        ModelConfig(arch="convctc", units=8, layers=1, conv_filters=4),
        mean=stats["mean"],
        std=stats["std"],
    )
    optimizer = keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
    optimizer.build(model.trainable_variables)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    step = train.make_train_step(model, optimizer, strategy)
    batches = iter(
        strategy.experimental_distribute_dataset(
            data.make_dataset(variable_dataset, "train", 16, training=True, seed=0).repeat()
        )
    )
    seen = []
    for _ in range(3):
        step(batches)
        seen.append([v.numpy() for v in model.trainable_variables])
    expected = [0.25 * a + 0.25 * b + 0.5 * c for a, b, c in zip(*seen)]
    with train.averaged_weights(model, optimizer):
        for variable, value in zip(model.trainable_variables, expected):
            np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5, atol=1e-6)
    assert max(float(np.abs(a - b).max()) for a, b in zip(seen[-1], expected)) > 1e-4
    for variable, value in zip(model.trainable_variables, seen[-1]):
        np.testing.assert_array_equal(variable.numpy(), value)


@pytest.mark.slow
def test_weight_average_exports_the_average_and_resumes_it(variable_dataset, tmp_path):
    """The exported model holds the averaged weights of its best epoch; a restarted run restores
    the average with the other optimizer variables."""
    import keras
    import tensorflow as tf

    import digitseq.recognizer.model.layers  # noqa: F401  (registers the custom layers)

    def config(epochs):
        return TrainConfig(
            data_dir=variable_dataset,
            model_dir=str(tmp_path / "model"),
            epochs=epochs,
            batch_size=16,
            weight_average=0.9,
            model=ModelConfig(arch="convctc", units=16, layers=1, conv_filters=8),
        )

    first = train.train(config(1), progress=False)
    assert first["history"][-1]["epoch"] == 1
    exported = keras.saving.load_model(str(tmp_path / "model" / "model.keras"), compile=False)
    stats = dataset.load_stats(variable_dataset)
    run = train._build_run(
        config(2), tf.distribute.get_strategy(), stats=stats, height=28, steps=1, worker=0
    )  # restores the backup of epoch 1
    assert int(run.epoch.numpy()) == 1
    averages = run.optimizer._model_variables_moving_average
    raw = {v.path: v.numpy() for v in run.model.trainable_variables}
    average = {v.path: a.numpy() for v, a in zip(run.model.trainable_variables, averages)}
    for variable in exported.trainable_variables:
        np.testing.assert_allclose(variable.numpy(), average[variable.path], rtol=1e-6)
    assert max(float(np.abs(raw[k] - average[k]).max()) for k in raw) > 1e-4


def test_a_run_without_weight_averaging_keeps_the_identity_it_had_before_the_option():
    plain = TrainConfig(data_dir="d", model_dir="m")
    assert "weight_average" not in plain.run_identity()
    averaged = TrainConfig(data_dir="d", model_dir="m", weight_average=0.999)
    assert averaged.run_identity() == {**plain.run_identity(), "weight_average": 0.999}


def test_the_training_input_is_released_before_export(variable_dataset, tmp_path, monkeypatch):
    """Its destruction can wait out a sleep of tf.data's autotuning thread (see
    `train._release_in_background`), so it must happen on its own thread, with no other reference
    left in `train` to keep it alive until return."""
    import weakref

    released = []
    real = train._release_in_background

    def watch(holder):
        iterator = weakref.ref(holder[0])
        thread = real(holder)
        thread.join()
        released.append(
            (thread.name, iterator() is None, (tmp_path / "model" / "model.keras").exists())
        )
        return thread

    monkeypatch.setattr(train, "_release_in_background", watch)
    train.train(
        TrainConfig(
            data_dir=variable_dataset,
            model_dir=str(tmp_path / "model"),
            epochs=1,
            batch_size=16,
            model=ModelConfig(arch="convctc", units=8, layers=1, conv_filters=4),
        ),
        progress=False,
    )
    assert released == [("digitseq-release-training-input", True, False)]


@pytest.mark.slow
def test_each_split_is_verified_once_per_run(variable_dataset, tmp_path, monkeypatch):
    from digitseq.recognizer.data import reader

    verified = []
    original = reader.verify_records

    def counting(info, files, **kwargs):
        verified.append(info.split)
        return original(info, files, **kwargs)

    monkeypatch.setattr(reader, "verify_records", counting)
    argv = ["train", "--data", variable_dataset, "--model-dir", str(tmp_path / "m")]
    assert cli.run([*argv, "--epochs", "2", *SMALL]) == 0
    assert sorted(verified) == ["train", "validation"]
