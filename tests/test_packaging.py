"""The source distribution carries the schema text and the bundled MNIST sample."""

import pathlib
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_sdist_contains_schema_and_sample(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (sdist,) = tmp_path.glob("digitseq-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in ("schemas/schema.pbtxt", "pipelines/data/mnist_sample.npz",
                   "pipelines/data/mnist_sample.json", "setup.py", "digitseq/cli.py",
                   "schemas/record.py"):
        assert needed in names, needed


def test_console_script_runs():
    result = subprocess.run([str(pathlib.Path(sys.executable).with_name("digitseq")),
                             "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("digitseq ")
