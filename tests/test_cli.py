"""The command line is built from the config dataclasses: same defaults, documented flags, and
library errors shown with flag names."""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import subprocess
import sys

import pytest

from digitseq import cli
from digitseq.cli.workflow import DemoConfig
from digitseq.core.errors import ConfigError
from digitseq.pipelines.ingest.config import IngestConfig
from digitseq.pipelines.predict.config import PredictConfig
from digitseq.pipelines.render.config import RenderConfig
from digitseq.recognizer.config import ModelConfig, TrainConfig
from digitseq.recognizer.train import recipes

ROOT = pathlib.Path(__file__).resolve().parents[1]

REQUIRED = {
    "render": ["--out", "o"],
    "train": ["--data", "d", "--model-dir", "m"],
    "predict": ["--model", "m", "--input", "i", "--out", "o"],
    "demo": [],
    "ingest": ["--images", "i", "--labels", "l", "--out", "o"],
}


def _parsed(command: str, *flags: str) -> argparse.Namespace:
    """The namespace `cli.run` hands a command (with the command's own arguments in `argv`)."""
    args, _ = cli.build_parser().parse_known_args([command, *REQUIRED[command], *flags])
    args.argv = [*REQUIRED[command], *flags]
    return args


@pytest.mark.parametrize(
    "command, cls, required",
    [
        ("render", RenderConfig, {"out_dir": "o"}),
        ("train", TrainConfig, {"data_dir": "d", "model_dir": "m"}),
        ("predict", PredictConfig, {"model_dir": "m", "input_pattern": "i", "out_dir": "o"}),
        ("demo", DemoConfig, {}),
        ("ingest", IngestConfig, {"images": "i", "labels": "l", "out_dir": "o"}),
    ],
)
def test_every_flag_default_is_the_library_default(command, cls, required):
    args = _parsed(command)
    if command == "render":
        from digitseq.cli import render as render_cmd

        assert render_cmd.config(args) == cls(**required)
    else:
        assert args.flags.build(cls, args) == cls(**required)


def test_demo_takes_render_and_training_defaults_from_the_libraries():
    args = _parsed("demo")
    render = args.flags.build(RenderConfig, args, out_dir="x")
    assert render == RenderConfig(out_dir="x")
    assert args.batch_size == TrainConfig(data_dir="d", model_dir="m").batch_size


@pytest.mark.parametrize("recipe", list(recipes.RECIPES.values()), ids=list(recipes.RECIPES))
def test_each_recipe_is_what_its_flags_and_the_readme_say(recipe):
    args = _parsed("train", "--epochs", "14", *recipe.flags.split())
    parsed = args.flags.build(TrainConfig, args)
    assert parsed == recipe.apply(TrainConfig(data_dir="d", model_dir="m", epochs=14))
    assert parsed.reader.augment and parsed.warmup_epochs == 1
    one_epoch = recipe.apply(TrainConfig(data_dir="d", model_dir="m", epochs=1))
    assert one_epoch.warmup_epochs == 0.5  # a one-epoch run warms up for half of it
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    assert recipe.flags in " ".join(readme.replace("\\\n", " ").split())


@pytest.mark.parametrize("name", sorted(recipes.RECIPES))
def test_train_recipe_trains_the_recipe_and_refuses_the_flags_it_sets(name, monkeypatch, capsys):
    from digitseq.cli import train as train_cmd

    trained = []
    monkeypatch.setattr(
        "digitseq.recognizer.train.trainer.train",
        lambda config, **_: (
            trained.append(config)
            or {"history": [], "criterion": "val_cer", "best": None, "train_seconds": 0.0}
        ),
    )
    args = _parsed("train", "--recipe", name, "--epochs", "6", "--batch-size", "32")
    assert train_cmd.run(args, []) == 0
    assert trained == [
        recipes.RECIPES[name].apply(
            TrainConfig(data_dir="d", model_dir="m", epochs=6, batch_size=32)
        )
    ]
    assert (
        cli.run(
            [
                "train",
                *REQUIRED["train"],
                "--recipe",
                name,
                "--dropout",
                "0.1",
                "--schedule",
                "cosine",
            ]
        )
        == 2
    )
    assert (
        f"--recipe {name}: sets its own model, learning rate (cosine, with warm-up) and "
        f"augmentation, but --dropout, --schedule are given too; expected none of them with "
        f"it"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--recipe", "deep", "--arch", "crnn"], "--arch"),  # crnn is --arch's default
        (["--recipe", "floor", "--learning-rate", "0.001"], "--learning-rate"),  # the default
        (["--recipe", "fast", "--no-augment"], "--augment"),
        (["--recipe", "deep", "--width-pools", "2"], "--width-pools"),
    ],
)
def test_a_flag_the_recipe_sets_is_refused_whatever_its_value(flags, named, capsys):
    assert cli.run(["train", *REQUIRED["train"], *flags]) == 2
    err = capsys.readouterr().err
    assert f"but {named} is given too; expected none of them with it" in err, err


