"""The batch prediction job: v1 TFRecords or image files + an exported model -> digit strings,
metrics, dead letters.

    files -> Score -+-> predictions --+-> WritePredictions (JSON Lines, Parquet)
                    +-> review -------+-> WriteReview (JSON Lines)
                    |                 +-> CorpusMetrics -> metrics.json
                    +-> dead letters -+-> WriteDeadLetters

Score is `pipelines.predict.records.ScoreRecords` for TFRecords,
`pipelines.predict.image_files.ScoreImages` for image files.

The model directory is checked on the launcher before the pipeline starts, and the output
directory claimed for the run (`schemas.claims`: a second run on it fails, naming this one);
`run.json`, written last once the run has checked that it still holds its claim, records what
was scored, the job's id and its Beam counters. Outputs: `schemas.prediction`. Image
files (all inputs named .png, .jpg, .jpeg, .bmp or .gif) are normalised as the ingest job does
(`pipelines.images`) and scored with rows keyed by their path; their labels, if any, come from a
labels file in the ingest job's formats.

Scored rows whose confidence is below `review_below`, and rows for which constrained decoding
(`length`, `lengths`, `pattern`: one automaton, `recognizer.patterns`) found no string of the
format, go to `review-*.jsonl` with a `reason`. `run.json` also says whether the confidences are
calibrated (the model directory has `calibration.json`), the constraint, and the batching with
its padding efficiency (real columns / padded columns over all batches).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import images, labels as labels_lib
from pipelines.predict import image_files
from pipelines.predict.metrics import CorpusMetrics
from pipelines.predict.model_handler import (BATCHINGS, NAMESPACE, WIDTH, SequenceModelHandler,
                                             load_model_config)
from pipelines.predict.records import COUNTERS, Review, ScoreRecords
from pipelines.predict.writing import WriteJsonLines, prepare_output_dir
from recognizer import builtin, calibration as calibration_lib, decoding, patterns
from schemas import claims, prediction, storage
from schemas.errors import ConfigError
from schemas.options import check_choice, check_finite, option

logger = logging.getLogger(__name__)

COMMAND = "digitseq predict"
SUBSCRIPTION = re.compile(r"projects/[^/\s]+/subscriptions/[^/\s]+")


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """A batch prediction run.

    Attributes:
      model_dir: exported model directory (digitseq train), or the name of a model that ships
        with digitseq (recognizer/builtin/models.json).
      input_pattern: TFRecord file pattern, GZIP or not, e.g. 'data/test/*.tfrecord.gz'; or
        image files, e.g. 'scans/*.png' (normalised as digitseq ingest does). A batch run; the
        streaming sources are watch and subscription.
      out_dir: output directory (local or gs://).
      watch: streaming: score files matching this pattern as they land (TFRecords, or image
        files by their extension), polled every poll_interval seconds (fileio.MatchContinuously:
        Dataflow streaming, Flink; not the local runners).
      subscription: streaming: score the files that Pub/Sub messages of this subscription name
        (projects/P/subscriptions/S; Cloud Storage notifications, or a message whose data is a
        path).
      window: streaming: fixed window, in seconds of file arrival time; outputs and metrics are
        written per window.
      allowed_lateness: streaming: seconds after a window's end during which a late file is still
        scored, into a late pane of its window (pane1, pane2, ...); later ones are dropped by the
        runner.
      poll_interval: streaming: seconds between two matches of watch and model_watch.
      remember_files: streaming: seconds for which a file (same path, size and modification
        time) is remembered, so that a second arrival is not scored again.
      model_watch: streaming: model directories appearing under this pattern (e.g.
        'gs://b/models/*') replace the model for files that land after them; each row names
        its model.
      decoder: CTC decoding: greedy (the serving signature) or beam search.
      beam_width: beams kept by the beam decoder.
      batch_size: largest inference batch.
      formats: comma-separated output formats: jsonl, parquet.
      overwrite: replace the outputs of an earlier run in the output directory.
      labels: for image inputs: labels file (digitseq ingest's formats) for error metrics.
      invert: for image inputs: polarity: auto (from the border pixels), yes, no.
      crop: for image inputs: crop each image to its ink with a margin before resizing.
      clear_claim: clear the claim a killed run left on the output directory (never one whose
        process still runs on this host).
      review_below: send scored rows whose confidence is below this (0..1) to review-*.jsonl
        instead of predictions (0: none for their confidence).
      length: decode only strings of exactly this many digits (beam decoder).
      lengths: decode only strings of MIN..MAX digits, e.g. 1..6 (beam decoder).
      pattern: decode only digit strings the whole of which match this regular expression, e.g.
        '0[0-9]{9}' (beam decoder; digits, [classes], ., \\d, groups, |, ?, *, +, {m,n}).
      batching: inference batches: width (Beam's SortAndBatchElements by image width, little
        padding) or fixed (batch_size images in arrival order).
      batch_columns: for width batching: the largest sum of image widths in a batch.
    """

    model_dir: str = option(flag="--model")
    out_dir: str = option(flag="--out")
    input_pattern: str | None = option(None, flag="--input", metavar="PATTERN")
    watch: str | None = option(None, metavar="PATTERN")
    subscription: str | None = option(None, metavar="projects/P/subscriptions/S")
    window: float = 60.0
    allowed_lateness: float = 600.0
    poll_interval: float = 10.0
    remember_files: float = 86400.0
    model_watch: str | None = option(None, metavar="PATTERN")
    decoder: str = option(decoding.GREEDY, choices=decoding.DECODERS)
    beam_width: int = 8
    batch_size: int = 128
    formats: str = option("jsonl", flag="--format")
    overwrite: bool = False
    labels: str | None = None
    invert: str = option("auto", choices=images.INVERT_CHOICES)
    crop: bool = True
    clear_claim: bool = False
    review_below: float = 0.0
    length: int | None = None
    lengths: str | None = option(None, metavar="MIN..MAX")
    pattern: str | None = option(None, metavar="REGEX")
    batching: str = option(WIDTH, choices=BATCHINGS)
    batch_columns: int = 16384

    def __post_init__(self):
        check_finite(self)
        check_choice("decoder", self.decoder, decoding.DECODERS)
        check_choice("invert", self.invert, images.INVERT_CHOICES)
        check_choice("batching", self.batching, BATCHINGS)
        for name in ("beam_width", "batch_size", "batch_columns"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")
        if not self.format_list or set(self.format_list) - set(prediction.FORMATS):
            raise ConfigError("formats", self.formats,
                              f"expected one or more of {', '.join(prediction.FORMATS)}")
        self._check_sources()
        if not 0.0 <= self.review_below <= 1.0:
            raise ConfigError("review_below", self.review_below, "expected a confidence in 0..1")
        if self.length is not None and self.length < 1:
            raise ConfigError("length", self.length, "expected at least 1 digit")
        if self.length is not None and self.lengths is not None:
            raise ConfigError("lengths", self.lengths, "expected either length or lengths, not "
                              "both", others=["length"])
        if self.lengths is not None:
            self._length_range()
        given = [name for name in ("length", "lengths", "pattern")
                 if getattr(self, name) is not None]
        if given and self.decoder != decoding.BEAM:
            raise ConfigError(given[0], getattr(self, given[0]), "expected decoder beam: "
                              "constrained decoding is a beam search (the greedy decoder "
                              "cannot follow a format)", others=["decoder"])
        if self.pattern is not None:
            try:
                patterns.compile_pattern(self.pattern)
            except patterns.PatternError as err:
                raise ConfigError("pattern", self.pattern,
                                  f"expected a regular expression over digits: {err}") from None
        if given:
            try:
                self.automaton()
            except patterns.PatternError as err:
                raise ConfigError(given[-1], getattr(self, given[-1]), f"expected a format "
                                  f"some digit string has: {err}") from None

    def _check_sources(self) -> None:
        given = [name for name in ("input_pattern", "watch", "subscription")
                 if getattr(self, name) is not None]
        if not given:
            raise ConfigError("input_pattern", None, "expected the files to score (or a "
                              "streaming source: watch or subscription)",
                              others=["watch", "subscription"])
        if len(given) > 1:
            raise ConfigError(given[1], getattr(self, given[1]), "expected one source of files: "
                              "one of input_pattern, watch, subscription",
                              others=["input_pattern", "watch", "subscription"])
        if self.subscription is not None and not SUBSCRIPTION.fullmatch(self.subscription):
            raise ConfigError("subscription", self.subscription, "expected a Pub/Sub "
                              "subscription path, projects/PROJECT/subscriptions/NAME")
        if self.model_watch is not None and not self.streaming:
            raise ConfigError("model_watch", self.model_watch, "expected a streaming run: "
                              "model updates need watch or subscription",
                              others=["watch", "subscription"])
        for name in ("window", "poll_interval", "remember_files"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, getattr(self, name), "expected a positive number of "
                                  "seconds")
        if self.allowed_lateness < 0:
            raise ConfigError("allowed_lateness", self.allowed_lateness, "expected 0 or more "
                              "seconds")
        if self.streaming and self.format_list != ["jsonl"]:
            raise ConfigError("formats", self.formats, "expected jsonl: a streaming run writes "
                              "JSON Lines per window")

    @property
    def streaming(self) -> bool:
        """Files arrive while the job runs (watch or subscription)."""
        return self.watch is not None or self.subscription is not None

    def _length_range(self) -> tuple[int, int]:
        match = re.fullmatch(r"\s*(\d+)\s*\.\.\s*(\d+)\s*", self.lengths)
        if not match:
            raise ConfigError("lengths", self.lengths, "expected MIN..MAX digits, e.g. 1..6")
        low, high = int(match.group(1)), int(match.group(2))
        if low < 1:
            raise ConfigError("lengths", self.lengths, "expected MIN at least 1")
        if low > high:
            raise ConfigError("lengths", self.lengths, f"expected MIN at most MAX ({low} > "
                              f"{high})")
        return low, high

    def constraint(self) -> str | None:
        """The format as one pattern description (None: unconstrained)."""
        parts = []
        if self.length is not None:
            parts.append(patterns.length_pattern(self.length))
        if self.lengths is not None:
            parts.append(patterns.length_pattern(*self._length_range()))
        if self.pattern is not None:
            parts.append(self.pattern)
        return " and ".join(parts) if parts else None

    def automaton(self) -> patterns.Automaton | None:
        """The automaton of the allowed strings (None: unconstrained)."""
        found = None
        for text in ([patterns.length_pattern(self.length)] if self.length is not None else []) + \
                ([patterns.length_pattern(*self._length_range())] if self.lengths else []) + \
                ([self.pattern] if self.pattern is not None else []):
            automaton = patterns.compile_pattern(text)
            found = automaton if found is None else patterns.intersect(found, automaton)
        return found

    @property
    def format_list(self) -> list[str]:
        return [f.strip() for f in self.formats.split(",") if f.strip()]


def _write_outputs(outputs, config: PredictConfig) -> None:
    predictions_prefix = os.path.join(config.out_dir, prediction.PREDICTIONS)
    if "jsonl" in config.format_list:
        _ = outputs["predictions"] | "WritePredictions" >> WriteJsonLines(predictions_prefix)
    if "parquet" in config.format_list:
        _ = (outputs["predictions"]
             | "ParquetRows" >> beam.Map(prediction.parquet_row)
             | "WriteParquet" >> beam.io.WriteToParquet(
                 predictions_prefix, prediction.parquet_schema(),
                 file_name_suffix=prediction.PARQUET,
                 shard_name_template=prediction.SHARD_TEMPLATE))
    _ = (outputs["review"]
         | "WriteReview" >> WriteJsonLines(os.path.join(config.out_dir, prediction.REVIEW)))
    _ = (outputs["dead_letters"]
         | "WriteDeadLetters" >> WriteJsonLines(
             os.path.join(config.out_dir, prediction.DEAD_LETTER)))
    _ = (outputs
         | "CorpusMetrics" >> CorpusMetrics()
         | "MetricsJson" >> beam.Map(lambda doc: json.dumps(doc, indent=2))
         | "WriteMetrics" >> beam.io.WriteToText(os.path.join(config.out_dir, prediction.METRICS),
                                                 shard_name_template="", num_shards=1))


def _score_images(config: PredictConfig, files: list[str], handler: SequenceModelHandler,
                  height: int, review: Review) -> image_files.ScoreImages:
    others = [f for f in files if not images.is_image(f)]
    if others:
        raise ConfigError("input_pattern", config.input_pattern,
                          f"matches image files and others ({others[0]}); expected one kind")
    if height != images.HEIGHT:
        raise ConfigError("model_dir", config.model_dir, f"takes images of height {height}, but "
                          f"image files are normalised to height {images.HEIGHT}")
    rows = labels_lib.read_labels(config.labels)[0] if config.labels else ()
    return image_files.ScoreImages(handler=handler, rows=rows, invert=config.invert,
                                   crop=config.crop, review=review)


def make_handler(config: PredictConfig) -> SequenceModelHandler:
    """The model handler of a run (batch or streaming)."""
    return SequenceModelHandler(
        model_dir=config.model_dir, decoder=config.decoder, beam_width=config.beam_width,
        max_batch_size=config.batch_size, max_batch_columns=config.batch_columns,
        batching=config.batching, automaton=config.automaton())


def make_review(config: PredictConfig) -> Review:
    """Which scored rows of a run go to review."""
    return Review(below=config.review_below,
                  no_match=prediction.no_match_reason(config.constraint() or "",
                                                      config.beam_width))


def run_settings(config: PredictConfig) -> dict[str, Any]:
    """What `run.json` says of the scoring, in batch and streaming runs alike."""
    return {
        "model": config.model_dir, "labels": config.labels, "invert": config.invert,
        "crop": config.crop, "decoder": config.decoder,
        "beam_width": config.beam_width if config.decoder == decoding.BEAM else None,
        "formats": config.format_list,
        prediction.CALIBRATED: calibration_lib.read(config.model_dir) is not None,
        "review_below": config.review_below, prediction.CONSTRAINT: config.constraint()}


def with_model_resolved(config: PredictConfig) -> PredictConfig:
    """`config` with a builtin model name (`recognizer.builtin`) replaced by its directory."""
    model_dir = builtin.resolve(config.model_dir, field="model_dir")
    return config if model_dir == config.model_dir else dataclasses.replace(
        config, model_dir=model_dir)


def run_prediction(config: PredictConfig,
                   pipeline_options: PipelineOptions | None = None) -> dict[str, Any]:
    """Runs the job to completion; returns `metrics.json`'s content plus counters."""
    config = with_model_resolved(config)
    model_config = load_model_config(config.model_dir)
    files = storage.match_files(config.input_pattern, field="input_pattern",
                                expected="TFRecord or image files")
    handler, review = make_handler(config), make_review(config)
    score = (_score_images(config, files, handler, int(model_config["height"]), review)
             if any(map(images.is_image, files)) else
             ScoreRecords(handler=handler, height=int(model_config["height"]), review=review))
    if config.labels and isinstance(score, ScoreRecords):
        raise ConfigError("labels", config.labels, "labels go with image inputs (TFRecord records "
                          "carry their own), but input_pattern matches no image files",
                          others=["input_pattern"])
    claim = prepare_output_dir(config.out_dir, overwrite=config.overwrite, command=COMMAND,
                               clear_claim=config.clear_claim)
    try:
        logger.info("Scoring %d files matching %s with %s (%s decoding) into %s", len(files),
                    config.input_pattern, config.model_dir, config.decoder, config.out_dir)
        pipeline = beam.Pipeline(options=pipeline_options or PipelineOptions())
        outputs = (pipeline
                   | "InputFiles" >> beam.Create(files)
                   | "Score" >> score)
        _write_outputs(outputs, config)
        result = pipeline.run()
        result.wait_until_finish()

        document = storage.read_json(os.path.join(config.out_dir, prediction.METRICS))
        counters = dict.fromkeys(COUNTERS, 0)
        counters.update({c.key.metric.name: c.committed
                         for c in result.metrics().query()["counters"]
                         if c.key.metric.namespace == NAMESPACE})
        claims.check_held(claim)
        storage.write_json(os.path.join(config.out_dir, prediction.RUN), {
            **run_settings(config), "input": config.input_pattern, "files": files,
            "counters": counters,
            prediction.BATCHING: {
                "mode": config.batching, "batch_size": config.batch_size,
                "batch_columns": config.batch_columns if config.batching == WIDTH else None,
                prediction.PADDING_EFFICIENCY: (
                    counters["real_columns"] / counters["padded_columns"]
                    if counters["padded_columns"] else None)},
            "job": claim.identity()})
    finally:
        claims.release(claim)
    return {**document, "counters": counters}
