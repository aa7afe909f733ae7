"""The batch prediction job: v1 TFRecords + an exported model -> digit strings, metrics, dead letters.

    files -> DistributeFiles -> ReadRecords -> ParseRecords -> RunInference -> ToRows -+-> WritePredictions
                                    |              |                |                  +-> CorpusMetrics -+
                                    +--------------+----------------+-> dead letters -+-> WriteDeadLetters |
                                                                                      +-> Count ---------+-> metrics.json

Assumptions: input files are TFRecord, GZIP or not (told apart by the gzip magic bytes, not the
name); each file is read by one worker in order, which numbers its records, so a dead letter can
name the file and record even when the bytes are not an Example. A file that becomes unreadable
(corrupt gzip, truncated record) yields one dead letter for the first unreadable record: what
follows cannot be counted. Records need not carry labels; unlabeled ones are scored but do not
enter the error rates.

Inference runs through Beam's `RunInference` with `SequenceModelHandler`: the SavedModel is loaded
once per worker process and shared by its threads; each batch is padded to its own widest record
(rendered shards hold one width bucket each and are read in order, so batches are mostly of one
width). Batches that fail go to dead letters with the error; the job goes on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import filesystems, tfrecord_files
from recognizer import decoding
from recognizer import metrics as metrics_lib
from schemas import dataset, exported, prediction, record
from schemas.errors import InvalidInputError

NAMESPACE = "digitseq.predict"
DEAD = "dead_letters"
COUNTERS = ("records_read", "unreadable_files", "scored", "unlabeled", "dead_lettered")
"""Beam counters of the job (namespace `NAMESPACE`), reported in `run.json`."""
_READ_BLOCK = 256
"""Records taken from tf.data at a time (one at a time costs about 0.5 ms each)."""
_READ_BUFFER = 1 << 22


@dataclasses.dataclass(frozen=True)
class RecordKey:
    """What travels with an image through inference: its identity and its label."""

    record_id: str
    file: str
    record: int
    label: str | None


@dataclasses.dataclass(frozen=True)
class Decoded:
    digits: str
    confidence: float


class _ReadFileFn(beam.DoFn):
    """A file path -> `(path, record number, serialized)` per record, in file order."""

    def __init__(self):
        super().__init__()
        self._read = Metrics.counter(NAMESPACE, "records_read")
        self._unreadable = Metrics.counter(NAMESPACE, "unreadable_files")

    def process(self, path: str):
        filesystems.ensure_filesystem(path)
        compression = tfrecord_files.compression_type(path)
        index, problem = 0, None
        records = tf.data.TFRecordDataset(path, compression_type=compression,
                                          buffer_size=_READ_BUFFER)
        try:
            for block in records.batch(_READ_BLOCK).as_numpy_iterator():
                for serialized in block:
                    self._read.inc()
                    yield path, index, serialized
                    index += 1
        except tf.errors.OpError as err:
            problem = f"{type(err).__name__}: {err.message.splitlines()[0]}"
        if problem is None and compression:
            problem = tfrecord_files.gzip_problem(path)
        if problem is not None:
            self._unreadable.inc()
            yield beam.pvalue.TaggedOutput(DEAD, prediction.dead_letter_row(
                file=path, record=index,
                error=f"{path}: unreadable from record {index} on ({problem}); the rest of the "
                      f"file was not scored"))


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
            yield beam.pvalue.TaggedOutput(DEAD, prediction.dead_letter_row(
                file=path, record=index, error=str(err)))
            return
        if parsed.image.shape[0] != self._height:
            yield beam.pvalue.TaggedOutput(DEAD, prediction.dead_letter_row(
                file=path, record=index, record_id=parsed.record_id,
                error=f"{where} (id {parsed.record_id}): height {parsed.image.shape[0]}, "
                      f"expected {self._height} (the model's)"))
            return
        if parsed.label is None:
            self._unlabeled.inc()
        label = None if parsed.label is None else metrics_lib.label_string(parsed.label)
        yield RecordKey(parsed.record_id, path, index, label), parsed.image


class SequenceModelHandler(ModelHandler[np.ndarray, Decoded, Any]):
    """Runs an exported digitseq model (`<model>/serving`) on batches of variable-width images.

    Greedy decoding uses the model's `serving_default` signature as is; beam search decodes the
    `logits` signature's output with `recognizer.decoding`.
    """

    def __init__(self, *, model_dir: str, decoder: str = decoding.GREEDY, beam_width: int = 8,
                 max_batch_size: int = 128):
        if decoder not in (decoding.GREEDY, decoding.BEAM):
            raise InvalidInputError(
                f"--decoder {decoder}: expected {decoding.GREEDY} or {decoding.BEAM}")
        if beam_width < 1:
            raise InvalidInputError(f"--beam-width {beam_width}: expected at least 1")
        if max_batch_size < 1:
            raise InvalidInputError(f"--batch-size {max_batch_size}: expected at least 1")
        super().__init__(min_batch_size=max_batch_size, max_batch_size=max_batch_size)
        self._model_dir, self._decoder, self._beam_width = model_dir, decoder, beam_width

    def load_model(self):
        return tf.saved_model.load(os.path.join(self._model_dir, exported.SERVING))

    def run_inference(self, batch: Sequence[np.ndarray], model,
                      inference_args: Mapping[str, Any] | None = None) -> list[Decoded]:
        widths = np.array([image.shape[1] for image in batch], np.int32)
        images = np.zeros((len(batch), batch[0].shape[0], widths.max()), np.uint8)
        for i, image in enumerate(batch):
            images[i, :, :widths[i]] = image
        inputs = {exported.IMAGES: tf.constant(images), exported.WIDTHS: tf.constant(widths)}
        if self._decoder == decoding.GREEDY:
            out = model.signatures[exported.SERVING_DEFAULT](**inputs)
            digits, lengths, confidence = (out[exported.DIGITS], out[exported.LENGTHS],
                                           out[exported.CONFIDENCE])
        else:
            out = model.signatures[exported.LOGITS_SIGNATURE](**inputs)
            digits, lengths, confidence = decoding.decode(
                out[exported.LOGITS], out[exported.LENGTHS], method=decoding.BEAM,
                beam_width=self._beam_width)
        return [Decoded(text, float(c)) for text, c in
                zip(decoding.to_strings(digits, lengths), confidence.numpy())]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(image.nbytes for image in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


def _prediction_row(item):
    import editdistance

    key, decoded = item
    return prediction.prediction_row(
        record_id=key.record_id, prediction=decoded.digits, confidence=decoded.confidence,
        file=key.file, record=key.record, label=key.label,
        edits=None if key.label is None else editdistance.eval(key.label, decoded.digits))


def _failed_batch_rows(failure):
    batch, (_, error, _) = failure
    for key, _ in batch:
        yield prediction.dead_letter_row(file=key.file, record=key.record,
                                         record_id=key.record_id,
                                         error=f"inference failed for its batch: {error}")


class _Count(beam.DoFn):
    """Passes elements through, counting them."""

    def __init__(self, name: str):
        super().__init__()
        self._counter = Metrics.counter(NAMESPACE, name)

    def process(self, element):
        self._counter.inc()
        yield element


class ScoreRecords(beam.PTransform):
    """File paths -> `{"predictions": rows, "dead_letters": rows}` (see schemas.prediction).

    Args:
      handler: runs the model on batches of images (a `SequenceModelHandler`).
      height: image rows the model takes; other records are dead letters.
    """

    def __init__(self, *, handler: ModelHandler, height: int):
        super().__init__()
        if height < 1:
            raise InvalidInputError(f"model height {height}: expected at least 1")
        self._handler, self._height = handler, height

    def expand(self, files):
        read = (files
                | "DistributeFiles" >> beam.Reshuffle()
                | "ReadRecords" >> beam.ParDo(_ReadFileFn()).with_outputs(DEAD, main="records"))
        parsed = (read.records
                  | "ParseRecords" >> beam.ParDo(_ParseFn(height=self._height)).with_outputs(
                      DEAD, main="examples"))
        results, failed = (parsed.examples
                           | "RunInference" >> RunInference(
                               KeyedModelHandler(self._handler)).with_exception_handling())
        predictions = (results
                       | "ToRows" >> beam.Map(_prediction_row)
                       | "CountScored" >> beam.ParDo(_Count("scored")))
        dead_letters = ((read[DEAD], parsed[DEAD],
                         failed.failed_inferences | "FailedBatches" >> beam.FlatMap(
                             _failed_batch_rows))
                        | "AllDeadLetters" >> beam.Flatten()
                        | "CountDeadLetters" >> beam.ParDo(_Count("dead_lettered")))
        return {"predictions": predictions, "dead_letters": dead_letters}


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


def read_rows(out_dir: str, name: str = prediction.PREDICTIONS) -> Iterable[dict[str, Any]]:
    """The JSON Lines rows of `<out_dir>/<name>-*.jsonl`, file by file."""
    for path in sorted(tf.io.gfile.glob(os.path.join(out_dir, f"{name}-*{prediction.JSONL}"))):
        with tf.io.gfile.GFile(path) as f:
            for line in f:
                yield json.loads(line)


def read_images(places: Iterable[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
    """The images of records named by `(file, record number)`, as predictions name them."""
    wanted: dict[str, set[int]] = {}
    for path, number in places:
        wanted.setdefault(path, set()).add(number)
    images = {}
    for path, numbers in wanted.items():
        records = tf.data.TFRecordDataset(path,
                                          compression_type=tfrecord_files.compression_type(path))
        for number, serialized in enumerate(records.take(max(numbers) + 1).as_numpy_iterator()):
            if number in numbers:
                parsed = record.parse_record(serialized, where=f"{path} record {number}",
                                             require_label=False)
                images[(path, number)] = parsed.image
    return images


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
        raise InvalidInputError(
            f"--out {out_dir}: already holds prediction outputs ({os.path.basename(existing[0])}"
            f"{' ...' if len(existing) > 1 else ''}); pass --overwrite to replace them")
    for path in existing:
        tf.io.gfile.remove(path)
    try:
        tf.io.gfile.makedirs(out_dir)
    except tf.errors.OpError as err:
        raise InvalidInputError(f"--out {out_dir}: cannot create it ({err.message})") from None


def match_inputs(pattern: str) -> list[str]:
    filesystems.ensure_filesystem(pattern)
    try:
        files = sorted(f for f in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(f))
    except tf.errors.OpError as err:
        raise InvalidInputError(f"--input {pattern}: cannot list it ({err.message})") from None
    if not files:
        raise InvalidInputError(f"--input {pattern}: matches no files, expected TFRecord files")
    return files


def load_model_config(model_dir: str) -> dict[str, Any]:
    """The exported model's `config.json`, after checking the directory is a model export."""
    for name in (os.path.join(exported.SERVING, exported.SAVED_MODEL), exported.CONFIG):
        if not tf.io.gfile.exists(os.path.join(model_dir, name)):
            raise InvalidInputError(
                f"--model {model_dir}: no {name}, expected an exported model directory "
                f"(digitseq train writes one)")
    with tf.io.gfile.GFile(os.path.join(model_dir, exported.CONFIG)) as f:
        return json.load(f)


