"""Where a prediction run writes: its output directory (claimed for the run), JSON Lines for the
whole run (batch), and one file per window pane (streaming: `WriteWindowed`)."""

from __future__ import annotations

import contextlib
import json
import os

import apache_beam as beam
import tensorflow as tf
from apache_beam.transforms import window as window_lib
from apache_beam.utils.timestamp import Timestamp

from digitseq.core import claims, storage
from digitseq.core.errors import ConfigError
from digitseq.schemas import dataset, prediction


class WriteJsonLines(beam.PTransform):
    """Dicts -> `<prefix>-SSSSS-of-NNNNN.jsonl`."""

    def __init__(self, prefix: str):
        super().__init__()
        self._prefix = prefix

    def expand(self, rows):
        return (
            rows
            | "ToJson" >> beam.Map(lambda row: json.dumps(row, sort_keys=False))
            | "Write"
            >> beam.io.WriteToText(
                self._prefix,
                file_name_suffix=prediction.JSONL,
                shard_name_template=prediction.SHARD_TEMPLATE,
            )
        )


def window_name(window: window_lib.IntervalWindow, pane_index: int) -> str:
    """`<start>-<end>-pane<P>` in UTC, e.g. `20261202T010000Z-20261202T010100Z-pane0`."""

    def stamp(t: Timestamp) -> str:
        return t.to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")

    return f"{stamp(window.start)}-{stamp(window.end)}-pane{pane_index}"


class _WritePaneFn(beam.DoFn):
    """`(None, rows)` of one window pane -> `<out>/<name>-<window>-pane<P><suffix>` (rows in a
    stable order, through `storage.atomic_file`); yields the path."""

    def __init__(self, out_dir: str, name: str, suffix: str):
        super().__init__()
        self._out_dir, self._name, self._suffix = out_dir, name, suffix

    def process(self, item, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        _, rows = item
        lines = sorted(json.dumps(row, sort_keys=False) for row in rows)
        path = os.path.join(
            self._out_dir, f"{self._name}-{window_name(window, pane.index)}{self._suffix}"
        )
        with storage.atomic_file(path) as temp, tf.io.gfile.GFile(temp, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        yield path


class WriteWindowed(beam.PTransform):
    """Dicts in fixed windows -> one JSON Lines file per window and pane (the on-time pane 0,
    then one per late firing), named by `window_name`."""

    def __init__(self, out_dir: str, name: str, suffix: str = prediction.JSONL):
        super().__init__()
        self._out_dir, self._name, self._suffix = out_dir, name, suffix

    def expand(self, rows):
        return (
            rows
            | "Key" >> beam.Map(lambda row: (None, row))
            | "GroupPane" >> beam.GroupByKey()
            | "WritePane" >> beam.ParDo(_WritePaneFn(self._out_dir, self._name, self._suffix))
        )


def output_files(out_dir: str) -> list[str]:
    """What a prediction run writes in `out_dir` (existing files only), with the temporary
    folders Beam's file sinks write into first (left behind when a run is killed)."""
    found = []
    for pattern in (
        f"{prediction.PREDICTIONS}-*",
        f"{prediction.REVIEW}-*",
        f"{prediction.DEAD_LETTER}-*",
        prediction.METRICS,
        f"{prediction.WINDOW_METRICS}-*",
        prediction.RUN,
        f"{prediction.BEAM_TEMP}*",
    ):
        found += tf.io.gfile.glob(os.path.join(out_dir, pattern))
    return sorted(found)


def claim_output_dir(
    out_dir: str, *, overwrite: bool, command: str, clear_claim: bool = False
) -> contextlib.AbstractContextManager[claims.Claim]:
    """Claims `out_dir` for the run for the duration of a `with` block (`claims.claimed`),
    then refuses to mix runs: existing outputs need `overwrite`, which deletes them first.

    Raises:
      ConfigError: `out_dir` is a dataset directory (whatever `overwrite` says), another job
        holds the directory, it holds outputs and `overwrite` is false, or it cannot be written.
    """
    marks = [
        name
        for name in (dataset.METADATA, dataset.COMPLETED)
        if tf.io.gfile.exists(os.path.join(out_dir, name))
    ]
    if marks:
        raise ConfigError(
            "out_dir",
            out_dir,
            f"is a dataset directory (it holds "
            f"{' and '.join(marks)}); expected a directory of its own for the "
            f"predictions",
        )
    return claims.claimed(
        out_dir,
        command=command,
        leftovers=lambda: output_files(out_dir),
        holds="prediction outputs",
        overwrite=overwrite,
        clear_stale=clear_claim,
    )
