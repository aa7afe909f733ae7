"""Where a prediction run reads and writes: input files, the output directory, JSON Lines."""

from __future__ import annotations

import json
import os

import apache_beam as beam
import tensorflow as tf

from schemas import prediction, storage
from schemas.errors import ConfigError


class WriteJsonLines(beam.PTransform):
    """Dicts -> `<prefix>-SSSSS-of-NNNNN.jsonl`."""

    def __init__(self, prefix: str):
        super().__init__()
        self._prefix = prefix

    def expand(self, rows):
        return (rows
                | "ToJson" >> beam.Map(lambda row: json.dumps(row, sort_keys=False))
                | "Write" >> beam.io.WriteToText(self._prefix, file_name_suffix=prediction.JSONL,
                                                 shard_name_template=prediction.SHARD_TEMPLATE))


def output_files(out_dir: str) -> list[str]:
    """What a prediction run writes in `out_dir` (existing files only)."""
    found = []
    for pattern in (f"{prediction.PREDICTIONS}-*", f"{prediction.DEAD_LETTER}-*",
                    prediction.METRICS, prediction.RUN):
        found += tf.io.gfile.glob(os.path.join(out_dir, pattern))
    return sorted(found)


def prepare_output_dir(out_dir: str, *, overwrite: bool) -> None:
    """Refuses to mix runs: existing outputs need `overwrite`, which deletes them first."""
    existing = output_files(out_dir)
    if existing and not overwrite:
        raise ConfigError(
            "out_dir", out_dir, f"already holds prediction outputs ("
            f"{os.path.basename(existing[0])}{' ...' if len(existing) > 1 else ''}); pass "
            f"overwrite to replace them", others=["overwrite"])
    for path in existing:
        tf.io.gfile.remove(path)
    try:
        tf.io.gfile.makedirs(out_dir)
    except tf.errors.OpError as err:
        raise ConfigError("out_dir", out_dir, f"cannot create it ({err.message})") from None


def match_inputs(pattern: str) -> list[str]:
    storage.ensure_filesystem(pattern)
    try:
        files = sorted(f for f in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(f))
    except tf.errors.OpError as err:
        raise ConfigError("input_pattern", pattern, f"cannot list it ({err.message})") from None
    if not files:
        raise ConfigError("input_pattern", pattern, "matches no files, expected TFRecord files")
    return files
