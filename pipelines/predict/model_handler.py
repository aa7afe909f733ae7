"""Running an exported digitseq model on batches of images inside Beam's `RunInference`.

The SavedModel (`<model>/serving`) is loaded once per worker process and shared by its threads.
Each batch is padded to its own widest image. Greedy decoding uses the `serving_default` signature
as is; beam search decodes the `logits` signature's output with `recognizer.decoding`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf
from apache_beam.ml.inference.base import ModelHandler

from recognizer import decoding
from schemas import exported, storage
from schemas.errors import ConfigError

NAMESPACE = "digitseq.predict"
"""The namespace of the prediction job's Beam counters."""


@dataclasses.dataclass(frozen=True)
class Decoded:
    digits: str
    confidence: float


class SequenceModelHandler(ModelHandler[np.ndarray, Decoded, Any]):
    """Runs an exported digitseq model (`<model>/serving`) on batches of variable-width images.

    Greedy decoding uses the model's `serving_default` signature as is; beam search decodes the
    `logits` signature's output with `recognizer.decoding`. The arguments come from a validated
    `PredictConfig`.
    """

    def __init__(self, *, model_dir: str, decoder: str = decoding.GREEDY, beam_width: int = 8,
                 max_batch_size: int = 128):
        super().__init__()
        self._model_dir, self._decoder, self._beam_width = model_dir, decoder, beam_width
        self._batch_size = max_batch_size

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        """Fixed batches (shards are read in order, so a batch is mostly one width bucket)."""
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

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


def load_model_config(model_dir: str) -> dict[str, Any]:
    """The exported model's `config.json`, after checking, on the launcher, that the directory is
    a model export whose SavedModel loads and serves both signatures on raw images.

    Raises:
      ConfigError: naming the model directory: a file is missing, the SavedModel cannot be
        loaded (damaged or incompatible), or a signature is missing or takes other inputs.
    """
    for name in (os.path.join(exported.SERVING, exported.SAVED_MODEL), exported.CONFIG):
        if not tf.io.gfile.exists(os.path.join(model_dir, name)):
            raise ConfigError("model_dir", model_dir, f"no {name}, expected an exported model "
                              f"directory (digitseq train writes one)")
    config = storage.read_json(os.path.join(model_dir, exported.CONFIG))
    try:
        model = tf.saved_model.load(os.path.join(model_dir, exported.SERVING))
    except Exception as err:  # any failure to load is the directory's fault, named as such
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ConfigError("model_dir", model_dir, f"its SavedModel cannot be loaded "
                          f"({type(err).__name__}: {reason[:300]}); expected the serving/ "
                          f"directory digitseq train exports") from None
    for signature in (exported.SERVING_DEFAULT, exported.LOGITS_SIGNATURE):
        function = model.signatures.get(signature)
        inputs = set(function.structured_input_signature[1]) if function is not None else set()
        if inputs != {exported.IMAGES, exported.WIDTHS}:
            raise ConfigError("model_dir", model_dir, f"its SavedModel has no signature "
                              f"'{signature}' taking {exported.IMAGES} and {exported.WIDTHS}; "
                              f"expected a model exported by digitseq train")
    return config
