"""digitseq in your own Apache Beam pipelines.

Reading digits (the elements are what `digitseq.Reader.read` takes: image arrays, image file
bytes, or paths):

    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from digitseq.beam import DigitStringModelHandler, RecognizeDigits

    results = images | RunInference(DigitStringModelHandler("general"))      # PredictionResult
    keyed = pairs | RunInference(KeyedModelHandler(DigitStringModelHandler("general")))
    readings, dead = paths | RecognizeDigits("general")    # dicts; dead letters apart

`DigitStringModelHandler` is a RunInference `ModelHandler`: each worker loads the model once
(`load_model`), each batch is normalised and scored as `digitseq.Reader` does, and each element
gives a `PredictionResult` whose `inference` is a `digitseq.Reading` (with `error` set, rather
than a failed batch, for an element that cannot be read) and whose `model_id` is the model
directory. Model updates through RunInference's `model_metadata_pcoll` side input are supported
where the runner supports side inputs in streaming (`update_model_path`).

The dataset transforms the commands run are here too: `RenderDataset` (MNIST digit strings ->
a dataset directory), `IngestImages` (labeled image files -> the same), and the whole jobs
`render_dataset`, `ingest_dataset`, `run_prediction` with their configs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)

from digitseq.pipelines.ingest.config import IngestConfig
from digitseq.pipelines.ingest.job import IngestImages, ingest_dataset
from digitseq.pipelines.predict.config import PredictConfig
from digitseq.pipelines.predict.job import run_prediction
from digitseq.pipelines.render.config import RenderConfig
from digitseq.pipelines.render.job import RenderDataset, render_dataset
from digitseq.reader import Item, ReadConfig, Reader, Reading

__all__ = [
    "DigitStringModelHandler",
    "IngestConfig",
    "IngestImages",
    "PredictConfig",
    "ReadConfig",
    "RecognizeDigits",
    "RenderConfig",
    "RenderDataset",
    "ingest_dataset",
    "render_dataset",
    "run_prediction",
]

NAMESPACE = "digitseq.read"
"""The namespace of RunInference's metrics for this handler."""
READINGS, DEAD_LETTERS = "readings", "dead_letters"
"""The outputs of `RecognizeDigits`."""


class DigitStringModelHandler(ModelHandler[Item, PredictionResult, Reader]):
    """A RunInference `ModelHandler` reading digit strings with an exported model.

    Args:
      model: exported model directory or shipped model name ('general').
      config: the reading options (`digitseq.ReadConfig`); keyword arguments override its
        fields, e.g. `DigitStringModelHandler("general", decoder="beam")`.
      min_batch_size, max_batch_size: RunInference's batching (`BatchElements`); at most
        `config.batch_size` images go to the model per call.

    Raises:
      ConfigError: an option out of range (when made); a model directory that fails its checks
        (when a worker loads it).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        config: ReadConfig | None = None,
        min_batch_size: int = 1,
        max_batch_size: int = 64,
        **options,
    ):
        super().__init__()
        config = config or ReadConfig()
        if model is not None:
            options["model"] = model
        self._config = dataclasses.replace(config, **options) if options else config
        self._batching = {"min_batch_size": min_batch_size, "max_batch_size": max_batch_size}

    @property
    def config(self) -> ReadConfig:
        return self._config

    def load_model(self) -> Reader:
        return Reader(config=self._config)

    def update_model_path(self, model_path: str | None = None) -> None:
        """Reads with the model directory `model_path` from the next `load_model` on."""
        if model_path:
            self._config = dataclasses.replace(self._config, model=model_path)

    def run_inference(
        self,
        batch: Sequence[Item],
        model: Reader,
        inference_args: Mapping[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        readings = model.read(batch, errors="keep")
        return [
            PredictionResult(example=item, inference=reading, model_id=model.model_dir)
            for item, reading in zip(batch, readings)
        ]

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        return dict(self._batching)

    def get_num_bytes(self, batch: Sequence[Item]) -> int:
        return sum(getattr(item, "nbytes", None) or len(item) for item in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


class _SplitFn(beam.DoFn):
    """`(key, PredictionResult)` -> a reading row, or a dead letter (tagged) for an error."""

    def process(self, element):
        key, result = element
        reading: Reading = result.inference
        if reading.error is not None:
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, {"source": key, "error": reading.error})
            return
        yield {**reading.to_json(), "source": key, "model": result.model_id}


def _keyed(element) -> tuple[str, Item]:
    """A path is its own key; a `(key, item)` pair keeps its key."""
    if isinstance(element, tuple):
        key, item = element
        return str(key), item
    return str(element), element


class RecognizeDigits(beam.PTransform):
    """Image paths, or `(key, image)` pairs (arrays or file bytes) -> reading rows
    (`{"source", "digits", "confidence", "model"}`, plus `"matched": false` when a pattern found
    no string of its format), and the elements that could not be read as dead letters
    (`{"source", "error"}`), as the outputs `readings` and `dead_letters`.

    Args: as `DigitStringModelHandler`.
    """

    def __init__(self, model: str | None = None, *, config: ReadConfig | None = None, **options):
        super().__init__()
        self._handler = DigitStringModelHandler(model, config=config, **options)

    def expand(self, elements):
        return (
            elements
            | "Key" >> beam.Map(_keyed)
            | "Read" >> RunInference(KeyedModelHandler(self._handler))
            | "Split" >> beam.ParDo(_SplitFn()).with_outputs(DEAD_LETTERS, main=READINGS)
        )
