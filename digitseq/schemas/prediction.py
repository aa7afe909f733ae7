"""The batch prediction output contract.

    <out>/predictions-SSSSS-of-NNNNN.jsonl   one object per accepted record (and .parquet if asked)
    <out>/review-SSSSS-of-NNNNN.jsonl        one object per scored record sent to a person: the
                                             prediction row plus `reason` (confidence below the
                                             review threshold, or no string of the format
                                             survived the beam)
    <out>/dead_letter-SSSSS-of-NNNNN.jsonl   one object per record that could not be scored
    <out>/metrics.json                       corpus metrics over the labeled scored rows
                                             (predictions and review), the risk-coverage table,
                                             reliability bins and the ECE
    <out>/run.json                           what was scored: model, input pattern, decoder,
                                             calibration, constraint, batching

A prediction row: `id`, `prediction` (digit string), `label` and `edits` when the record has a
label, `confidence`, where the record came from (`file`, `record` number in that file), and the `model`
directory that scored it. A dead
letter: `file`, `record` (number in the file, or the first unreadable one), `id` when it could be
read, and `error`. Every input record ends up in exactly one of the three outputs: predictions,
review (a prediction row with its `reason`) or dead letters.

A streaming run (`digitseq predict --watch` / `--subscription`) writes the same rows per fixed
window and pane: `predictions-<window>-pane<P>.jsonl`, `review-...`, `dead_letter-...` and
`metrics-<window>-pane<P>.jsonl` (one metrics document), `<window>` being `<start>-<end>` in UTC
(`20261202T010000Z-20261202T010100Z`), pane 0 the on-time firing and each further pane a late
one.

`read_rows` and `read_images` read a finished run back (for reports and tests).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from digitseq.core import storage
from digitseq.schemas import record

PREDICTIONS = "predictions"
REVIEW = "review"
DEAD_LETTER = "dead_letter"
METRICS = "metrics.json"
WINDOW_METRICS = "metrics"
RUN = "run.json"
BEAM_TEMP = "beam-temp-"
"""Beam's file sinks write into `beam-temp-*` folders first, then rename (a killed run leaves
them)."""
REPORT = "report.png"
CONFIDENCE_REPORT = "report-confidence.png"
"""`digitseq report`'s pictures, written beside the predictions by default."""
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"
JSONL = ".jsonl"
PARQUET = ".parquet"
FORMATS = ("jsonl", "parquet")

ID = "id"
PREDICTION = "prediction"
LABEL = "label"
EDITS = "edits"
CONFIDENCE = "confidence"
FILE = "file"
RECORD = "record"
ERROR = "error"
REASON = "reason"
MODEL = "model"

SCORED = "scored"
DEAD_LETTERS = "dead_letters"
UNLABELED = "unlabeled"
REVIEWED = "reviewed"
RISK_COVERAGE = "risk_coverage"
RISK_COVERAGE_CURVE = "risk_coverage_curve"
RELIABILITY = "reliability"
ECE = "ece"

CALIBRATED = "calibrated"
CONSTRAINT = "constraint"
BATCHING = "batching"
PADDING_EFFICIENCY = "padding_efficiency"


def low_confidence_reason(confidence: float, threshold: float) -> str:
    """A review row's reason when its confidence is below the review threshold."""
    return f"confidence {confidence:.4f} below the review threshold {threshold:g}"


def no_match_reason(pattern: str, beam_width: int) -> str:
    """A review row's reason when constrained decoding found no string of the format."""
    return (
        f"no string matching the pattern {pattern} survived the beam (width {beam_width}); "
        f"prediction left empty, confidence 0"
    )


def prediction_row(
    *,
    record_id: str,
    prediction: str,
    confidence: float,
    file: str,
    record: int,
    label: str | None = None,
    edits: int | None = None,
    model: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """One prediction as written to JSON Lines (label and edits only when known; `model`, the
    model directory that scored it; `reason` only in review rows)."""
    row = {ID: record_id, PREDICTION: prediction}
    if label is not None:
        row[LABEL] = label
        row[EDITS] = edits
    row.update({CONFIDENCE: confidence, FILE: file, RECORD: record})
    if model is not None:
        row[MODEL] = model
    if reason is not None:
        row[REASON] = reason
    return row


def dead_letter_row(
    *, file: str, record: int, error: str, record_id: str | None = None
) -> dict[str, Any]:
    row = {FILE: file, RECORD: record}
    if record_id is not None:
        row[ID] = record_id
    row[ERROR] = error
    return row


PARQUET_COLUMNS = (
    (ID, "string"),
    (PREDICTION, "string"),
    (LABEL, "string"),
    (EDITS, "int64"),
    (CONFIDENCE, "float64"),
    (FILE, "string"),
    (RECORD, "int64"),
    (MODEL, "string"),
)


def parquet_schema():
    """The pyarrow schema of prediction rows (label and edits null when unlabeled)."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in PARQUET_COLUMNS])


def parquet_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON prediction row with every parquet column present."""
    return {name: row.get(name) for name, _ in PARQUET_COLUMNS}


def read_rows(out_dir: str, name: str = PREDICTIONS) -> Iterable[dict[str, Any]]:
    """The JSON Lines rows of `<out_dir>/<name>-*.jsonl`, file by file."""
    import tensorflow as tf

    for path in sorted(tf.io.gfile.glob(os.path.join(out_dir, f"{name}-*{JSONL}"))):
        with tf.io.gfile.GFile(path) as f:
            for line in f:
                yield json.loads(line)


def read_images(places: Iterable[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
    """The images of records named by `(file, record number)`, as predictions name them."""
    import tensorflow as tf

    wanted: dict[str, set[int]] = {}
    for path, number in places:
        wanted.setdefault(path, set()).add(number)
    images = {}
    for path, numbers in wanted.items():
        records = tf.data.TFRecordDataset(path, compression_type=storage.compression_type(path))
        for number, serialized in enumerate(records.take(max(numbers) + 1).as_numpy_iterator()):
            if number in numbers:
                parsed = record.parse_record(
                    serialized, where=f"{path} record {number}", require_label=False
                )
                images[(path, number)] = parsed.image
    return images
