"""Packaging: the source distribution and the wheel carry the package data, the wheel installs
and works outside the checkout, and the version is spelled once."""

import pathlib
import subprocess
import sys
import tarfile
from importlib import metadata

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
        "digitseq/schemas/schema.pbtxt",
        "digitseq/pipelines/render/data/mnist_sample.npz",
        "digitseq/pipelines/render/data/mnist_sample.json",
        "setup.py",
        "LICENSE",
        "digitseq/cli/__init__.py",
        "digitseq/schemas/record.py",
        "digitseq/recognizer/serving/builtin/general-v1/serving/saved_model.pb",
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
        "digitseq/pipelines/render/data/mnist_sample.npz",
        "digitseq/pipelines/render/data/mnist_sample.json",
        "digitseq/schemas/schema.pbtxt",
        "digitseq/recognizer/serving/builtin/models.json",
        "digitseq/recognizer/serving/builtin/aliases.json",
        "digitseq/recognizer/serving/builtin/general-v1/serving/saved_model.pb",
        "digitseq/recognizer/serving/builtin/general-v1/model.keras",
        "digitseq/recognizer/serving/builtin/general-v1/MODEL_CARD.md",
    ):
        assert needed in names, needed
    assert not {name for name in names if name.startswith(("tests/", "bench/", "examples/"))}
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    # The dependencies (TensorFlow, Beam, ...) come from this environment; digitseq itself only
    # from the wheel, installed without the checkout on the path.
    site = next(fresh.glob("lib/python*/site-packages"))
    (site / "dependencies.pth").write_text(
        next(p for p in map(pathlib.Path, sys.path) if p.name == "site-packages").as_posix() + "\n"
    )
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import digitseq, sys\n"
        "reader = digitseq.Reader(model='general')\n"
        "print(digitseq.__file__, digitseq.__version__, reader.model_dir)\n"
    )
    done = subprocess.run(
        [str(fresh / "bin" / "python"), "-I", "-c", script],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    where, version, model_dir = done.stdout.split()[-3:]
    assert where.startswith(str(site)) and model_dir.startswith(str(site))
    assert version == metadata.version("digitseq")


def test_the_version_is_spelled_once():
    import digitseq

    done = subprocess.run(
        [str(pathlib.Path(sys.executable).with_name("digitseq")), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["digitseq", digitseq.__version__]
    assert digitseq.__version__ == metadata.version("digitseq")
    spelled = [
        name
        for name in subprocess.run(
            ["git", "ls-files", "*.py", "*.cfg", "*.toml"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if f'"{digitseq.__version__}"' in (ROOT / name).read_text()
    ]
    assert spelled == ["setup.py"]


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
