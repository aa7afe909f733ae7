"""Corpus error metrics of a prediction run, computed inside the Beam job (`metrics.json`)."""

from __future__ import annotations

from typing import Any, Mapping

import apache_beam as beam

from recognizer import metrics as metrics_lib
from schemas import prediction


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


def metrics_document(errors: Mapping[str, Any], *, scored: int, unlabeled: int,
                     dead_letters: int) -> dict[str, Any]:
    """`metrics.json`: error rates over labeled predictions, plus what was not in them."""
    return {**errors, prediction.SCORED: scored, prediction.UNLABELED: unlabeled,
            prediction.DEAD_LETTERS: dead_letters}


class CorpusMetrics(beam.PTransform):
    """`{"predictions", "dead_letters"}` -> one `metrics.json` document."""

    def expand(self, outputs):
        rows, dead = outputs["predictions"], outputs["dead_letters"]
        labeled = rows | "Labeled" >> beam.Filter(lambda row: prediction.LABEL in row)
        counts = {
            "scored": rows | "CountRows" >> beam.combiners.Count.Globally(),
            "unlabeled": (rows | "Unlabeled" >> beam.Filter(lambda row: prediction.LABEL not in row)
                          | "CountUnlabeled" >> beam.combiners.Count.Globally()),
            "dead_letters": dead | "CountDead" >> beam.combiners.Count.Globally(),
        }
        return (labeled
                | "ErrorCounts" >> beam.CombineGlobally(ErrorCountsFn())
                | "Document" >> beam.Map(metrics_document, **{
                    name: beam.pvalue.AsSingleton(count) for name, count in counts.items()}))
