"""MNIST sources: the four IDX files, Keras's `mnist.npz`, or the small sample bundled here.

Every source becomes an `Mnist` with a train and a test split. Each split keeps, for every image,
its index in the original MNIST split, so a sample (a subset) still records true provenance.

Where MNIST comes from, in order: an explicit location (the `--mnist` flag), `$MNIST_DIR`, Keras's
cache `~/.keras/datasets/mnist.npz`, then the bundled sample (logged). A location is a directory
holding the IDX files (gzip or raw, any path `tf.io.gfile` opens), an `.npz` file in Keras's layout
(`x_train`, `y_train`, `x_test`, `y_test`), or `sample`.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging
import os
import pathlib

import numpy as np

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

SAMPLE = "sample"
SAMPLE_PATH = pathlib.Path(__file__).with_name("data") / "mnist_sample.npz"
KERAS_CACHE = pathlib.Path("~/.keras/datasets/mnist.npz")

IMAGE_SIZE = 28
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclasses.dataclass(frozen=True)
class MnistSplit:
    """Images `uint8 [n, 28, 28]`, labels `uint8 [n]`, and each image's index in its MNIST split."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class Mnist:
    """MNIST train and test splits with where they came from.

    Attributes:
      location: what was opened (a directory, an .npz path, or `sample`).
      kind: `idx`, `npz` or `sample`.
      sha256: checksum of every file read, by file name.
    """

    train: MnistSplit
    test: MnistSplit
    location: str
    kind: str
    sha256: dict[str, str]


def default_location(flag: str | None = None) -> str:
    """The MNIST location to use: the flag, else `$MNIST_DIR`, else Keras's cache, else the sample."""
    if flag:
        return flag
    if os.environ.get("MNIST_DIR"):
        return os.environ["MNIST_DIR"]
    keras_cache = KERAS_CACHE.expanduser()
    if keras_cache.exists():
        return str(keras_cache)
    logger.info(
        "No --mnist, $MNIST_DIR or %s: using the MNIST sample bundled with digitseq (%s)",
        KERAS_CACHE,
        SAMPLE_PATH,
    )
    return SAMPLE


def load(location: str) -> Mnist:
    """Loads and validates MNIST from `location` (see the module docstring)."""
    import tensorflow as tf

    if location == SAMPLE:
        return _load_npz(str(SAMPLE_PATH), kind=SAMPLE, location=SAMPLE)
    if "://" not in location:
        location = os.path.abspath(os.path.expanduser(location))
    storage.ensure_filesystem(location)
    if location.endswith(".npz"):
        if not tf.io.gfile.exists(location):
            raise InvalidInputError(f"MNIST source {location}: no such file")
        return _load_npz(location, kind="npz", location=location)
    if not tf.io.gfile.isdir(location):
        raise InvalidInputError(
            f"MNIST source {location}: not a directory with the IDX files, not an .npz file and "
            f"not '{SAMPLE}'"
        )
    splits, sha256 = {}, {}
    for split, (images_name, labels_name) in IDX_FILES.items():
        images_path, images_sha = _find_idx(location, images_name)
        labels_path, labels_sha = _find_idx(location, labels_name)
        images = read_idx(images_path, expected_magic=IMAGES_MAGIC)
        labels = read_idx(labels_path, expected_magic=LABELS_MAGIC)
        sha256[os.path.basename(images_path)] = images_sha
        sha256[os.path.basename(labels_path)] = labels_sha
        splits[split] = _make_split(images, labels, None, where=f"{images_path} / {labels_path}")
    return Mnist(
        train=splits["train"], test=splits["test"], location=location, kind="idx", sha256=sha256
    )


def read_idx(path: str, *, expected_magic: int) -> np.ndarray:
    """Reads one IDX file of unsigned bytes (gzip or raw) and checks its header against its size.

    Raises:
      InvalidInputError: unreadable, wrong magic number, unexpected image size, truncated or
        longer than its header says.
    """
    data = _read_bytes(path)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise InvalidInputError(f"{path}: corrupt gzip data ({err})") from None
    if len(data) < 8:
        raise InvalidInputError(f"{path}: {len(data)} bytes, too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise InvalidInputError(
            f"{path}: magic number {magic}, expected {expected_magic} "
            f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'}, unsigned bytes)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if ndim == 3 and dims[1:] != [IMAGE_SIZE, IMAGE_SIZE]:
        raise InvalidInputError(
            f"{path}: images of {dims[1]}x{dims[2]} pixels, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
        )
    expected_size = header + int(np.prod(dims))
    if len(data) != expected_size:
        state = "truncated" if len(data) < expected_size else "longer than its header says"
        raise InvalidInputError(
            f"{path}: {state}: {len(data)} bytes after decompression, expected {expected_size} "
            f"for shape {dims}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def _find_idx(directory: str, name: str) -> tuple[str, str]:
    import tensorflow as tf

    for candidate in (name + ".gz", name):
        path = os.path.join(directory, candidate)
        if tf.io.gfile.exists(path):
            return path, hashlib.sha256(_read_bytes(path)).hexdigest()
    raise InvalidInputError(
        f"MNIST source {directory}: no {name}.gz or {name}; expected the four IDX files "
        f"{', '.join(n for pair in IDX_FILES.values() for n in pair)} (gzip or raw)"
    )


def _read_bytes(path: str) -> bytes:
    import tensorflow as tf

    try:
        return storage.read_bytes(path)
    except tf.errors.OpError as err:
        raise InvalidInputError(f"{path}: cannot read ({err.message})") from None


def _load_npz(path: str, *, kind: str, location: str) -> Mnist:
    import io
    import zipfile
    import zlib

    data = _read_bytes(path)
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        splits = {}
        for split in ("train", "test"):
            missing = {f"x_{split}", f"y_{split}"} - set(arrays.files)
            if missing:
                raise InvalidInputError(
                    f"{path}: arrays {sorted(missing)} missing, expected x_train, y_train, "
                    f"x_test, y_test (Keras's mnist.npz layout)"
                )
            indices = arrays[f"{split}_index"] if f"{split}_index" in arrays.files else None
            splits[split] = _make_split(
                arrays[f"x_{split}"], arrays[f"y_{split}"], indices, where=f"{path} [{split}]"
            )
    except InvalidInputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise InvalidInputError(f"{path}: not a readable .npz file ({err})") from None
    return Mnist(
        train=splits["train"],
        test=splits["test"],
        location=location,
        kind=kind,
        sha256={os.path.basename(path): hashlib.sha256(data).hexdigest()},
    )


def _make_split(
    images: np.ndarray, labels: np.ndarray, indices: np.ndarray | None, *, where: str
) -> MnistSplit:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise InvalidInputError(
            f"{where}: images are {images.dtype} {list(images.shape)}, expected uint8 "
            f"[n, {IMAGE_SIZE}, {IMAGE_SIZE}]"
        )
    labels = labels.reshape(-1)
    if len(images) != len(labels):
        raise InvalidInputError(
            f"{where}: {len(images)} images but {len(labels)} labels, expected the same count"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        bad = int(np.flatnonzero((labels < 0) | (labels > 9))[0])
        raise InvalidInputError(
            f"{where}: label {int(labels[bad])} at index {bad}, expected digits 0..9"
        )
    if indices is None:
        indices = np.arange(len(labels), dtype=np.int64)
    elif len(indices) != len(labels) or np.any(np.diff(indices) <= 0):
        raise InvalidInputError(f"{where}: index array must be increasing, one per image")
    return MnistSplit(
        images=images, labels=labels.astype(np.uint8), indices=indices.astype(np.int64)
    )
