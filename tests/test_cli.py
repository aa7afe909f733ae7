"""The command line is built from the config dataclasses: same defaults, documented flags, and
library errors shown with flag names."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from digitseq import cli
from digitseq.demo import DemoConfig
from pipelines.ingest import IngestConfig
from pipelines.predict import PredictConfig
from pipelines.render import RenderConfig
from recognizer.models import ModelConfig
from recognizer.train import TrainConfig
from schemas.errors import ConfigError

REQUIRED = {"render": ["--out", "o"], "train": ["--data", "d", "--model-dir", "m"],
            "predict": ["--model", "m", "--input", "i", "--out", "o"], "demo": [],
            "ingest": ["--images", "i", "--labels", "l", "--out", "o"]}


def _parsed(command: str, *flags: str) -> argparse.Namespace:
    args, _ = cli.build_parser().parse_known_args([command, *REQUIRED[command], *flags])
    return args


@pytest.mark.parametrize("command, cls, required", [
    ("render", RenderConfig, {"out_dir": "o"}),
    ("train", TrainConfig, {"data_dir": "d", "model_dir": "m"}),
    ("predict", PredictConfig, {"model_dir": "m", "input_pattern": "i", "out_dir": "o"}),
    ("demo", DemoConfig, {}),
    ("ingest", IngestConfig, {"images": "i", "labels": "l", "out_dir": "o"}),
])
def test_every_flag_default_is_the_library_default(command, cls, required):
    args = _parsed(command)
    if command == "render":
        from digitseq import render_cmd

        assert render_cmd.config(args) == cls(**required)
    else:
        assert args.flags.build(cls, args) == cls(**required)


def test_demo_takes_render_and_training_defaults_from_the_libraries():
    args = _parsed("demo")
    render = args.flags.build(RenderConfig, args, out_dir="x")
    assert render == RenderConfig(out_dir="x")
    assert args.batch_size == TrainConfig(data_dir="d", model_dir="m").batch_size


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_every_flag_has_help(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        if action.option_strings and action.dest not in ("help",):
            assert action.help, (command, action.option_strings)


def test_fixed_lists_are_choices():
    args = _parsed("train", "--arch", "rnn", "--cell", "simple", "--strategy", "mirrored")
    config = args.flags.build(TrainConfig, args)
    assert (config.model.arch, config.model.cell, config.strategy) == ("rnn", "simple",
                                                                       "mirrored")
    assert cli.run(["train", *REQUIRED["train"], "--arch", "transformer"]) == 2


def test_library_errors_name_the_field_and_the_command_line_the_flag(capsys):
    with pytest.raises(ConfigError, match=r"^units 0: expected at least 1$"):
        ModelConfig(units=0)
    with pytest.raises(ConfigError, match=r"^formats csv: expected one or more of"):
        PredictConfig(model_dir="m", input_pattern="i", out_dir="o", formats="csv")
    assert cli.run(["train", *REQUIRED["train"], "--units", "0"]) == 2
    assert capsys.readouterr().err.strip() == "digitseq train: error: --units 0: expected at " \
                                              "least 1"
    assert cli.run(["predict", *REQUIRED["predict"], "--format", "csv"]) == 2
    assert "error: --format csv: expected one or more of jsonl, parquet" in capsys.readouterr().err
    assert cli.run(["train", *REQUIRED["train"], "--epochs", "2", "--warmup-epochs", "3"]) == 2
    assert ("--warmup-epochs 3.0: expected at least 0 and fewer than --epochs (2)"
            in capsys.readouterr().err)


def test_config_fields_are_documented():
    from digitseq.flags import field_docs

    for cls in (RenderConfig, TrainConfig, PredictConfig, DemoConfig, ModelConfig):
        docs = field_docs(cls)
        assert set(docs) == {f.name for f in dataclasses.fields(cls)}, cls
