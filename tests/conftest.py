"""Shared fixtures: small real datasets rendered once per session from the bundled MNIST sample."""

from __future__ import annotations

import glob
import gzip
import os
import shutil

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitseq import cli  # noqa: E402
from digitseq.pipelines.render import mnist  # noqa: E402
from tests import predicting  # noqa: E402


def render(out_dir, *flags: str) -> int:
    """Runs `digitseq render` in-process, as the CLI would."""
    return cli.run(["render", "--out", str(out_dir), "--mnist", "sample", *flags])


@pytest.fixture(scope="session")
def sample_mnist() -> mnist.Mnist:
    return mnist.load(mnist.SAMPLE)


@pytest.fixture(scope="session")
def variable_dataset(tmp_path_factory) -> str:
    """A variable-length (2..5) dataset: 300 train, 60 validation, 80 test sequences, 2 shards."""
    out = tmp_path_factory.mktemp("variable")
    assert (
        render(
            out,
            "--mode",
            "variable",
            "--train",
            "300",
            "--validation",
            "60",
            "--test",
            "80",
            "--shards",
            "2",
            "--seed",
            "7",
        )
        == 0
    )
    return str(out)


SMALL = ["--units", "16", "--layers", "1", "--conv-filters", "8", "--batch-size", "16"]
"""`digitseq train` flags for a model small enough to train in seconds."""


@pytest.fixture(scope="session")
def trained_model(variable_dataset, tmp_path_factory) -> str:
    """A small crnn trained two epochs on `variable_dataset` and exported."""
    model_dir = str(tmp_path_factory.mktemp("trained") / "model")
    assert (
        cli.run(
            ["train", "--data", variable_dataset, "--model-dir", model_dir, "--epochs", "2", *SMALL]
        )
        == 0
    )
    return model_dir


@pytest.fixture(scope="module")
def inputs(variable_dataset, tmp_path_factory) -> str:
    """`variable_dataset`'s test shards, plus an uncompressed file of bad records
    (`predicting.BAD`) and an unlabeled one, for `digitseq predict --input <inputs>/*`."""
    import tensorflow as tf

    directory = tmp_path_factory.mktemp("inputs")
    for path in glob.glob(os.path.join(variable_dataset, "test", "*")):
        shutil.copy(path, directory)
    with tf.io.TFRecordWriter(str(directory / "bad.tfrecord")) as writer:
        for serialized in predicting.bad_records():
            writer.write(serialized)
    return str(directory)


def write_idx(
    path, array: np.ndarray, *, magic: int | None = None, compress: bool = True, truncate: int = 0
) -> None:
    """Writes `array` (uint8) as an IDX file, optionally gzip, a wrong magic, or truncated."""
    magic = magic if magic is not None else 0x800 + array.ndim
    data = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data += array.astype(np.uint8).tobytes()
    if truncate:
        data = data[:-truncate]
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


@pytest.fixture()
def idx_dir(tmp_path, sample_mnist):
    """The bundled sample written as the four MNIST IDX files (train gzip, test raw)."""
    directory = tmp_path / "idx"
    directory.mkdir()
    write_idx(directory / "train-images-idx3-ubyte.gz", sample_mnist.train.images)
    write_idx(directory / "train-labels-idx1-ubyte.gz", sample_mnist.train.labels)
    write_idx(directory / "t10k-images-idx3-ubyte", sample_mnist.test.images, compress=False)
    write_idx(directory / "t10k-labels-idx1-ubyte", sample_mnist.test.labels, compress=False)
    return directory
