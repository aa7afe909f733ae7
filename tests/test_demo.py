"""The main job end to end in a reduced size, the pictures, and the README's two commands."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import struct

import pytest

from digitseq import cli
from digitseq.cli import pictures
from digitseq.schemas import prediction

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIGURE_PIXELS = (pictures.FIGURE_INCHES[0] * pictures.DPI, pictures.FIGURE_INCHES[1] * pictures.DPI)

pytestmark = pytest.mark.slow


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def test_demo_produces_every_artifact(tmp_path, capsys):
    out = tmp_path / "demo"
    assert (
        cli.run(
            [
                "demo",
                "--out",
                str(out),
                "--mnist",
                "sample",
                "--train",
                "200",
                "--validation",
                "40",
                "--test",
                "40",
                "--epochs",
                "1",
                "--batch-size",
                "32",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for name in ("model.keras", "serving/saved_model.pb", "config.json", "logs"):
        assert (out / "model" / name).exists(), name
    # One model, trained on the first mode's dataset, scores both.
    trained_on = json.loads((out / "model" / "config.json").read_text())["run"]["data_dir"]
    assert trained_on == [str(out / "data-variable")]
    assert re.search(r"^model: .*model, \d+ s of training at [\d,]+ examples/s$", printed, re.M)
    for mode, lengths in (("fixed", ["5"]), ("variable", ["2", "3", "4", "5"])):
        for name in ("COMPLETED", "metadata.json", "stats.json", "inspect-train.png"):
            assert (out / f"data-{mode}" / name).exists(), (mode, name)
        scored = out / f"predictions-{mode}"
        metrics = json.loads((scored / prediction.METRICS).read_text())
        assert metrics["sequences"] == 40 and metrics["dead_letters"] == 0
        assert sorted(metrics["by_length"]) == lengths
        assert png_size(scored / "report.png") == FIGURE_PIXELS
        assert re.search(rf"^{mode} +all +40 ", printed, re.M), printed
    assert "digitseq demo: MNIST from sample" in printed
    # Safe to run twice: the demo replaces its own outputs.
    assert (
        cli.run(
            [
                "demo",
                "--out",
                str(out),
                "--mnist",
                "sample",
                "--train",
                "100",
                "--validation",
                "20",
                "--test",
                "20",
                "--epochs",
                "1",
                "--modes",
                "variable",
            ]
        )
        == 0
    )
    assert (
        json.loads((out / "predictions-variable" / prediction.METRICS).read_text())["sequences"]
        == 20
    )


def test_inspect_prints_the_tables_and_draws_a_sheet(variable_dataset, tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert cli.run(["inspect", variable_dataset, "--split", "test", "--out", str(sheet)]) == 0
    printed = capsys.readouterr().out
    assert re.search(
        r"^test +80 +\d+ +[\d.]+ +56\.\.140 +2:\d+ +3:\d+ +4:\d+ +5:\d+", printed, re.M
    ), printed
    assert "train statistics: 29484 frames, pixel mean" in printed
    assert png_size(sheet) == FIGURE_PIXELS


def test_report_draws_a_png_of_the_expected_size(trained_model, variable_dataset, tmp_path):
    scored = tmp_path / "scored"
    assert (
        cli.run(
            [
                "predict",
                "--model",
                trained_model,
                "--input",
                os.path.join(variable_dataset, "test", "*"),
                "--out",
                str(scored),
            ]
        )
        == 0
    )
    assert cli.run(["report", str(scored), "--count", "12"]) == 0
    assert png_size(scored / "report.png") == FIGURE_PIXELS


def test_wrong_digits_are_marked_along_the_edit_path():
    assert pictures.align("4071", "4071") == [("4", True), ("0", True), ("7", True), ("1", True)]
    assert pictures.align("4071", "4171") == [("4", True), ("1", False), ("7", True), ("1", True)]
    assert pictures.align("4071", "471") == [("4", True), ("_", False), ("7", True), ("1", True)]
    assert pictures.align("47", "4077") == [("4", True), ("0", False), ("7", False), ("7", True)]


@pytest.mark.parametrize(
    "command, message",
    [
        (["report", "{tmp}"], "no metrics.json, expected the output directory of a finished"),
        (["inspect", "{tmp}"], "COMPLETED"),
        (["inspect", "{data}", "--split", "extra"], "no split 'extra'"),
        (["demo", "--modes", "both"], "--modes both: expected one or both of fixed, variable"),
        (
            ["demo", "--modes", "fixed,fixed"],
            "--modes fixed,fixed: expected one or both of fixed, variable, each once",
        ),
    ],
)
def test_bad_input_is_refused(variable_dataset, tmp_path, capsys, command, message):
    argv = [a.format(tmp=tmp_path, data=variable_dataset) for a in command]
    assert cli.run(argv) == 2
    assert message in capsys.readouterr().err


def test_readme_commands_are_what_ci_and_make_run():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert re.search(r"^\s*make test\b", (ROOT / ".ci" / "run").read_text(), re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: .*\n\t\$\(BIN\)/digitseq demo\b", makefile, re.M)
    assert re.search(r"^test: .*\n\t\$\(BIN\)/python -m pytest tests\b", makefile, re.M)
    assert shutil.which("make"), "make is needed by the README's commands"
