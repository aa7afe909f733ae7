"""MNIST sources: IDX (gzip and raw), npz, the bundled sample, and every malformed file."""

import json
import os

import numpy as np
import pytest

from digitseq.core.errors import InvalidInputError
from digitseq.pipelines.render import mnist
from tests.conftest import write_idx


def test_bundled_sample_is_real_mnist_with_provenance(sample_mnist):
    provenance = json.loads(mnist.SAMPLE_PATH.with_suffix(".json").read_text())
    assert mnist.SAMPLE_PATH.stat().st_size <= 2 * 1024 * 1024
    assert sample_mnist.sha256 == provenance["sample_sha256"]
    assert len(sample_mnist.train) == sum(
        provenance["counts"][k] for k in ("train_below_55000", "train_55000_and_above")
    )
    assert len(sample_mnist.test) == provenance["counts"]["test"]
    assert set(np.unique(sample_mnist.train.labels)) == set(range(10))
    assert (sample_mnist.train.indices >= 55000).sum() == provenance["counts"][
        "train_55000_and_above"
    ]


def test_idx_directory_gzip_and_raw(idx_dir, sample_mnist):
    loaded = mnist.load(str(idx_dir))
    assert loaded.kind == "idx"
    np.testing.assert_array_equal(loaded.train.images, sample_mnist.train.images)
    np.testing.assert_array_equal(loaded.test.labels, sample_mnist.test.labels)
    assert set(loaded.sha256) == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    }


def test_keras_npz_layout(tmp_path, sample_mnist):
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=sample_mnist.train.images,
        y_train=sample_mnist.train.labels,
        x_test=sample_mnist.test.images,
        y_test=sample_mnist.test.labels,
    )
    loaded = mnist.load(str(path))
    np.testing.assert_array_equal(loaded.train.indices, np.arange(len(sample_mnist.train)))
    np.testing.assert_array_equal(loaded.test.images, sample_mnist.test.images)


@pytest.mark.skipif(not os.environ.get("MNIST_DIR"), reason="full MNIST not available")
def test_full_mnist_idx_files():
    loaded = mnist.load(os.environ["MNIST_DIR"])
    assert (len(loaded.train), len(loaded.test)) == (60000, 10000)
    assert np.bincount(loaded.test.labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def test_default_location_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    assert mnist.default_location(None) == mnist.SAMPLE
    cache = tmp_path / ".keras" / "datasets" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"")
    assert mnist.default_location(None) == str(cache)
    monkeypatch.setenv("MNIST_DIR", "/data/mnist")
    assert mnist.default_location(None) == "/data/mnist"
    assert mnist.default_location("gs://bucket/mnist") == "gs://bucket/mnist"


def _break(idx_dir, name, array, **kwargs):
    os.remove(idx_dir / name)
    write_idx(idx_dir / name, array, **kwargs)
    return str(idx_dir / name)


@pytest.mark.parametrize(
    "case, message",
    [
        ("wrong_magic", r"magic number 2049, expected 2051"),
        ("truncated", r"truncated: .* expected"),
        ("count_mismatch", r"2000 images but 1999 labels"),
        ("bad_label", r"label 12 at index 0, expected digits 0..9"),
        ("wrong_size", r"images of 20x20 pixels, expected 28x28"),
    ],
)
def test_malformed_idx_files_are_refused(idx_dir, sample_mnist, case, message):
    test = sample_mnist.test
    if case == "wrong_magic":
        _break(idx_dir, "t10k-images-idx3-ubyte", test.images, magic=2049, compress=False)
    elif case == "truncated":
        _break(idx_dir, "t10k-images-idx3-ubyte", test.images, truncate=100, compress=False)
    elif case == "count_mismatch":
        _break(idx_dir, "t10k-labels-idx1-ubyte", test.labels[:-1], compress=False)
    elif case == "bad_label":
        _break(idx_dir, "t10k-labels-idx1-ubyte", np.full_like(test.labels, 12), compress=False)
    elif case == "wrong_size":
        _break(idx_dir, "t10k-images-idx3-ubyte", test.images[:, :20, :20], compress=False)
    with pytest.raises(InvalidInputError, match=message) as info:
        mnist.load(str(idx_dir))
    assert "t10k" in str(info.value)


def test_missing_sources_are_named(tmp_path, idx_dir):
    with pytest.raises(InvalidInputError, match="not a directory with the IDX files"):
        mnist.load(str(tmp_path / "nowhere"))
    with pytest.raises(InvalidInputError, match="no such file"):
        mnist.load(str(tmp_path / "missing.npz"))
    os.remove(idx_dir / "train-labels-idx1-ubyte.gz")
    with pytest.raises(
        InvalidInputError, match="no train-labels-idx1-ubyte.gz or train-labels-idx1-ubyte"
    ):
        mnist.load(str(idx_dir))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InvalidInputError, match="bad.npz: not a readable .npz"):
        mnist.load(str(tmp_path / "bad.npz"))
