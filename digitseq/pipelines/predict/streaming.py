"""The streaming prediction job: files as they land -> digit strings, metrics and dead letters per
fixed window, with model updates while it runs.

    --watch PATTERN (MatchContinuously) | --subscription (Pub/Sub) -> arrivals (FileMetadata)
      -> ScoreOnce (same path, size, mtime: once) -> Windows (fixed, allowed lateness)
      -> ReadImages / ReadRecords by extension -> score_examples (AttachModel, RunInference, rows:
         the batch job's transforms) -> WriteWindowed per window pane: predictions, review,
         dead letters, metrics
    run's model + [--model-watch: WatchModels -> AcceptModels] -> versions -> AttachModel

Only the source and the windowing differ from the batch job (`pipelines.predict.job`): reading,
normalisation, scoring, review and the metrics document are the same transforms.

Assumptions: a file's event time is its arrival (the poll that matched it, or the Pub/Sub publish
time), so files are late only when the source's watermark runs ahead of them; a late file within
`allowed_lateness` is scored into a late pane of its window, a later one is dropped by the runner
(Beam's rule for data behind the watermark). Each pane's files hold that pane's rows only
(discarding), so a window's rows are the union of its panes. A file that cannot be read, or whose
records cannot be parsed, is a dead letter of its window.

Runners: the watching source (`fileio.MatchContinuously`, an unbounded splittable DoFn) runs on
Dataflow streaming and Flink; the local runners cannot run it (`FnApiRunner` is batch only and
ignores its polling; the Python direct runner's streaming mode fails on its splittable DoFn), so
`--watch` and `--model-watch` are refused there before the job starts. `--subscription` also runs
on the direct runner in streaming mode (`--runner=BundleBasedDirectRunner --streaming`), which
reads Pub/Sub itself. The tests feed `stream_outputs` from `TestStream` on that runner.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.transforms import window as window_lib
from apache_beam.transforms.deduplicate import Deduplicate
from apache_beam.utils.timestamp import Duration, Timestamp

from digitseq.core import claims, storage
from digitseq.core.errors import ConfigError
from digitseq.pipelines import images
from digitseq.pipelines import labels as labels_lib
from digitseq.pipelines.predict import image_files, model_versions
from digitseq.pipelines.predict.job import (
    COMMAND,
    PredictConfig,
    make_handler,
    make_review,
    run_settings,
    with_model_resolved,
)
from digitseq.pipelines.predict.metrics import CorpusMetrics
from digitseq.pipelines.predict.model_handler import NAMESPACE
from digitseq.pipelines.predict.records import DEAD, ReadRecords, score_examples
from digitseq.pipelines.predict.writing import WriteWindowed, claim_output_dir
from digitseq.recognizer.serving import exported_model
from digitseq.schemas import prediction

logger = logging.getLogger(__name__)

BATCH_RUNNERS = ("FnApiRunner", "DirectRunner", "SwitchingDirectRunner", "InteractiveRunner")
"""Runners that run bounded pipelines only (the local default among them)."""
NO_UNBOUNDED_SDF = ("BundleBasedDirectRunner",)
"""Streaming runners here that cannot run `fileio.MatchContinuously`."""
FINALIZE = "OBJECT_FINALIZE"


class _ScoreOnceFn(beam.DoFn):
    def __init__(self):
        super().__init__()
        self._arrived = Metrics.counter(NAMESPACE, "files_arrived")

    def process(self, found: FileMetadata):
        self._arrived.inc()
        yield (found.path, found.size_in_bytes, found.last_updated_in_seconds), found.path


class ScoreOnce(beam.PTransform):
    """Arrivals (`FileMetadata`) -> paths, each (path, size, modification time) once within
    `remember` seconds of event time (Beam's `Deduplicate`, keyed state with a timer)."""

    def __init__(self, *, remember: float):
        super().__init__()
        self._remember = remember

    def expand(self, arrivals):
        return (
            arrivals
            | "Identity" >> beam.ParDo(_ScoreOnceFn())
            | "Deduplicate" >> Deduplicate(event_time_duration=Duration.of(self._remember))
            | "Path" >> beam.Values()
        )


def notification_file(data: bytes, attributes: dict[str, str] | None) -> FileMetadata | None:
    """A Pub/Sub message -> the file it names, or None for a notification of another kind.

    Cloud Storage notifications (attributes `bucketId`, `objectId`, `eventType`; JSON object
    resource as data) name `gs://bucket/object` when the event is `OBJECT_FINALIZE`; any other
    message's data is taken as a path (UTF-8), of unknown size and time."""
    attributes = attributes or {}
    if "bucketId" in attributes and "objectId" in attributes:
        if attributes.get("eventType", FINALIZE) != FINALIZE:
            return None
        resource = json.loads(data or b"{}")
        updated = resource.get("updated")
        seconds = (
            datetime.datetime.fromisoformat(updated.replace("Z", "+00:00")).timestamp()
            if updated
            else 0.0
        )
        return FileMetadata(
            f"gs://{attributes['bucketId']}/{attributes['objectId']}",
            int(resource.get("size", 0)),
            last_updated_in_seconds=seconds,
        )
    path = data.decode("utf-8").strip()
    return FileMetadata(path, 0, last_updated_in_seconds=0.0) if path else None


class SubscriptionFiles(beam.PTransform):
    """Pub/Sub messages of a subscription -> the files they name (`FileMetadata`), timestamped by
    their publish time."""

    def __init__(self, subscription: str):
        super().__init__()
        self._subscription = subscription

    def expand(self, pbegin):
        return (
            pbegin
            | "Read"
            >> beam.io.ReadFromPubSub(subscription=self._subscription, with_attributes=True)
            | "File"
            >> beam.FlatMap(
                lambda m: [f for f in [notification_file(m.data, m.attributes)] if f is not None]
            )
        )


class WatchFiles(beam.PTransform):
    """Files matching `pattern`, polled every `interval` seconds -> `FileMetadata` as they land
    (and again when their modification time changes), timestamped by the poll."""

    def __init__(self, pattern: str, *, interval: float):
        super().__init__()
        self._pattern, self._interval = pattern, interval

    def expand(self, pbegin):
        return pbegin | "Match" >> fileio.MatchContinuously(
            self._pattern,
            interval=self._interval,
            match_updated_files=True,
            start_timestamp=Timestamp.now(),
        )


def stream_outputs(
    arrivals, *, config: PredictConfig, height: int, model_dirs=None, labels: tuple = ()
) -> dict[str, Any]:
    """Composes the streaming job on `arrivals` (`FileMetadata`, timestamped by arrival) and the
    optional `model_dirs` (paths of model directories, timestamped by arrival); writes the
    outputs per window into `config.out_dir`. Returns the windowed rows
    (`{"predictions", "review", "dead_letters"}`) and the written `paths`."""
    versions = arrivals.pipeline | "RunModel" >> model_versions.Initial(config.model_dir)
    if model_dirs is not None:
        accepted = model_dirs | "AcceptModels" >> model_versions.AcceptModels(height=height)
        versions = (versions, accepted) | "Versions" >> beam.Flatten()
    files = (
        arrivals
        | "ScoreOnce" >> ScoreOnce(remember=config.remember_files)
        | "Windows"
        >> beam.WindowInto(
            window_lib.FixedWindows(config.window),
            allowed_lateness=Duration.of(config.allowed_lateness),
        )
    )
    by_kind = files | "ByKind" >> beam.Partition(lambda path, _: int(images.is_image(path)), 2)
    records = by_kind[0] | "ReadRecords" >> ReadRecords(height=height, distribute=False)
    examples, dead = [records["examples"]], [records[DEAD]]
    if height == images.HEIGHT:
        pictures = by_kind[1] | "ReadImages" >> image_files.ReadImages(
            rows=labels, invert=config.invert, crop=config.crop, distribute=False
        )
        examples.append(pictures["examples"])
        dead.append(pictures[DEAD])
    else:
        dead.append(
            by_kind[1]
            | "WrongHeight"
            >> beam.Map(
                lambda path: prediction.dead_letter_row(
                    file=path,
                    record=0,
                    record_id=path,
                    error=f"{path}: image files are normalised to height {images.HEIGHT}, the "
                    f"model takes {height}",
                )
            )
        )
    outputs = score_examples(
        examples | "Examples" >> beam.Flatten(),
        dead,
        handler=make_handler(config),
        review=make_review(config),
        models=versions,
    )
    paths = [
        outputs[name] | f"Write{title}" >> WriteWindowed(config.out_dir, prefix)
        for name, title, prefix in (
            ("predictions", "Predictions", prediction.PREDICTIONS),
            ("review", "Review", prediction.REVIEW),
            ("dead_letters", "DeadLetters", prediction.DEAD_LETTER),
        )
    ]
    metrics = (
        outputs
        | "WindowMetrics" >> CorpusMetrics()
        | "WriteMetrics" >> WriteWindowed(config.out_dir, prediction.WINDOW_METRICS)
    )
    return {**outputs, "paths": (*paths, metrics) | "Written" >> beam.Flatten()}


def check_runner(config: PredictConfig, options: PipelineOptions) -> None:
    """Refuses, before anything starts, a runner that cannot run the run's streaming sources."""
    runner = options.view_as(StandardOptions).runner or "FnApiRunner"
    name = runner if isinstance(runner, str) else type(runner).__name__
    field = "watch" if config.watch is not None else "subscription"
    tested = (
        "the streaming transforms are tested here with TestStream on the Python direct "
        "runner (--runner=BundleBasedDirectRunner --streaming; tests/test_streaming.py)"
    )
    if name in BATCH_RUNNERS:
        raise ConfigError(
            field,
            getattr(config, field),
            f"needs a streaming runner, but "
            f"{name} runs batch pipelines only: use --runner=DataflowRunner "
            f"--streaming or --runner=FlinkRunner; {tested}",
        )
    watching = [f for f in ("watch", "model_watch") if getattr(config, f) is not None]
    if watching and name in NO_UNBOUNDED_SDF:
        raise ConfigError(
            watching[0],
            getattr(config, watching[0]),
            f"polls with "
            f"fileio.MatchContinuously, which {name} cannot run (its unbounded "
            f"splittable DoFn fails there): use --runner=DataflowRunner "
            f"--streaming or --runner=FlinkRunner, or --subscription; {tested}",
        )


def run_streaming(config: PredictConfig, pipeline_options: PipelineOptions) -> dict[str, Any]:
    """Runs the streaming job until the runner stops it (drain or cancel); returns `run.json`."""
    check_runner(config, pipeline_options)
    config = with_model_resolved(config)
    pipeline_options.view_as(StandardOptions).streaming = True
    height = exported_model.open_model(config.model_dir, serving=True).height
    labels = labels_lib.read_labels(config.labels)[0] if config.labels else ()
    with claim_output_dir(
        config.out_dir, overwrite=config.overwrite, command=COMMAND, clear_claim=config.clear_claim
    ) as claim:
        settings = {
            **run_settings(config),
            "mode": "streaming",
            "watch": config.watch,
            "subscription": config.subscription,
            "window_seconds": config.window,
            "allowed_lateness_seconds": config.allowed_lateness,
            "model_watch": config.model_watch,
            "job": claim.identity(),
        }
        storage.write_json(os.path.join(config.out_dir, prediction.RUN), settings)
        pipeline = beam.Pipeline(options=pipeline_options)
        arrivals = (
            pipeline | "WatchFiles" >> WatchFiles(config.watch, interval=config.poll_interval)
            if config.watch is not None
            else pipeline | "Subscription" >> SubscriptionFiles(config.subscription)
        )
        model_dirs = (
            pipeline
            | "WatchModels"
            >> model_versions.WatchModels(config.model_watch, interval=config.poll_interval)
            if config.model_watch is not None
            else None
        )
        stream_outputs(arrivals, config=config, height=height, model_dirs=model_dirs, labels=labels)
        logger.warning(
            "streaming: scoring files from %s into %s per %g-second window",
            config.watch or config.subscription,
            config.out_dir,
            config.window,
        )
        pipeline.run().wait_until_finish()
        claims.check_held(claim)
    return settings
