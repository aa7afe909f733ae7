"""Corpus error metrics of a prediction run, computed inside the Beam job (`metrics.json`).

Over the labeled scored rows, accepted (predictions) and sent to review alike: the error rates
(`recognizer.serving.metrics`), and from the rows' confidences the risk-coverage table, a finer curve
(every 1% of coverage), reliability bins and the expected calibration error
(`recognizer.serving.calibration.ConfidenceCounts`: integer counts per confidence level, so partial
results merge exactly whatever the order), with the counts of scored, reviewed, unlabeled rows
and dead letters: one `RunMetricsFn`, over the whole run (batch) or per window (streaming).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
from apache_beam.transforms import window

from digitseq.recognizer.serving import calibration
from digitseq.recognizer.serving import metrics as metrics_lib
from digitseq.schemas import prediction

CURVE = tuple(k / 100 for k in range(1, 101))
PREDICTIONS, REVIEW, DEAD = "predictions", "review", "dead_letters"


@dataclasses.dataclass
class _Totals:
    errors: metrics_lib.ErrorCounts = dataclasses.field(default_factory=metrics_lib.ErrorCounts)
    confidence: calibration.ConfidenceCounts = dataclasses.field(
        default_factory=calibration.ConfidenceCounts
    )
    scored: int = 0
    reviewed: int = 0
    unlabeled: int = 0
    dead_letters: int = 0


class RunMetricsFn(beam.CombineFn):
    """`(kind, row)` pairs (kind: `PREDICTIONS`, `REVIEW` or `DEAD`) -> the `metrics.json`
    document: error rates and confidence quality over the labeled scored rows, and counts."""

    def create_accumulator(self) -> _Totals:
        return _Totals()

    def add_input(self, totals: _Totals, item: tuple[str, Mapping[str, Any]]) -> _Totals:
        kind, row = item
        if kind == DEAD:
            totals.dead_letters += 1
            return totals
        totals.scored += 1
        totals.reviewed += kind == REVIEW
        label = row.get(prediction.LABEL)
        if label is None:
            totals.unlabeled += 1
            return totals
        totals.errors.add(label, row[prediction.PREDICTION])
        totals.confidence.add(
            row[prediction.CONFIDENCE],
            errors=int(label != row[prediction.PREDICTION]),
            edits=row[prediction.EDITS],
            characters=len(label),
        )
        return totals

    def merge_accumulators(self, accumulators) -> _Totals:
        merged = _Totals()
        for part in accumulators:
            merged.errors = merged.errors.merge(part.errors)
            merged.confidence = merged.confidence.merge(part.confidence)
            merged.scored += part.scored
            merged.reviewed += part.reviewed
            merged.unlabeled += part.unlabeled
            merged.dead_letters += part.dead_letters
        return merged

    def extract_output(self, totals: _Totals) -> dict[str, Any]:
        counts = totals.confidence
        return {
            **totals.errors.summary(),
            prediction.RISK_COVERAGE: counts.risk_coverage(),
            prediction.RISK_COVERAGE_CURVE: counts.risk_coverage(CURVE),
            prediction.ECE: {
                "value": counts.ece(),
                "bins": calibration.ECE_BINS,
                "binning": "equal width over [0, 1], weighted by rows",
            },
            prediction.RELIABILITY: counts.reliability(),
            prediction.SCORED: totals.scored,
            prediction.REVIEWED: totals.reviewed,
            prediction.UNLABELED: totals.unlabeled,
            prediction.DEAD_LETTERS: totals.dead_letters,
        }


class CorpusMetrics(beam.PTransform):
    """`{"predictions", "review", "dead_letters"}` -> one metrics document per window (the whole
    run in the global window, even when it is empty; nothing for an empty window otherwise).
    """

    def expand(self, outputs):
        tagged = [
            outputs[name]
            | f"Tag{kind.title().replace('_', '')}" >> beam.Map(lambda row, kind=kind: (kind, row))
            for name, kind in (
                ("predictions", PREDICTIONS),
                ("review", REVIEW),
                ("dead_letters", DEAD),
            )
        ]
        rows = tagged | "AllRows" >> beam.Flatten()
        combine = beam.CombineGlobally(RunMetricsFn())
        if not isinstance(rows.windowing.windowfn, window.GlobalWindows):
            combine = combine.without_defaults()
        return rows | "Document" >> combine
