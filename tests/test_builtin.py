"""Models that ship inside the package (`recognizer.serving.builtin`): names, checksums, and the shipped
model reading strings without any training."""

from __future__ import annotations

import json
import os

import pytest

from digitseq import cli
from digitseq.core.errors import ConfigError
from digitseq.recognizer.serving import builtin


@pytest.fixture()
def package(tmp_path, monkeypatch, trained_model):
    """A builtin directory of its own holding the small trained model as `tiny-v1`."""
    here = tmp_path / "builtin"
    monkeypatch.setattr(builtin, "HERE", str(here))
    monkeypatch.setattr(builtin, "MANIFEST", str(here / "models.json"))
    monkeypatch.setattr(builtin, "ALIASES", str(here / "aliases.json"))
    monkeypatch.setattr(builtin, "_verified", set())
    builtin.install(trained_model, "tiny-v1", card={"command": "test"}, card_text="# tiny\n")
    return here


def test_install_ships_the_contract_files_with_their_checksums(package, trained_model):
    shipped = json.loads((package / "models.json").read_text())["tiny-v1"]
    assert "model.keras" in shipped["sha256"] and "serving/saved_model.pb" in shipped["sha256"]
    assert not any(
        name.startswith(("backup/", "logs/", "best.keras")) for name in shipped["sha256"]
    )
    assert (package / "tiny-v1" / "MODEL_CARD.md").exists()
    assert builtin.resolve("tiny-v1", field="model_dir") == str(package / "tiny-v1")
    assert builtin.resolve(trained_model, field="model_dir") == trained_model


def test_an_alias_names_the_model_installed_with_it_and_checks_its_files(package, trained_model):
    with pytest.raises(ConfigError, match=r"no builtin model of that name \(builtin: tiny-v1\)"):
        builtin.resolve("general", field="model_dir")
    builtin.install(
        trained_model, "tiny-v2", card={"command": "test"}, card_text="# tiny\n", alias="general"
    )
    assert builtin.resolve("general", field="model_dir") == str(package / "tiny-v2")
    assert builtin.resolve("tiny-v1", field="model_dir") == str(package / "tiny-v1")
    with open(package / "tiny-v2" / "config.json", "a") as f:
        f.write(" ")
    builtin._verified.clear()
    with pytest.raises(ConfigError, match=r"model_dir tiny-v2: the builtin model's config.json"):
        builtin.resolve("general", field="model_dir")


def test_general_names_the_recommended_shipped_model():
    recommended = builtin.aliases()["general"]
    assert recommended in builtin.manifest()
    assert builtin.resolve("general", field="model_dir") == os.path.join(builtin.HERE, recommended)


def test_a_changed_file_is_refused_naming_it(package):
    with open(package / "tiny-v1" / "stats.json", "a") as f:
        f.write(" ")
    with pytest.raises(
        ConfigError,
        match=r"model_dir tiny-v1: the builtin model's stats.json "
        r"is sha256 .*, shipped .*reinstall digitseq",
    ):
        builtin.resolve("tiny-v1", field="model_dir")


def test_a_missing_file_is_refused_naming_it(package):
    os.remove(package / "tiny-v1" / "config.json")
    with pytest.raises(ConfigError, match="the builtin model's config.json is missing"):
        builtin.resolve("tiny-v1", field="model_dir")


def test_predict_and_train_take_a_builtin_name(package, variable_dataset, tmp_path):
    out = tmp_path / "scored"
    assert (
        cli.run(
            [
                "predict",
                "--model",
                "tiny-v1",
                "--input",
                os.path.join(variable_dataset, "test", "*"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == str(package / "tiny-v1")
    assert (
        cli.run(
            [
                "train",
                "--data",
                variable_dataset,
                "--model-dir",
                str(tmp_path / "m"),
                "--init-from",
                "tiny-v1",
                "--epochs",
                "1",
                "--batch-size",
                "16",
            ]
        )
        == 0
    )
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["run"]["init_from"] == str(package / "tiny-v1")


@pytest.mark.parametrize("command", ["predict", "train"])
def test_an_unknown_builtin_name_is_one_line(command, package, variable_dataset, tmp_path, capsys):
    flags = (
        [
            "predict",
            "--model",
            "nosuch-model",
            "--input",
            os.path.join(variable_dataset, "test", "*"),
            "--out",
            str(tmp_path / "o"),
        ]
        if command == "predict"
        else [
            "train",
            "--data",
            variable_dataset,
            "--model-dir",
            str(tmp_path / "m"),
            "--init-from",
            "nosuch-model",
        ]
    )
    assert cli.run(flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "nosuch-model: no builtin model of that name (builtin: tiny-v1)" in err


SHIPPED = ["general-v1", "general-v2", "general-v3", "general-v4"]


@pytest.mark.parametrize("shipped", SHIPPED)
def test_the_shipped_model_matches_its_checksums(shipped):
    assert shipped in builtin.manifest()
    directory = builtin.resolve(shipped, field="model_dir")
    assert os.path.isdir(os.path.join(directory, "serving"))
    card = builtin.manifest()[shipped]["card"]
    assert card["command"].startswith("digitseq train") and card["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("shipped", SHIPPED)
def test_the_shipped_model_reads_bundled_strings_without_training(
    shipped, variable_dataset, tmp_path
):
    """The bundled MNIST sample's test strings (MNIST test digits, never trained on)."""
    out = tmp_path / "scored"
    assert (
        cli.run(
            [
                "predict",
                "--model",
                shipped,
                "--input",
                os.path.join(variable_dataset, "test", "*"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sequences"] == 80
    assert metrics["cer"] <= 0.05, metrics["cer"]
