"""The batch prediction job: v1 TFRecords or image files + an exported model -> digit strings,
metrics, dead letters.

    files -> Score -+-> predictions --+-> WritePredictions (JSON Lines, Parquet)
                    +-> review -------+-> WriteReview (JSON Lines)
                    |                 +-> CorpusMetrics -> metrics.json
                    +-> dead letters -+-> WriteDeadLetters

Score is `pipelines.predict.records.ScoreRecords` for TFRecords,
`pipelines.predict.image_files.ScoreImages` for image files.

The model directory is checked on the launcher before the pipeline starts, and the output
directory claimed for the run (`core.claims`: a second run on it fails, naming this one);
`run.json`, written last once the run has checked that it still holds its claim, records what
was scored, the job's id and its Beam counters. Outputs: `schemas.prediction`. Image
files (all inputs named .png, .jpg, .jpeg, .bmp or .gif) are normalised as the ingest job does
(`pipelines.images`) and scored with rows keyed by their path; their labels, if any, come from a
labels file in the ingest job's formats.

Scored rows whose confidence is below `review_below`, and rows for which constrained decoding
(`length`, `lengths`, `pattern`: one automaton, `recognizer.serving.patterns`) found no string of the
format, go to `review-*.jsonl` with a `reason`. `run.json` also says whether the confidences are
calibrated (the model directory has `calibration.json`), the constraint, and the batching with
its padding efficiency (real columns / padded columns over all batches).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from digitseq.core import claims, storage
from digitseq.core.errors import ConfigError
from digitseq.pipelines import images
from digitseq.pipelines import labels as labels_lib
from digitseq.pipelines.predict import image_files
from digitseq.pipelines.predict.config import WIDTH, PredictConfig
from digitseq.pipelines.predict.metrics import CorpusMetrics
from digitseq.pipelines.predict.model_handler import (
    NAMESPACE,
    SequenceModelHandler,
)
from digitseq.pipelines.predict.records import COUNTERS, Review, ScoreRecords
from digitseq.pipelines.predict.writing import WriteJsonLines, claim_output_dir
from digitseq.recognizer.serving import builtin, decoding, exported_model
from digitseq.recognizer.serving import calibration as calibration_lib
from digitseq.schemas import prediction

logger = logging.getLogger(__name__)

COMMAND = "digitseq predict"


def _write_outputs(outputs, config: PredictConfig) -> None:
    predictions_prefix = os.path.join(config.out_dir, prediction.PREDICTIONS)
    if "jsonl" in config.format_list:
        _ = outputs["predictions"] | "WritePredictions" >> WriteJsonLines(predictions_prefix)
    if "parquet" in config.format_list:
        _ = (
            outputs["predictions"]
            | "ParquetRows" >> beam.Map(prediction.parquet_row)
            | "WriteParquet"
            >> beam.io.WriteToParquet(
                predictions_prefix,
                prediction.parquet_schema(),
                file_name_suffix=prediction.PARQUET,
                shard_name_template=prediction.SHARD_TEMPLATE,
            )
        )
    _ = outputs["review"] | "WriteReview" >> WriteJsonLines(
        os.path.join(config.out_dir, prediction.REVIEW)
    )
    _ = outputs["dead_letters"] | "WriteDeadLetters" >> WriteJsonLines(
        os.path.join(config.out_dir, prediction.DEAD_LETTER)
    )
    _ = (
        outputs
        | "CorpusMetrics" >> CorpusMetrics()
        | "MetricsJson" >> beam.Map(lambda doc: json.dumps(doc, indent=2))
        | "WriteMetrics"
        >> beam.io.WriteToText(
            os.path.join(config.out_dir, prediction.METRICS), shard_name_template="", num_shards=1
        )
    )


def _score_images(
    config: PredictConfig,
    files: list[str],
    handler: SequenceModelHandler,
    height: int,
    review: Review,
) -> image_files.ScoreImages:
    others = [f for f in files if not images.is_image(f)]
    if others:
        raise ConfigError(
            "input_pattern",
            config.input_pattern,
            f"matches image files and others ({others[0]}); expected one kind",
        )
    if height != images.HEIGHT:
        raise ConfigError(
            "model_dir",
            config.model_dir,
            f"takes images of height {height}, but "
            f"image files are normalised to height {images.HEIGHT}",
        )
    rows = labels_lib.read_labels(config.labels)[0] if config.labels else ()
    return image_files.ScoreImages(
        handler=handler, rows=rows, invert=config.invert, crop=config.crop, review=review
    )


def make_handler(config: PredictConfig) -> SequenceModelHandler:
    """The model handler of a run (batch or streaming)."""
    return SequenceModelHandler(
        model_dir=config.model_dir,
        decoder=config.decoder,
        beam_width=config.beam_width,
        max_batch_size=config.batch_size,
        max_batch_columns=config.batch_columns,
        batching=config.batching,
        automaton=config.automaton(),
        precision=config.precision,
    )


def make_review(config: PredictConfig) -> Review:
    """Which scored rows of a run go to review."""
    return Review(
        below=config.review_below,
        no_match=prediction.no_match_reason(config.constraint() or "", config.beam_width),
    )


def run_settings(config: PredictConfig) -> dict[str, Any]:
    """What `run.json` says of the scoring, in batch and streaming runs alike."""
    return {
        "model": config.model_dir,
        "labels": config.labels,
        "invert": config.invert,
        "crop": config.crop,
        "decoder": config.decoder,
        "precision": config.precision,
        "beam_width": config.beam_width if config.decoder == decoding.BEAM else None,
        "formats": config.format_list,
        prediction.CALIBRATED: calibration_lib.read(config.model_dir) is not None,
        "review_below": config.review_below,
        prediction.CONSTRAINT: config.constraint(),
    }


def with_model_resolved(config: PredictConfig) -> PredictConfig:
    """`config` with a builtin model name (`recognizer.serving.builtin`) replaced by its directory."""
    model_dir = builtin.resolve(config.model_dir, field="model_dir")
    return (
        config
        if model_dir == config.model_dir
        else dataclasses.replace(config, model_dir=model_dir)
    )


def run_prediction(
    config: PredictConfig, pipeline_options: PipelineOptions | None = None
) -> dict[str, Any]:
    """Runs the job to completion; returns `metrics.json`'s content plus counters."""
    config = with_model_resolved(config)
    height = exported_model.open_model(config.model_dir, serving=True).height
    files, directories = storage.match_paths(
        config.input_pattern, field="input_pattern", expected="TFRecord or image files"
    )
    handler, review = make_handler(config), make_review(config)
    score = (
        _score_images(config, files, handler, height, review)
        if any(map(images.is_image, files))
        else ScoreRecords(handler=handler, height=height, review=review)
    )
    if config.labels and isinstance(score, ScoreRecords):
        raise ConfigError(
            "labels",
            config.labels,
            "labels go with image inputs (TFRecord records "
            "carry their own), but input_pattern matches no image files",
            others=["input_pattern"],
        )
    with claim_output_dir(
        config.out_dir, overwrite=config.overwrite, command=COMMAND, clear_claim=config.clear_claim
    ) as claim:
        logger.info(
            "Scoring %d files matching %s with %s (%s decoding) into %s",
            len(files),
            config.input_pattern,
            config.model_dir,
            config.decoder,
            config.out_dir,
        )
        pipeline = beam.Pipeline(options=pipeline_options or PipelineOptions())
        outputs = pipeline | "InputFiles" >> beam.Create(files) | "Score" >> score
        if directories:  # matched by the pattern, but nothing to score: dead letters
            outputs["dead_letters"] = (
                outputs["dead_letters"],
                pipeline
                | "MatchedDirectories"
                >> beam.Create(
                    [
                        prediction.dead_letter_row(
                            file=d, record=0, record_id=d, error=f"{d}: a directory, not a file"
                        )
                        for d in directories
                    ]
                ),
            ) | "AllDeadLetters" >> beam.Flatten()
        _write_outputs(outputs, config)
        result = pipeline.run()
        result.wait_until_finish()

        document = storage.read_json(os.path.join(config.out_dir, prediction.METRICS))
        counters = dict.fromkeys(COUNTERS, 0)
        counters.update(
            {
                c.key.metric.name: c.committed
                for c in result.metrics().query()["counters"]
                if c.key.metric.namespace == NAMESPACE
            }
        )
        claims.check_held(claim)
        storage.write_json(
            os.path.join(config.out_dir, prediction.RUN),
            {
                **run_settings(config),
                "input": config.input_pattern,
                "files": files,
                "counters": counters,
                prediction.BATCHING: {
                    "mode": config.batching,
                    "batch_size": config.batch_size,
                    "batch_columns": config.batch_columns if config.batching == WIDTH else None,
                    prediction.PADDING_EFFICIENCY: (
                        counters["real_columns"] / counters["padded_columns"]
                        if counters["padded_columns"]
                        else None
                    ),
                },
                "job": claim.identity(),
            },
        )
    return {**document, "counters": counters}
