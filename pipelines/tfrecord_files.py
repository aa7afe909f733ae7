"""Checks on TFRecord files that TensorFlow's reader does not make.

Files may be GZIP-compressed or not whatever their names say, so compression is told from the
content. TensorFlow's GZIP reader stops quietly where a truncated stream ends (the records before
the cut come out, the rest is silently missing), so readers that cannot compare with a known size
check that the stream ends properly.
"""

from __future__ import annotations

import zlib

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22


def is_gzip(path: str) -> bool:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def compression_type(path: str) -> str:
    """`"GZIP"` or `""`, as `tf.data.TFRecordDataset` takes it."""
    return "GZIP" if is_gzip(path) else ""


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
