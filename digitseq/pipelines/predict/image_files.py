"""Scoring image files directly: each file normalised as `digitseq ingest` normalises it.

    files -> ReadImages: DistributeFiles -> ReadImages (+ labels side input)
          -> AttachModel -> [BatchByWidth] -> RunInference
          -> predictions, review (as `pipelines.predict.records.score_examples`), dead letters

Rows are keyed by the file path (`id` and `file`; `record` is 0). A file that cannot be read or
decoded, or has no ink, is a dead letter naming the file. Labels are optional: with a labels file
(the ingest job's formats), a file listed once with a digit string is scored against it; a file
the labels file does not list is scored unlabeled; a file listed more than once or with a label
that is not a digit string is a dead letter, so no bad label enters the metrics silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError
from digitseq.pipelines import images
from digitseq.pipelines import labels as labels_lib
from digitseq.pipelines.predict.model_handler import NAMESPACE
from digitseq.pipelines.predict.records import DEAD, RecordKey, Review, score_examples
from digitseq.schemas import prediction


def label_lookup(rows: Sequence[labels_lib.LabelRow]) -> dict[str, tuple[str, str | None]]:
    """`{normalised path: (label, None)}`, or `(None, why)` for a file whose rows cannot label
    it (`labels.problem`: listed twice, or not a digit string), which becomes a dead letter."""
    found: dict[str, list[labels_lib.LabelRow]] = {}
    for row in rows:
        found.setdefault(row.path, []).append(row)
    lookup = {}
    for path, mine in found.items():
        trouble = labels_lib.problem(mine)
        lookup[path] = (None, trouble[1]) if trouble else (mine[0].label, None)
    return lookup


class _ReadImageFn(beam.DoFn):
    """A file path -> `(RecordKey, image uint8 [28, width])`, or a dead letter (`DEAD`)."""

    def __init__(self, *, invert: images.Invert, crop: bool):
        super().__init__()
        self._invert, self._crop = invert, crop
        self._read = Metrics.counter(NAMESPACE, "records_read")
        self._unreadable = Metrics.counter(NAMESPACE, "unreadable_files")
        self._unlabeled = Metrics.counter(NAMESPACE, "unlabeled")

    def setup(self):
        import tensorflow as tf

        self._tf = tf

    def process(self, path: str, labels: Mapping[str, tuple[str | None, str | None]]):
        label, trouble = labels.get(labels_lib.normalize_path(path), (None, None))
        if trouble:
            yield beam.pvalue.TaggedOutput(
                DEAD,
                prediction.dead_letter_row(
                    file=path, record=0, record_id=path, error=f"{path}: {trouble}"
                ),
            )
            return
        try:
            image = images.normalize_file(
                storage.read_bytes(path), invert=self._invert, crop=self._crop, where=path
            )
        except (self._tf.errors.OpError, InvalidInputError) as err:
            self._unreadable.inc()
            yield beam.pvalue.TaggedOutput(
                DEAD,
                prediction.dead_letter_row(
                    file=path,
                    record=0,
                    record_id=path,
                    error=getattr(err, "message", None) or str(err),
                ),
            )
            return
        self._read.inc()
        if label is None:
            self._unlabeled.inc()
        yield RecordKey(path, path, 0, label), image


class ScoreImages(beam.PTransform):
    """Image paths -> `{"predictions", "review", "dead_letters"}` rows (see schemas.prediction).

    Args:
      handler: runs the model on batches of images (a `SequenceModelHandler`).
      rows: the labels file's rows (empty: every image unlabeled).
      invert: polarity, as `pipelines.images.normalize` takes it.
      crop: crop to the ink first.
      review: which scored rows go to review.
      models: `model_versions.ModelVersion`s in force (None: the handler's model throughout).
    """

    def __init__(
        self,
        *,
        handler: ModelHandler,
        rows: Sequence[labels_lib.LabelRow] = (),
        invert: images.Invert = "auto",
        crop: bool = True,
        review: Review = Review(),
        models=None,
    ):
        super().__init__()
        self._handler, self._review, self._models = handler, review, models
        self._read = ReadImages(rows=rows, invert=invert, crop=crop)

    def expand(self, files):
        read = files | "Read" >> self._read
        return score_examples(
            read["examples"],
            [read[DEAD]],
            handler=self._handler,
            review=self._review,
            models=self._models,
        )


class ReadImages(beam.PTransform):
    """Image file paths -> `{"examples": (RecordKey, image), DEAD: dead-letter rows}`.

    Args:
      rows: the labels file's rows (empty: every image unlabeled).
      invert: polarity, as `pipelines.images.normalize` takes it.
      crop: crop to the ink first.
      distribute: spread the paths over workers first (`Reshuffle`; as `records.ReadRecords`).
    """

    def __init__(
        self,
        *,
        rows: Sequence[labels_lib.LabelRow] = (),
        invert: images.Invert = "auto",
        crop: bool = True,
        distribute: bool = True,
    ):
        super().__init__()
        self._lookup, self._distribute = label_lookup(rows), distribute
        self._fn = _ReadImageFn(invert=invert, crop=crop)

    def expand(self, files):
        lookup = files.pipeline | "Labels" >> beam.Create(sorted(self._lookup.items()))
        if self._distribute:
            files = files | "DistributeFiles" >> beam.Reshuffle()
        read = files | "ReadImages" >> beam.ParDo(
            self._fn, beam.pvalue.AsDict(lookup)
        ).with_outputs(DEAD, main="examples")
        return {"examples": read.examples, DEAD: read[DEAD]}
