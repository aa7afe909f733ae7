"""The one place tensorflow-io is used: registering its file systems with `tf.io.gfile`.

TensorFlow reads local paths and `gs://` by itself. `s3://`, `http(s)://`, `hdfs://` and `az://`
come from tensorflow-io, whose last release (0.37.1) loads only with TensorFlow 2.17; it is imported
lazily, only for such paths, so dropping it means changing this file alone.
"""

from __future__ import annotations

from schemas.errors import InvalidInputError

TFIO_SCHEMES = ("s3://", "http://", "https://", "hdfs://", "az://")


def ensure_filesystem(path: str) -> None:
    """Makes `tf.io.gfile` able to open `path`, importing tensorflow-io if the scheme needs it."""
    if not path.startswith(TFIO_SCHEMES):
        return
    try:
        import tensorflow_io  # noqa: F401  (registers the file systems on import)
    except Exception as err:  # ImportError, or NotFoundError when its native ops do not load.
        raise InvalidInputError(
            f"{path}: reading this scheme needs tensorflow-io 0.37.1 with TensorFlow 2.17, but "
            f"importing tensorflow_io failed ({type(err).__name__}: {err})") from None