def run_prediction(*, model_dir: str, input_pattern: str, out_dir: str,
                   decoder: str = decoding.GREEDY, beam_width: int = 8, batch_size: int = 128,
                   formats: Sequence[str] = ("jsonl",), overwrite: bool = False,
                   pipeline_options: PipelineOptions | None = None) -> dict[str, Any]:
    """Runs the job to completion; returns `metrics.json`'s content plus counters."""
    unknown = sorted(set(formats) - set(prediction.FORMATS))
    if unknown or not formats:
        raise InvalidInputError(f"--format {','.join(formats)}: expected one or more of "
                                f"{', '.join(prediction.FORMATS)}")
    config = load_model_config(model_dir)
    files = match_inputs(input_pattern)
    score = ScoreRecords(
        handler=SequenceModelHandler(model_dir=model_dir, decoder=decoder, beam_width=beam_width,
                                     max_batch_size=batch_size),
        height=int(config["height"]))
    prepare_output_dir(out_dir, overwrite=overwrite)
    logging.info("Scoring %d files matching %s with %s (%s decoding) into %s", len(files),
                 input_pattern, model_dir, decoder, out_dir)

    pipeline = beam.Pipeline(options=pipeline_options or PipelineOptions())
    outputs = (pipeline
               | "InputFiles" >> beam.Create(files)
               | "Score" >> score)
    predictions_prefix = os.path.join(out_dir, prediction.PREDICTIONS)
    if "jsonl" in formats:
        _ = outputs["predictions"] | "WritePredictions" >> WriteJsonLines(predictions_prefix)
    if "parquet" in formats:
        _ = (outputs["predictions"]
             | "ParquetRows" >> beam.Map(prediction.parquet_row)
             | "WriteParquet" >> beam.io.WriteToParquet(
                 predictions_prefix, prediction.parquet_schema(),
                 file_name_suffix=prediction.PARQUET,
                 shard_name_template=prediction.SHARD_TEMPLATE))
    _ = (outputs["dead_letters"]
         | "WriteDeadLetters" >> WriteJsonLines(os.path.join(out_dir, prediction.DEAD_LETTER)))
    _ = (outputs
         | "CorpusMetrics" >> CorpusMetrics()
         | "MetricsJson" >> beam.Map(lambda doc: json.dumps(doc, indent=2))
         | "WriteMetrics" >> beam.io.WriteToText(os.path.join(out_dir, prediction.METRICS),
                                                 shard_name_template="", num_shards=1))
    result = pipeline.run()
    result.wait_until_finish()

    with tf.io.gfile.GFile(os.path.join(out_dir, prediction.METRICS)) as f:
        document = json.load(f)
    counters = dict.fromkeys(COUNTERS, 0)
    counters.update({c.key.metric.name: c.committed
                     for c in result.metrics().query()["counters"]
                     if c.key.metric.namespace == NAMESPACE})
    dataset.write_json(os.path.join(out_dir, prediction.RUN), {
        "model": model_dir, "input": input_pattern, "files": files, "decoder": decoder,
        "beam_width": beam_width if decoder == decoding.BEAM else None,
        "formats": list(formats),
        "counters": counters})
    return {**document, "counters": counters}
