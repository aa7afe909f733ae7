"""Storage helpers under every layer: file systems, TFRecord compression, JSON files.

- `ensure_filesystem`: TensorFlow reads local paths and `gs://` by itself; `s3://`, `http(s)://`,
  `hdfs://` and `az://` come from tensorflow-io, whose last release (0.37.1) loads only with
  TensorFlow 2.17. It is imported lazily, only for such paths, so dropping it means changing this
  function alone.
- TFRecord files may be GZIP-compressed or not whatever their names say, so compression is told
  from the content. TensorFlow's GZIP reader stops quietly where a truncated stream ends (the
  records before the cut come out, the rest is silently missing), so readers that cannot compare
  with a known size check that the stream ends properly (`gzip_problem`).
- Every file that must never be seen half-written (JSON documents, dataset shards) is written
  through `atomic_file`: to a temporary name first (beside the final one, or in a directory the
  caller names), renamed once complete, the temporary file removed in any case, as TensorFlow
  Datasets writes through its `incomplete_file`.

Paths are anything `tf.io.gfile` opens.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

from digitseq.core.errors import InvalidInputError

TFIO_SCHEMES = ("s3://", "http://", "https://", "hdfs://", "az://")
GZIP = "GZIP"
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22


def ensure_filesystem(path: str) -> None:
    """Makes `tf.io.gfile` able to open `path`, importing tensorflow-io if the scheme needs it."""
    if not path.startswith(TFIO_SCHEMES):
        return
    try:
        import tensorflow_io  # noqa: F401  (registers the file systems on import)
    except Exception as err:  # ImportError, or NotFoundError when its native ops do not load.
        raise InvalidInputError(
            f"{path}: reading this scheme needs tensorflow-io 0.37.1 with TensorFlow 2.17, but "
            f"importing tensorflow_io failed ({type(err).__name__}: {err})"
        ) from None


def is_gzip(path: str) -> bool:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def compression_type(path: str) -> str:
    """`"GZIP"` or `""`, as `tf.data.TFRecordDataset` takes it."""
    return GZIP if is_gzip(path) else ""


def gzip_problem(path: str) -> str | None:
    """Why a GZIP file's stream does not end properly (truncated, corrupt), or None if it does."""
    import tensorflow as tf

    decompressor = zlib.decompressobj(wbits=31)
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                while chunk:
                    decompressor.decompress(chunk)
                    chunk = decompressor.unused_data
                    if decompressor.eof and chunk:  # a further GZIP member follows
                        decompressor = zlib.decompressobj(wbits=31)
    except zlib.error as err:
        return f"corrupt GZIP stream ({err})"
    return None if decompressor.eof else "the GZIP stream ends early (truncated file)"


@contextlib.contextmanager
def atomic_file(path: str, *, temp_dir: str | None = None) -> Iterator[str]:
    """Yields a fresh temporary path to write; renamed to `path` (replacing any file there) when
    the block ends without an exception; the temporary file is removed in any case.

    Args:
      path: the final path.
      temp_dir: where the temporary file goes (default: beside `path`, as a hidden name).
    """
    import tensorflow as tf

    name = os.path.basename(path)
    temp = (
        os.path.join(temp_dir, f"{name}-{uuid.uuid4().hex}.tmp")
        if temp_dir
        else os.path.join(os.path.dirname(path), f".{name}.tmp-{uuid.uuid4().hex}")
    )
    tf.io.gfile.makedirs(os.path.dirname(temp))
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    try:
        yield temp
        tf.io.gfile.rename(temp, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yields a fresh temporary directory beside `path` to fill; renamed to `path` when the block
    ends without an exception (`path` must not exist then); removed in any case otherwise."""
    import tensorflow as tf

    name = os.path.basename(os.path.normpath(path))
    temp = os.path.join(os.path.dirname(os.path.normpath(path)), f".{name}.tmp-{uuid.uuid4().hex}")
    tf.io.gfile.makedirs(temp)
    try:
        yield temp
        tf.io.gfile.rename(temp, path)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.rmtree(temp)


def join(base: str, name: str) -> str:
    """`name` inside the directory `base`: `/`-joined for URLs (`gs://...`), else the OS way."""
    return posixpath.join(base, name) if "://" in base else os.path.join(base, name)


def write_json(path: str, value: Any) -> None:
    """Writes `value` as indented JSON to `path`, through `atomic_file`."""
    import tensorflow as tf

    with atomic_file(path) as temp, tf.io.gfile.GFile(temp, "w") as f:
        f.write(json.dumps(value, indent=2) + "\n")


def read_bytes(path: str) -> bytes:
    """The content of the file at `path` (any scheme `ensure_filesystem` admits).

    Raises:
      tf.errors.OpError: it cannot be read (callers name the file in their own terms).
    """
    import tensorflow as tf

    ensure_filesystem(path)
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def match_files(pattern: str, *, field: str, expected: str) -> list[str]:
    """The files (not directories) `pattern` matches, sorted.

    Raises:
      ConfigError: naming `field`: the pattern cannot be listed, or matches no file (`expected`
        says what it should have matched).
    """
    return match_paths(pattern, field=field, expected=expected)[0]


def match_paths(pattern: str, *, field: str, expected: str) -> tuple[list[str], list[str]]:
    """The files and, apart, the directories `pattern` matches, each sorted.

    Raises:
      ConfigError: naming `field`: the pattern cannot be listed, or matches no file.
    """
    import tensorflow as tf

    from digitseq.core.errors import ConfigError

    ensure_filesystem(pattern)
    try:
        matched = tf.io.gfile.glob(pattern)
        directories = sorted(p for p in matched if tf.io.gfile.isdir(p))
    except tf.errors.OpError as err:
        raise ConfigError(field, pattern, f"cannot list it ({err.message})") from None
    files = sorted(set(matched) - set(directories))
    if not files:
        raise ConfigError(field, pattern, f"matches no files, expected {expected}")
    return files, directories


def read_json(path: str) -> Any:
    """The JSON document at `path`.

    Raises:
      InvalidInputError: the file is missing or not valid JSON.
    """
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    except tf.errors.NotFoundError:
        raise InvalidInputError(f"{path}: missing") from None
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"{path}: not valid JSON ({err})") from None
