"""The batch prediction job: v1 TFRecords or image files + an exported model -> digit strings,
metrics, dead letters.

    files -> Score -+-> predictions --+-> WritePredictions (JSON Lines, Parquet)
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
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import images, labels as labels_lib
from pipelines.predict import image_files
from pipelines.predict.metrics import CorpusMetrics
from pipelines.predict.model_handler import NAMESPACE, SequenceModelHandler, load_model_config
from pipelines.predict.records import COUNTERS, ScoreRecords
from pipelines.predict.writing import WriteJsonLines, prepare_output_dir
from recognizer import decoding
from schemas import claims, prediction, storage
from schemas.errors import ConfigError
from schemas.options import check_choice, check_finite, option

logger = logging.getLogger(__name__)

COMMAND = "digitseq predict"


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """A batch prediction run.

    Attributes:
      model_dir: exported model directory (digitseq train).
      input_pattern: TFRecord file pattern, GZIP or not, e.g. 'data/test/*.tfrecord.gz'; or
        image files, e.g. 'scans/*.png' (normalised as digitseq ingest does).
      out_dir: output directory (local or gs://).
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
    """

    model_dir: str = option(flag="--model")
    input_pattern: str = option(flag="--input")
    out_dir: str = option(flag="--out")
    decoder: str = option(decoding.GREEDY, choices=decoding.DECODERS)
    beam_width: int = 8
    batch_size: int = 128
    formats: str = option("jsonl", flag="--format")
    overwrite: bool = False
    labels: str | None = None
    invert: str = option("auto", choices=images.INVERT_CHOICES)
    crop: bool = True
    clear_claim: bool = False

    def __post_init__(self):
        check_finite(self)
        check_choice("decoder", self.decoder, decoding.DECODERS)
        check_choice("invert", self.invert, images.INVERT_CHOICES)
        for name in ("beam_width", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")
        if not self.format_list or set(self.format_list) - set(prediction.FORMATS):
            raise ConfigError("formats", self.formats,
                              f"expected one or more of {', '.join(prediction.FORMATS)}")

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
    _ = (outputs["dead_letters"]
         | "WriteDeadLetters" >> WriteJsonLines(
             os.path.join(config.out_dir, prediction.DEAD_LETTER)))
    _ = (outputs
         | "CorpusMetrics" >> CorpusMetrics()
         | "MetricsJson" >> beam.Map(lambda doc: json.dumps(doc, indent=2))
         | "WriteMetrics" >> beam.io.WriteToText(os.path.join(config.out_dir, prediction.METRICS),
                                                 shard_name_template="", num_shards=1))


def _score_images(config: PredictConfig, files: list[str], handler: SequenceModelHandler,
                  height: int) -> image_files.ScoreImages:
    others = [f for f in files if not images.is_image(f)]
    if others:
        raise ConfigError("input_pattern", config.input_pattern,
                          f"matches image files and others ({others[0]}); expected one kind")
    if height != images.HEIGHT:
        raise ConfigError("model_dir", config.model_dir, f"takes images of height {height}, but "
                          f"image files are normalised to height {images.HEIGHT}")
    rows = labels_lib.read_labels(config.labels)[0] if config.labels else ()
    return image_files.ScoreImages(handler=handler, rows=rows, invert=config.invert,
                                     crop=config.crop)


def run_prediction(config: PredictConfig,
                   pipeline_options: PipelineOptions | None = None) -> dict[str, Any]:
    """Runs the job to completion; returns `metrics.json`'s content plus counters."""
    model_config = load_model_config(config.model_dir)
    files = storage.match_files(config.input_pattern, field="input_pattern",
                                expected="TFRecord or image files")
    handler = SequenceModelHandler(model_dir=config.model_dir, decoder=config.decoder,
                                   beam_width=config.beam_width, max_batch_size=config.batch_size)
    score = (_score_images(config, files, handler, int(model_config["height"]))
             if any(map(images.is_image, files)) else
             ScoreRecords(handler=handler, height=int(model_config["height"])))
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
            "model": config.model_dir, "input": config.input_pattern, "files": files,
            "labels": config.labels, "invert": config.invert, "crop": config.crop,
            "decoder": config.decoder,
            "beam_width": config.beam_width if config.decoder == decoding.BEAM else None,
            "formats": config.format_list, "counters": counters,
            "job": claim.identity()})
    finally:
        claims.release(claim)
    return {**document, "counters": counters}