def test_the_demo_trains_the_deep_recipe(monkeypatch):
    from digitseq.cli import demo as demo_cmd

    trained = []
    monkeypatch.setattr(
        "digitseq.cli.workflow.run_demo",
        lambda demo, render, training, *a, **k: trained.append(training) or {},
    )
    monkeypatch.setattr("digitseq.cli.text.demo_table", lambda result: "")
    args = _parsed("demo", "--epochs", "3")
    assert demo_cmd.run(args, []) == 0
    assert trained[0] == recipes.DEEP.apply(
        dataclasses.replace(trained[0], model=ModelConfig(), learning_rate=1.0)
    )
    assert trained[0].model.arch == "convctc" and trained[0].epochs == 3


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_every_flag_has_help(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        if action.option_strings and action.dest not in ("help",):
            assert action.help, (command, action.option_strings)


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_help_shows_every_default_and_every_list_of_choices(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        if action.choices:
            assert action.metavar == "{" + ",".join(action.choices) + "}", action.option_strings
        if isinstance(action, argparse.BooleanOptionalAction) and action.default is not None:
            assert action.help.endswith(f"(default: {'on' if action.default else 'off'})"), (
                action.option_strings
            )
    if command == "train":
        assert "--arch {crnn,brnn,rnn,convctc}" in sub.choices[command].format_help()


def test_fixed_lists_are_choices():
    args = _parsed("train", "--arch", "rnn", "--cell", "simple", "--strategy", "mirrored")
    config = args.flags.build(TrainConfig, args)
    assert (config.model.arch, config.model.cell, config.strategy) == ("rnn", "simple", "mirrored")
    assert cli.run(["train", *REQUIRED["train"], "--arch", "transformer"]) == 2


def test_library_errors_name_the_field_and_the_command_line_the_flag(capsys):
    with pytest.raises(ConfigError, match=r"^units 0: expected at least 1$"):
        ModelConfig(units=0)
    with pytest.raises(ConfigError, match=r"^formats csv: expected one or more of"):
        PredictConfig(model_dir="m", input_pattern="i", out_dir="o", formats="csv")
    assert cli.run(["train", *REQUIRED["train"], "--units", "0"]) == 2
    assert (
        capsys.readouterr().err.strip() == "digitseq train: error: --units 0: expected at least 1"
    )
    assert cli.run(["predict", *REQUIRED["predict"], "--format", "csv"]) == 2
    assert "error: --format csv: expected one or more of jsonl, parquet" in capsys.readouterr().err
    assert cli.run(["train", *REQUIRED["train"], "--epochs", "2", "--warmup-epochs", "3"]) == 2
    assert (
        "--warmup-epochs 3.0: expected at least 0 and fewer than --epochs (2)"
        in capsys.readouterr().err
    )
    for value in ("1", "-0.5"):
        assert cli.run(["train", *REQUIRED["train"], "--weight-average", value]) == 2
        assert capsys.readouterr().err.strip() == (
            f"digitseq train: error: --weight-average {float(value)}: expected at least 0 "
            f"(0: off) and less than 1"
        )


def test_config_fields_are_documented():
    from digitseq.cli.flags import field_docs

    for cls in (RenderConfig, TrainConfig, PredictConfig, DemoConfig, ModelConfig):
        docs = field_docs(cls)
        assert set(docs) == {f.name for f in dataclasses.fields(cls)}, cls


def _float_flags() -> list[tuple[str, str, bool]]:
    """`(command, flag, is_pair)` for every float option of every command, from the parsers
    (so a new float field of any config is covered without editing this test)."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for command, subparser in sorted(sub.choices.items()):
        for action in subparser._actions:
            pair = getattr(action.type, "kind", None) is float
            if action.option_strings and (action.type is float or pair):
                found.append((command, action.option_strings[0], pair))
    return found


FLOAT_FLAGS = _float_flags()


def test_float_flags_are_found():
    assert {
        ("render", "--slant", True),
        ("train", "--noise", False),
        ("train", "--learning-rate", False),
        ("ingest", "--max-rejected", False),
    } <= set(FLOAT_FLAGS)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("command, flag, pair", FLOAT_FLAGS)
def test_float_flags_refuse_nan_and_infinity(command, flag, pair, value, capsys, monkeypatch):
    import apache_beam as beam

    def no_pipeline(*args, **kwargs):
        raise AssertionError("a Beam pipeline was started")

    monkeypatch.setattr(beam.Pipeline, "__init__", no_pipeline)
    written = f"{value},{value}" if pair else value
    assert cli.run([command, *REQUIRED[command], f"{flag}={written}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert f"error: {flag} " in err and "finite number" in err, err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--kernel-size", "0"], "--kernel-size 0: expected at least 1"),
        (["--dilation", "-1"], "--dilation -1: expected at least 1"),
        (["--noise", "-0.1"], "--noise -0.1: expected 0 or more"),
        (["--conv-blocks", "-1"], "--conv-blocks -1: expected 0 or more"),
        (["--conv-single-blocks", "-1"], "--conv-single-blocks -1: expected 0..2 (--conv-blocks)"),
        (
            ["--conv-blocks", "2", "--conv-single-blocks", "3"],
            "--conv-single-blocks 3: expected 0..2 (--conv-blocks)",
        ),
        (
            ["--dilation", "3", "--layers", "5", "--conv-blocks", "2"],
            "--dilation 3: the widest temporal layer steps 324 input columns between taps "
            "(dilation^(--layers - 1) x 2^--width-pools, --width-pools being --conv-blocks unless "
            "given); expected at most 280 (ten digits)",
        ),
    ],
)
def test_bad_convctc_options_are_one_line_naming_the_flag(capsys, flags, message):
    assert cli.run(["train", *REQUIRED["train"], "--arch", "convctc", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"digitseq train: error: {message}", err


def test_single_convolution_blocks_are_refused_for_recurrent_models(capsys):
    assert cli.run(["train", *REQUIRED["train"], "--conv-single-blocks", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "digitseq train: error: --conv-single-blocks 1: only for --arch convctc, got crnn"
    )


def test_xla_is_refused_for_recurrent_models(capsys):
    assert cli.run(["train", *REQUIRED["train"], "--jit-compile"]) == 2
    assert capsys.readouterr().err.strip() == (
        "digitseq train: error: --jit-compile True: not for --arch crnn: XLA cannot differentiate "
        "its recurrent loops (TensorList crossing the XLA/TF boundary); expected --arch convctc"
    )
    args = cli.build_parser().parse_known_args(
        ["train", *REQUIRED["train"], "--arch", "convctc", "--jit-compile"]
    )[0]
    assert args.flags.build(TrainConfig, args).jit_compile


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["train", *REQUIRED["train"], "--recipe", "no-such"],
            "digitseq train: error: argument --recipe: invalid choice: 'no-such'",
        ),
        (
            ["train", *REQUIRED["train"], "--data-weights", "a,b"],
            "digitseq train: error: argument --data-weights: expected comma-separated numbers",
        ),
        (
            ["render", *REQUIRED["render"], "--scan-height", "nan,nan"],
            "digitseq render: error: argument --scan-height: expected MIN,MAX",
        ),
        (["train"], "digitseq train: error: the following arguments are required: --data"),
        (["no-such-command"], "digitseq: error: argument COMMAND: invalid choice"),
    ],
)
def test_every_flag_error_is_one_line_without_the_usage_block(argv, message, capsys):
    assert cli.run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_the_console_script_does_not_wait_for_lingering_threads_at_exit():
    # A non-daemon thread stands in for TensorFlow's tf.data autotuning thread, which can hold a
    # normal interpreter exit for up to a minute after a command's work is done.
    script = (
        "import sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(60,)).start()\n"
        "from digitseq import cli\n"
        "sys.argv = ['digitseq', '--version']\n"
        "cli.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert (done.returncode, done.stdout.split()[0]) == (0, "digitseq")
