"""The source distribution carries the schema text and the bundled MNIST sample."""

import pathlib
import subprocess
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sdist_contains_schema_and_sample(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (sdist,) = tmp_path.glob("digitseq-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in (
        "schemas/schema.pbtxt",
        "pipelines/render/data/mnist_sample.npz",
        "pipelines/render/data/mnist_sample.json",
        "setup.py",
        "digitseq/cli.py",
        "digitseq/schemas/record.py",
        "recognizer/builtin/general-v1/serving/saved_model.pb",
    ):
        assert needed in names, needed


def test_console_script_runs():
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).with_name("digitseq")), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("digitseq ")


@pytest.mark.slow
def test_wheel_carries_the_sample_without_packaging_warnings(tmp_path):
    import zipfile

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "absent from the `packages` configuration" not in result.stdout + result.stderr
    (wheel,) = tmp_path.glob("digitseq-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "pipelines/render/data/mnist_sample.npz",
        "pipelines/render/data/mnist_sample.json",
        "schemas/schema.pbtxt",
        "recognizer/builtin/models.json",
        "recognizer/builtin/general-v1/serving/saved_model.pb",
        "recognizer/builtin/general-v1/model.keras",
        "recognizer/builtin/general-v1/MODEL_CARD.md",
    ):
        assert needed in names, needed


def test_no_file_points_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = "../" + "shared"  # spelled apart so this file does not name it
    offenders = [
        name
        for name in tracked
        if name != ".ci/run"
        and (ROOT / name).is_file()
        and outside in (ROOT / name).read_text(errors="ignore")
    ]
    assert not offenders
