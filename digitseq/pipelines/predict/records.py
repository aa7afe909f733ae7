"""Scoring records with a model in Beam: file paths in, prediction rows and dead letters out.

    files -> ReadRecords: DistributeFiles -> ReadRecords -> ParseRecords
          -> AttachModel -> [BatchByWidth]
               -> RunInference -> ToRows -+-> predictions
                          +-> review (confidence below the threshold, or no string of the format)
    read, parse and inference failures -> dead letters

Assumptions: input files are TFRecord, GZIP or not (told apart by the gzip magic bytes, not the
name); each file is read by one worker in order, which numbers its records, so a dead letter can
name the file and record even when the bytes are not an Example. A file that becomes unreadable
(corrupt gzip, truncated record) yields one dead letter for the first unreadable record: what
follows cannot be counted. Records need not carry labels; unlabeled ones are scored but do not
enter the error rates. Batches that fail inference go to dead letters with the error; the job
goes on. With width batching (`SequenceModelHandler.batching`), Beam's `SortAndBatchElements`
sorts each bundle's images by width and cuts batches by count and summed width; the rows do not
depend on how the runner cuts bundles, only how little is padded does. Every row names the model
directory that scored it (`pipelines.predict.model_versions`: the run's model, or in a streaming
run the version in force when its file landed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.transforms.util import SortAndBatchElements

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError
from digitseq.pipelines.predict import model_versions
from digitseq.pipelines.predict.config import WIDTH
from digitseq.pipelines.predict.model_handler import NAMESPACE
from digitseq.recognizer.serving import metrics as metrics_lib
from digitseq.schemas import prediction, record

DEAD = "dead_letters"
REVIEW = "review"
COUNTERS = (
    "records_read",
    "unreadable_files",
    "scored",
    "reviewed",
    "unlabeled",
    "dead_lettered",
    "batches",
    "real_columns",
    "padded_columns",
)
"""Beam counters of the job (namespace `NAMESPACE`), reported in `run.json`."""
_READ_BLOCK = 256
"""Records taken from tf.data at a time (taking them one at a time is much slower)."""
_READ_BUFFER = 1 << 22


@dataclasses.dataclass(frozen=True)
class RecordKey:
    """What travels with an image through inference: its identity, its label, and the model
    directory that scores it (set by `model_versions.AttachModel`)."""

    record_id: str
    file: str
    record: int
    label: str | None
    model: str | None = None


class _ReadFileFn(beam.DoFn):
    """A file path -> `(path, record number, serialized)` per record, in file order."""

    def __init__(self):
        super().__init__()
        self._read = Metrics.counter(NAMESPACE, "records_read")
        self._unreadable = Metrics.counter(NAMESPACE, "unreadable_files")

    def process(self, path: str):
        storage.ensure_filesystem(path)
        compression = storage.compression_type(path)
        index, problem = 0, None
        records = tf.data.TFRecordDataset(
            path, compression_type=compression, buffer_size=_READ_BUFFER
        )
        try:
            for block in records.batch(_READ_BLOCK).as_numpy_iterator():
                for serialized in block:
                    self._read.inc()
                    yield path, index, serialized
                    index += 1
        except tf.errors.OpError as err:
            problem = f"{type(err).__name__}: {err.message.splitlines()[0]}"
        if problem is None and compression:
            problem = storage.gzip_problem(path)
        if problem is not None:
            self._unreadable.inc()
            yield beam.pvalue.TaggedOutput(
                DEAD,
                prediction.dead_letter_row(
                    file=path,
                    record=index,
                    error=f"{path}: unreadable from record {index} on ({problem}); the rest of the "
                    f"file was not scored",
                ),
            )


class _ParseFn(beam.DoFn):
    """`(path, number, serialized)` -> `(RecordKey, image uint8 [height, width])`."""

    def __init__(self, *, height: int):
        super().__init__()
        self._height = height
        self._unlabeled = Metrics.counter(NAMESPACE, "unlabeled")

    def process(self, item: tuple[str, int, bytes]):
        path, index, serialized = item
        where = f"{path} record {index}"
        try:
            parsed = record.parse_record(serialized, where=where, require_label=False)
        except InvalidInputError as err:
            yield beam.pvalue.TaggedOutput(
                DEAD, prediction.dead_letter_row(file=path, record=index, error=str(err))
            )
            return
        if parsed.image.shape[0] != self._height:
            yield beam.pvalue.TaggedOutput(
                DEAD,
                prediction.dead_letter_row(
                    file=path,
                    record=index,
                    record_id=parsed.record_id,
                    error=f"{where} (id {parsed.record_id}): height {parsed.image.shape[0]}, "
                    f"expected {self._height} (the model's)",
                ),
            )
            return
        if parsed.label is None:
            self._unlabeled.inc()
        label = None if parsed.label is None else metrics_lib.label_string(parsed.label)
        yield RecordKey(parsed.record_id, path, index, label), parsed.image


@dataclasses.dataclass(frozen=True)
class Review:
    """Which scored rows go to review: confidence below `below` (0: none by confidence), and
    every row whose constrained decoding found no allowed string (`no_match` is its reason)."""

    below: float = 0.0
    no_match: str = "no string of the format survived the beam"


class _ToRowsFn(beam.DoFn):
    """`(RecordKey, Decoded)` -> a prediction row, or a review row (`REVIEW`) with its reason."""

    def __init__(self, review: Review):
        super().__init__()
        self._review = review
        self._scored = Metrics.counter(NAMESPACE, "scored")
        self._reviewed = Metrics.counter(NAMESPACE, "reviewed")

    def setup(self):
        import editdistance

        self._distance = editdistance.eval

    def process(self, item):
        key, decoded = item
        reason = None
        if not decoded.matched:
            reason = self._review.no_match
        elif decoded.confidence < self._review.below:
            reason = prediction.low_confidence_reason(decoded.confidence, self._review.below)
        row = prediction.prediction_row(
            record_id=key.record_id,
            prediction=decoded.digits,
            confidence=decoded.confidence,
            file=key.file,
            record=key.record,
            label=key.label,
            edits=None if key.label is None else self._distance(key.label, decoded.digits),
            model=key.model,
            reason=reason,
        )
        self._scored.inc()
        if reason is None:
            yield row
        else:
            self._reviewed.inc()
            yield beam.pvalue.TaggedOutput(REVIEW, row)


def _failed_batch_rows(failure):
    batch, (_, error, _) = failure
    for key, _ in batch:
        yield prediction.dead_letter_row(
            file=key.file,
            record=key.record,
            record_id=key.record_id,
            error=f"inference failed for its batch: {error}",
        )


class Count(beam.DoFn):
    """Passes elements through, counting them."""

    def __init__(self, name: str):
        super().__init__()
        self._counter = Metrics.counter(NAMESPACE, name)

    def process(self, element):
        self._counter.inc()
        yield element


class ScoreRecords(beam.PTransform):
    """File paths -> `{"predictions", "review", "dead_letters"}` rows (see schemas.prediction).

    Args:
      handler: runs the models on batches of `(RecordKey, image)` (a `SequenceModelHandler`).
      height: image rows the model takes; other records are dead letters.
      review: which scored rows go to review.
      models: `model_versions.ModelVersion`s in force (None: the handler's model throughout).
    """

    def __init__(
        self,
        *,
        handler: ModelHandler,
        height: int,
        review: Review = Review(),
        models: beam.PCollection | None = None,
    ):
        super().__init__()
        if height < 1:
            raise InvalidInputError(f"model height {height}: expected at least 1")
        self._handler, self._height, self._review = handler, height, review
        self._models = models

    def expand(self, files):
        read = files | "Read" >> ReadRecords(height=self._height)
        return score_examples(
            read["examples"],
            [read[DEAD]],
            handler=self._handler,
            review=self._review,
            models=self._models,
        )


class ReadRecords(beam.PTransform):
    """TFRecord file paths -> `{"examples": (RecordKey, image), DEAD: dead-letter rows}`.

    Args:
      height: image rows the model takes; other records are dead letters.
      distribute: spread the paths over workers first (`Reshuffle`); a caller whose paths come
        out of a keyed step already spread (the streaming job's deduplication) passes False.
    """

    def __init__(self, *, height: int, distribute: bool = True):
        super().__init__()
        self._height, self._distribute = height, distribute

    def expand(self, files):
        if self._distribute:
            files = files | "DistributeFiles" >> beam.Reshuffle()
        read = files | "ReadRecords" >> beam.ParDo(_ReadFileFn()).with_outputs(DEAD, main="records")
        parsed = read.records | "ParseRecords" >> beam.ParDo(
            _ParseFn(height=self._height)
        ).with_outputs(DEAD, main="examples")
        return {
            "examples": parsed.examples,
            DEAD: (read[DEAD], parsed[DEAD]) | "ReadDeadLetters" >> beam.Flatten(),
        }


def score_examples(
    examples,
    dead: Sequence,
    *,
    handler: ModelHandler,
    review: Review = Review(),
    models: beam.PCollection | None = None,
) -> dict:
    """`(RecordKey, image)` pairs -> `{"predictions", "review", "dead_letters"}` rows, the dead
    letters being `dead` (PCollections of rows) plus the batches inference failed on.

    `models`: the `model_versions.ModelVersion`s in force (None: the handler's model only)."""
    if models is None:
        models = examples.pipeline | "RunModel" >> model_versions.Initial(handler.model_dir)
    examples = examples | "AttachModel" >> model_versions.AttachModel(models)
    if getattr(handler, "batching", None) == WIDTH:
        examples = examples | "BatchByWidth" >> SortAndBatchElements(
            **handler.sort_and_batch_kwargs()
        )
        handler = handler.with_no_batching()
    results, failed = examples | "RunInference" >> RunInference(handler).with_exception_handling()
    rows = results | "ToRows" >> beam.ParDo(_ToRowsFn(review)).with_outputs(
        REVIEW, main="predictions"
    )
    dead_letters = (
        (*dead, failed.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch_rows))
        | "AllDeadLetters" >> beam.Flatten()
        | "CountDeadLetters" >> beam.ParDo(Count("dead_lettered"))
    )
    return {"predictions": rows.predictions, "review": rows[REVIEW], "dead_letters": dead_letters}
