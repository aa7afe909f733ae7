"""Writing the exported model directory (layout and signature names: `digitseq/schemas/exported.py`).

Standardization is inside the model, so both signatures take raw uint8 images. They run the model
with its batch normalization folded into the layers before it (`recognizer.serving.folding`: the same
function, faster); `model.keras` keeps the model as trained. `serving_default` decodes greedily,
`logits` serves other decoders (beam search in batch prediction). With a
`recognizer.serving.calibration.Calibration`, `serving_default`'s confidence is the calibrated one (the
greedy map, in the graph) and `calibration.json` holds both maps (the beam map is applied after
beam search by its users: batch prediction reads the file).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from digitseq.core.storage import write_json
from digitseq.recognizer.serving import calibration as calibration_lib
from digitseq.recognizer.serving import decoding, folding
from digitseq.recognizer.serving.calibration import Calibration
from digitseq.schemas import batch, exported


def _signature(height: int) -> list[tf.TensorSpec]:
    return [
        tf.TensorSpec([None, height, None], tf.uint8, name=exported.IMAGES),
        tf.TensorSpec([None], tf.int32, name=exported.WIDTHS),
    ]


def _call(model: keras.Model, images, widths) -> dict:
    return model(
        {batch.FRAMES: tf.transpose(images, [0, 2, 1]), batch.WIDTH: widths}, training=False
    )


def serving_function(model: keras.Model, height: int, calibration: Calibration | None = None):
    """Raw images and widths in, decoded digits out (what `serving_default` runs); confidence
    calibrated with the greedy map when `calibration` is given."""

    @tf.function(input_signature=_signature(height))
    def serve(images, widths):
        out = _call(model, images, widths)
        digits, lengths, confidence = decoding.decode(out[batch.LOGITS], out[batch.LENGTHS])
        if calibration is not None:
            confidence = calibration.greedy.apply_tf(confidence)
        return {exported.DIGITS: digits, exported.LENGTHS: lengths, exported.CONFIDENCE: confidence}

    return serve


def logits_function(model: keras.Model, height: int):
    """Raw images and widths in, per-frame logits and their lengths out."""

    @tf.function(input_signature=_signature(height))
    def logits(images, widths):
        out = _call(model, images, widths)
        return {exported.LOGITS: out[batch.LOGITS], exported.LENGTHS: out[batch.LENGTHS]}

    return logits


def write_serving(
    model: keras.Model, model_dir: str, *, height: int, calibration: Calibration | None = None
) -> None:
    """Writes `<model_dir>/serving` (both signatures, batch normalization folded) and, with a
    calibration, `calibration.json`; without one, removes a `calibration.json` that would not
    match."""
    model = folding.fold_batch_norm(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(exported.SERVING_DEFAULT, serving_function(model, height, calibration))
    archive.add_endpoint(exported.LOGITS_SIGNATURE, logits_function(model, height))
    serving = os.path.join(model_dir, exported.SERVING)
    if tf.io.gfile.exists(serving):
        tf.io.gfile.rmtree(serving)
    archive.write_out(serving, verbose=False)
    path = os.path.join(model_dir, exported.CALIBRATION)
    if calibration is not None:
        calibration_lib.write(model_dir, calibration)
    elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)


def export_model(
    model: keras.Model,
    model_dir: str,
    *,
    stats: Mapping[str, Any],
    metadata: Mapping[str, Any],
    config: Mapping[str, Any],
    calibration: Calibration | None = None,
) -> None:
    """Writes the model directory (see the module docstring), with `calibration.json` when given
    a calibration."""
    tf.io.gfile.makedirs(model_dir)
    model.save(os.path.join(model_dir, exported.MODEL))
    write_serving(model, model_dir, height=int(metadata["height"]), calibration=calibration)
    write_json(os.path.join(model_dir, exported.STATS), dict(stats))
    write_json(
        os.path.join(model_dir, exported.CONFIG),
        {
            **config,
            "height": metadata["height"],
            "data": {
                k: metadata[k]
                for k in ("schema_version", "params", "seed", "source", "counts")
                if k in metadata
            },
        },
    )
