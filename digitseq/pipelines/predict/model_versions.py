"""Which model scores each record: the run's model, and in a streaming run the models that appear
under `--model-watch` while it runs.

    [model-watch pattern] -> WatchModels (polls <pattern>/config.json) -> AcceptModels -+
    run's model -> Initial -----------------------------------------------------------+-> versions
    (key, image) + versions (side input) -> AttachModel -> (key with .model, image)

A `ModelVersion` is a model directory and the event time from which it is in force (the run's
model: from the beginning of time). `AttachModel` gives each record the newest version in force
at its element timestamp (its file's arrival time in a streaming run): a record whose file landed
before an update keeps the earlier model, whatever the order in which the runner processes them.
Versions reach `AttachModel` as a side input in the global window, fired on every new version and
accumulating, so each worker sees every version accepted so far.

Why not RunInference's own model side input (`model_metadata_pcoll`)? It reads the side input as
a singleton and switches every worker to the newest model as soon as the side input fires, so
which model scores a record depends on processing time; and the Python direct runner, the only
streaming runner here, accumulates side-input panes, so a second update fails there as "more than
one element accessed as a singleton view" (checked with Beam 2.77). Choosing by event time per
record is deterministic on every runner and testable here; the handler
(`model_handler.ModelCache`) loads each directory once per worker when a batch first needs it.

A model directory is accepted when its export is complete and usable: `config.json` (written
last by `digitseq train`), a SavedModel that loads with both signatures, and the run's input
height. A directory that fails is logged as a warning, counted (`model_updates_refused`), and
ignored: the previous model stays in force.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp

from digitseq.core.errors import ConfigError
from digitseq.pipelines.predict.model_handler import NAMESPACE
from digitseq.recognizer.serving import exported_model
from digitseq.schemas import exported

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, order=True)
class ModelVersion:
    """A model directory in force from `since_micros` (event time, microseconds since the epoch)."""

    since_micros: int
    model_dir: str


class Initial(beam.PTransform):
    """The run's model, in force from the beginning (one `ModelVersion`)."""

    def __init__(self, model_dir: str):
        super().__init__()
        self._model_dir = model_dir

    def expand(self, pbegin):
        return pbegin | "Create" >> beam.Create(
            [ModelVersion(MIN_TIMESTAMP.micros, self._model_dir)]
        )


class _AcceptFn(beam.DoFn):
    """A model directory (with its arrival as the element timestamp) -> a `ModelVersion`, or
    nothing (logged, counted) when it is not a complete export of the run's height."""

    def __init__(self, height: int):
        super().__init__()
        self._height = height
        self._accepted = Metrics.counter(NAMESPACE, "model_updates")
        self._refused = Metrics.counter(NAMESPACE, "model_updates_refused")

    def process(self, model_dir: str, timestamp=beam.DoFn.TimestampParam):
        try:
            update = exported_model.open_model(model_dir, field="model_watch", serving=True)
            update.check_height(self._height, data="the run's model")
        except ConfigError as err:
            self._refused.inc()
            logger.warning("model update refused, the previous model stays in force: %s", err)
            return
        self._accepted.inc()
        logger.warning("model update: %s in force from %s", model_dir, timestamp.to_rfc3339())
        yield ModelVersion(timestamp.micros, model_dir)


class AcceptModels(beam.PTransform):
    """Model directories (timestamped by their arrival) -> `ModelVersion`s of the usable ones."""

    def __init__(self, *, height: int):
        super().__init__()
        self._height = height

    def expand(self, model_dirs):
        return model_dirs | "Check" >> beam.ParDo(_AcceptFn(self._height))


class WatchModels(beam.PTransform):
    """Polls `<pattern>/config.json` every `interval` seconds; each new model directory (by path)
    -> its path, timestamped by the poll that found it. Needs a runner that runs unbounded
    splittable DoFns (`fileio.MatchContinuously`)."""

    def __init__(self, pattern: str, *, interval: float):
        super().__init__()
        self._pattern, self._interval = pattern, interval

    def expand(self, pbegin):
        return (
            pbegin
            | "Match"
            >> fileio.MatchContinuously(
                os.path.join(self._pattern, exported.CONFIG),
                interval=self._interval,
                start_timestamp=Timestamp.now(),
            )
            | "ModelDir" >> beam.Map(lambda found: os.path.dirname(found.path))
        )


def in_force(versions: list[ModelVersion], timestamp: Timestamp) -> str:
    """The model directory in force at `timestamp`: the newest version since at or before it."""
    return max(v for v in versions if v.since_micros <= timestamp.micros).model_dir


class _AttachFn(beam.DoFn):
    def process(self, item, versions, timestamp=beam.DoFn.TimestampParam):
        key, image = item
        yield dataclasses.replace(key, model=in_force(versions, timestamp)), image


class AttachModel(beam.PTransform):
    """`(RecordKey, image)` -> the same with `RecordKey.model` set to the version in force at the
    element's timestamp (`versions`: a PCollection of `ModelVersion`, including the initial one).
    """

    def __init__(self, versions: beam.PCollection):
        super().__init__()
        self._versions = versions

    def expand(self, examples):
        versions = self._versions | "EveryVersion" >> beam.WindowInto(
            window.GlobalWindows(),
            trigger=trigger.Repeatedly(trigger.AfterCount(1)),
            accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        )
        return examples | "InForce" >> beam.ParDo(_AttachFn(), beam.pvalue.AsList(versions))
