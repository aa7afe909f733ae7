"""Where a prediction run writes: its output directory (claimed for the run) and JSON Lines."""

from __future__ import annotations

import json
import os

import apache_beam as beam
import tensorflow as tf

from schemas import claims, prediction
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
    for pattern in (f"{prediction.PREDICTIONS}-*", f"{prediction.REVIEW}-*",
                    f"{prediction.DEAD_LETTER}-*",
                    prediction.METRICS, prediction.RUN):
        found += tf.io.gfile.glob(os.path.join(out_dir, pattern))
    return sorted(found)


def prepare_output_dir(out_dir: str, *, overwrite: bool, command: str,
                       clear_claim: bool = False) -> claims.Claim:
    """Claims `out_dir` for the run (`schemas.claims`), then refuses to mix runs: existing
    outputs need `overwrite`, which deletes them first. Returns the claim (the caller releases
    it when the run ends).

    Raises:
      ConfigError: another job holds the directory, it holds outputs and `overwrite` is false,
        or it cannot be written.
    """
    claim = claims.acquire(out_dir, command=command, clear_stale=clear_claim)
    try:
        existing = output_files(out_dir)
        if existing and not overwrite:
            raise ConfigError(
                "out_dir", out_dir, f"already holds prediction outputs ("
                f"{os.path.basename(existing[0])}{' ...' if len(existing) > 1 else ''}); pass "
                f"overwrite to replace them", others=["overwrite"])
        for path in existing:
            tf.io.gfile.remove(path)
    except BaseException:
        claims.release(claim)
        raise
    return claim
