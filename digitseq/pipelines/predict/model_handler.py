"""Running exported digitseq models on batches of images inside Beam's `RunInference`.

Elements are `(key, image)` pairs whose key names the model directory that scores it
(`key.model`: the run's model, or in a streaming run with model updates the one in force when the
record's file landed; `pipelines.predict.model_versions`). The handler's loaded "model" is a
`ModelCache`: each SavedModel (`<model>/serving`) is loaded the first time a batch needs it, once
per worker process, shared by its threads; a batch holding records for two models is scored in
two calls. The cache also sets the run's precision (`recognizer.serving.precision`) on each thread before
that thread's first call of a model. Each batch is padded to its own widest image; the handler
counts the real and the padded columns (`real_columns`, `padded_columns`, `batches`: Beam
counters). Greedy decoding uses the `serving_default` signature as is (its confidence is
calibrated when the model directory has `calibration.json`); beam search decodes the `logits`
signature's output with `recognizer.serving.decoding`, constrained by an automaton when the run has a
format, and applies the calibration's beam map to the result.

Batching (`BATCHINGS`): `width` (default): batches come already made, by Beam's
`SortAndBatchElements` with the image width as the element size (`sort_and_batch_kwargs`), so a
batch holds images of similar width; `fixed`: `RunInference`'s own `BatchElements` in arrival
order, `max_batch_size` images each (`bench/predict.py` compares the two).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler

from digitseq.pipelines.predict.config import WIDTH
from digitseq.recognizer.config import FLOAT32
from digitseq.recognizer.serving import calibration as calibration_lib
from digitseq.recognizer.serving import decoding, exported_model, patterns
from digitseq.recognizer.serving import precision as precision_lib
from digitseq.recognizer.serving.scoring import Decoded, score_batch

NAMESPACE = "digitseq.predict"
"""The namespace of the prediction job's Beam counters."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model directory's SavedModel and its calibration (None: raw confidences)."""

    serving: Any
    calibration: calibration_lib.Calibration | None


class ModelCache:
    """Loaded models by model directory, each loaded on first use (thread-safe); only the `keep`
    most recently loaded stay in memory. Models run in `precision` on every thread that gets
    one."""

    def __init__(self, keep: int = 2, precision: str = FLOAT32):
        self._keep, self._loaded, self._lock = keep, {}, threading.Lock()
        self._precision, self._thread = precision, threading.local()

    def get(self, model_dir: str) -> LoadedModel:
        if not getattr(self._thread, "precision_set", False):
            precision_lib.use(self._precision)
            self._thread.precision_set = True
        with self._lock:
            if model_dir not in self._loaded:
                opened = exported_model.open_model(model_dir, serving=True)
                self._loaded[model_dir] = LoadedModel(opened.serving, opened.calibration)
                while len(self._loaded) > self._keep:
                    self._loaded.pop(next(iter(self._loaded)))
            return self._loaded[model_dir]


def image_width(element) -> int:
    """The element size for width batching: a `(key, image [height, width])` pair's width."""
    return int(element[1].shape[1])


class SequenceModelHandler(ModelHandler[tuple[Any, np.ndarray], tuple[Any, Decoded], ModelCache]):
    """Runs exported digitseq models (`<model>/serving`) on batches of `(key, image)` pairs of
    variable width, each scored by the model directory its key names (`key.model`); returns
    `(key, Decoded)` pairs in batch order.

    Greedy decoding uses the model's `serving_default` signature as is; beam search decodes the
    `logits` signature's output with `recognizer.serving.decoding`. The arguments come from a validated
    `PredictConfig`.

    Args:
      model_dir: the run's exported model directory (checked on the launcher; the others come
        checked from `pipelines.predict.model_versions`).
      decoder: `greedy` or `beam`.
      beam_width: beams of the beam decoder.
      max_batch_size: most images in a batch.
      max_batch_columns: for width batching, the largest sum of image widths in a batch.
      batching: `width` or `fixed` (module docstring).
      automaton: the allowed strings for constrained beam search (None: unconstrained).
      precision: the models' arithmetic (`recognizer.serving.precision`).
    """

    def __init__(
        self,
        *,
        model_dir: str,
        decoder: str = decoding.GREEDY,
        beam_width: int = 8,
        max_batch_size: int = 128,
        max_batch_columns: int = 16384,
        batching: str = WIDTH,
        automaton: patterns.Automaton | None = None,
        precision: str = FLOAT32,
    ):
        super().__init__()
        self._model_dir, self._decoder, self._beam_width = model_dir, decoder, beam_width
        self._precision = precision
        self._batch_size, self._batch_columns = max_batch_size, max_batch_columns
        self.batching, self._automaton = batching, automaton
        self._batches = Metrics.counter(NAMESPACE, "batches")
        self._real = Metrics.counter(NAMESPACE, "real_columns")
        self._padded = Metrics.counter(NAMESPACE, "padded_columns")

    @property
    def model_dir(self) -> str:
        """The run's model directory (the model in force from the start)."""
        return self._model_dir

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        """For fixed batching: `max_batch_size` images per batch, in arrival order."""
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    def sort_and_batch_kwargs(self) -> Mapping[str, Any]:
        """For width batching: `beam.transforms.util.SortAndBatchElements`'s arguments."""
        return {
            "min_batch_size": 1,
            "max_batch_size": self._batch_size,
            "max_batch_weight": self._batch_columns,
            "element_size_fn": image_width,
        }

    def load_model(self) -> ModelCache:
        cache = ModelCache(precision=self._precision)
        cache.get(self._model_dir)
        return cache

    def run_inference(
        self,
        batch: Sequence[tuple[Any, np.ndarray]],
        model: ModelCache,
        inference_args: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, Decoded]]:
        by_model: dict[str, list[int]] = {}
        for i, (key, _) in enumerate(batch):
            by_model.setdefault(key.model, []).append(i)
        decoded: list[Decoded | None] = [None] * len(batch)
        for model_dir, positions in by_model.items():
            found = self._score([batch[i][1] for i in positions], model.get(model_dir))
            for i, result in zip(positions, found):
                decoded[i] = result
        return [(key, result) for (key, _), result in zip(batch, decoded)]

    def _score(self, batch: Sequence[np.ndarray], loaded: LoadedModel) -> list[Decoded]:
        widths = [image.shape[1] for image in batch]
        self._batches.inc()
        self._real.inc(int(sum(widths)))
        self._padded.inc(int(max(widths)) * len(batch))
        return score_batch(
            loaded.serving,
            loaded.calibration,
            batch,
            decoder=self._decoder,
            beam_width=self._beam_width,
            automaton=self._automaton,
        )

    def get_num_bytes(self, batch: Sequence[tuple[Any, np.ndarray]]) -> int:
        return sum(image.nbytes for _, image in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE
