"""The exported model directory contract: one function opens and checks it for every user."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from digitseq import cli
from digitseq.core.errors import ConfigError
from digitseq.recognizer.serving import builtin, exported_model
from digitseq.schemas import dataset, exported


def _copy(source: str, target) -> str:
    shutil.copytree(source, target)
    return str(target)


def test_a_shipped_model_opens_with_everything_checked():
    opened = exported_model.open_model(
        builtin.resolve("general", field="model"), keras=True, serving=True
    )
    assert opened.height == 28
    assert opened.calibration is not None
    assert set(opened.serving.signatures) >= {exported.SERVING_DEFAULT, exported.LOGITS_SIGNATURE}


@pytest.mark.parametrize(
    "missing, keras, serving",
    [
        (exported.MODEL, True, False),
        (os.path.join(exported.SERVING, exported.SAVED_MODEL), False, True),
        (exported.CONFIG, False, False),
        (exported.STATS, False, False),
    ],
)
def test_a_missing_file_is_named(missing, keras, serving, tmp_path):
    model = _copy(builtin.resolve("general", field="model"), tmp_path / "m")
    os.remove(os.path.join(model, missing))
    with pytest.raises(ConfigError) as raised:
        exported_model.open_model(model, field="init_from", keras=keras, serving=serving)
    assert raised.value.field == "init_from"
    assert f"no {missing}, expected an exported model directory" in str(raised.value)


@pytest.mark.parametrize(
    "name, text, expected",
    [
        (exported.CONFIG, "[1, 2]", "its config.json is not a JSON object"),
        (exported.CONFIG, "{not json", "its config.json cannot be read"),
        (exported.CONFIG, '{"run": {"model": {}}}', "does not describe a digitseq model"),
        (exported.CALIBRATION, '{"method": "isotonic"}', "its calibration.json"),
    ],
)
def test_a_tampered_file_is_one_line_naming_it(name, text, expected, tmp_path):
    model = _copy(builtin.resolve("general", field="model"), tmp_path / "m")
    with open(os.path.join(model, name), "w") as f:
        f.write(text)
    with pytest.raises(ConfigError, match=expected) as raised:
        exported_model.open_model(model)
    assert "\n" not in str(raised.value)


def test_another_height_is_refused_naming_the_option():
    opened = exported_model.open_model(builtin.resolve("general", field="model"), field="teacher")
    opened.check_height(28, data="D")
    with pytest.raises(ConfigError, match="takes images of height 28, but D holds height 32") as e:
        opened.check_height(32, data="D")
    assert e.value.field == "teacher"


@pytest.mark.slow
def test_calibrate_refuses_data_of_another_height(variable_dataset, tmp_path, capsys):
    data = _copy(variable_dataset, tmp_path / "d")
    path = os.path.join(data, dataset.METADATA)
    with open(path) as f:
        metadata = json.load(f)
    with open(path, "w") as f:
        json.dump({**metadata, "height": 32}, f)
    model = _copy(builtin.resolve("general", field="model"), tmp_path / "m")
    before = sorted(os.listdir(model))
    assert cli.run(["calibrate", "--model", model, "--data", data]) == 2
    assert capsys.readouterr().err.strip().endswith("holds height 32; expected the same height")
    assert sorted(os.listdir(model)) == before
