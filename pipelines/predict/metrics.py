"""Corpus error metrics of a prediction run, computed inside the Beam job (`metrics.json`).

Over the labeled scored rows, accepted (predictions) and sent to review alike: the error rates
(`recognizer.metrics`), and from the rows' confidences the risk-coverage table, a finer curve
(every 1% of coverage), reliability bins and the expected calibration error
(`recognizer.calibration.ConfidenceCounts`: integer counts per confidence level, so partial
results merge exactly whatever the order).
"""

from __future__ import annotations

from typing import Any, Mapping

import apache_beam as beam

from recognizer import calibration, metrics as metrics_lib
from schemas import prediction

CURVE = tuple(k / 100 for k in range(1, 101))


class ErrorCountsFn(beam.CombineFn):
    """Prediction rows with labels -> merged `recognizer.metrics.ErrorCounts`."""

    def create_accumulator(self) -> metrics_lib.ErrorCounts:
        return metrics_lib.ErrorCounts()

    def add_input(self, counts: metrics_lib.ErrorCounts, row: Mapping[str, Any]):
        counts.add(row[prediction.LABEL], row[prediction.PREDICTION])
        return counts

    def merge_accumulators(self, accumulators):
        return metrics_lib.merge_all(accumulators)

    def extract_output(self, counts: metrics_lib.ErrorCounts) -> dict[str, Any]:
        return counts.summary()


class ConfidenceCountsFn(beam.CombineFn):
    """Labeled rows -> the risk-coverage table and curve, reliability bins and ECE."""

    def create_accumulator(self) -> calibration.ConfidenceCounts:
        return calibration.ConfidenceCounts()

    def add_input(self, counts: calibration.ConfidenceCounts, row: Mapping[str, Any]):
        label = row[prediction.LABEL]
        counts.add(row[prediction.CONFIDENCE], errors=int(label != row[prediction.PREDICTION]),
                   edits=row[prediction.EDITS], characters=len(label))
        return counts

    def merge_accumulators(self, accumulators):
        merged = calibration.ConfidenceCounts()
        for part in accumulators:
            merged = merged.merge(part)
        return merged

    def extract_output(self, counts: calibration.ConfidenceCounts) -> dict[str, Any]:
        return {prediction.RISK_COVERAGE: counts.risk_coverage(),
                prediction.RISK_COVERAGE_CURVE: counts.risk_coverage(CURVE),
                prediction.ECE: {"value": counts.ece(), "bins": calibration.ECE_BINS,
                                 "binning": "equal width over [0, 1], weighted by rows"},
                prediction.RELIABILITY: counts.reliability()}


def metrics_document(errors: Mapping[str, Any], confidence: Mapping[str, Any], *, scored: int,
                     reviewed: int, unlabeled: int, dead_letters: int) -> dict[str, Any]:
    """`metrics.json`: error rates and confidence quality over labeled scored rows, plus what
    was not in them."""
    return {**errors, **confidence, prediction.SCORED: scored, prediction.REVIEWED: reviewed,
            prediction.UNLABELED: unlabeled, prediction.DEAD_LETTERS: dead_letters}


class CorpusMetrics(beam.PTransform):
    """`{"predictions", "review", "dead_letters"}` -> one `metrics.json` document."""

    def expand(self, outputs):
        rows = ((outputs["predictions"], outputs["review"])
                | "ScoredRows" >> beam.Flatten())
        dead = outputs["dead_letters"]
        labeled = rows | "Labeled" >> beam.Filter(lambda row: prediction.LABEL in row)
        counts = {
            "scored": rows | "CountRows" >> beam.combiners.Count.Globally(),
            "reviewed": outputs["review"] | "CountReviewed" >> beam.combiners.Count.Globally(),
            "unlabeled": (rows | "Unlabeled" >> beam.Filter(lambda row: prediction.LABEL not in row)
                          | "CountUnlabeled" >> beam.combiners.Count.Globally()),
            "dead_letters": dead | "CountDead" >> beam.combiners.Count.Globally(),
        }
        confidence = labeled | "ConfidenceCounts" >> beam.CombineGlobally(ConfidenceCountsFn())
        return (labeled
                | "ErrorCounts" >> beam.CombineGlobally(ErrorCountsFn())
                | "Document" >> beam.Map(
                    metrics_document, beam.pvalue.AsSingleton(confidence), **{
                        name: beam.pvalue.AsSingleton(count) for name, count in counts.items()}))
