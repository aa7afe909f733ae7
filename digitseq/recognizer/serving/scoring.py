"""Scoring a batch of normalised images with an exported model: the one place the serving
signatures are called, shared by the Beam jobs' RunInference handlers and `digitseq.Reader`.

Images are uint8 `[height, width]` of the model's height (white ink on black, as
`pipelines.images.normalize` makes them); a batch is padded to its widest image. Greedy decoding
uses `serving_default` as is (its confidence is calibrated when the model directory has
`calibration.json`); beam search decodes the `logits` signature's output
(`serving.decoding`), constrained by an automaton when one is given, and applies the calibration's
beam map.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from digitseq.recognizer.serving import decoding, patterns
from digitseq.recognizer.serving.calibration import Calibration
from digitseq.schemas import exported


@dataclasses.dataclass(frozen=True)
class Decoded:
    """A decoded string; `matched` is false when constrained decoding found no allowed string
    (then `digits` is empty and `confidence` 0)."""

    digits: str
    confidence: float
    matched: bool = True


def padded(batch: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Images `[height, w_i]` -> `(images [B, height, max w] zero-padded, widths [B])`."""
    widths = np.array([image.shape[1] for image in batch], np.int32)
    images = np.zeros((len(batch), batch[0].shape[0], widths.max()), np.uint8)
    for i, image in enumerate(batch):
        images[i, :, : widths[i]] = image
    return images, widths


def score_batch(
    serving,
    calibration: Calibration | None,
    batch: Sequence[np.ndarray],
    *,
    decoder: str = decoding.GREEDY,
    beam_width: int = 8,
    automaton: patterns.Automaton | None = None,
) -> list[Decoded]:
    """The decoded strings of `batch` (images of the model's height), in order.

    Args:
      serving: the loaded SavedModel (`exported_model.ExportedModel.serving`).
      calibration: the model's calibration (None: raw confidences).
      batch: the images.
      decoder: `greedy` or `beam`.
      beam_width: beams of the beam decoder.
      automaton: the allowed strings for constrained beam search (None: unconstrained).
    """
    images, widths = padded(batch)
    inputs = {exported.IMAGES: tf.constant(images), exported.WIDTHS: tf.constant(widths)}
    if decoder == decoding.GREEDY:
        out = serving.signatures[exported.SERVING_DEFAULT](**inputs)
        return [
            Decoded(text, float(c))
            for text, c in zip(
                decoding.to_strings(out[exported.DIGITS], out[exported.LENGTHS]),
                out[exported.CONFIDENCE].numpy(),
            )
        ]
    out = serving.signatures[exported.LOGITS_SIGNATURE](**inputs)
    if automaton is None:
        digits, lengths, confidence = decoding.decode(
            out[exported.LOGITS], out[exported.LENGTHS], method=decoding.BEAM, beam_width=beam_width
        )
        found = list(zip(decoding.to_strings(digits, lengths), confidence.numpy().tolist()))
    else:
        found = decoding.decode_constrained(
            out[exported.LOGITS], out[exported.LENGTHS], automaton, beam_width=beam_width
        )
    raw = np.array([p for _, p in found], np.float64)
    calibrated = raw if calibration is None else calibration.beam.apply(raw)
    return [
        Decoded(text, float(c)) if text is not None else Decoded("", 0.0, matched=False)
        for (text, _), c in zip(found, calibrated.tolist())
    ]
