"""Writing the exported model directory (layout and signature names: `schemas/exported.py`).

Standardization is inside the model, so both signatures take raw uint8 images; `serving_default`
decodes greedily, `logits` serves other decoders (beam search in batch prediction).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import keras
import tensorflow as tf

from recognizer import decoding
from schemas import batch, exported
from schemas.storage import write_json


def _signature(height: int) -> list[tf.TensorSpec]:
    return [tf.TensorSpec([None, height, None], tf.uint8, name=exported.IMAGES),
            tf.TensorSpec([None], tf.int32, name=exported.WIDTHS)]


def _call(model: keras.Model, images, widths) -> dict:
    return model({batch.FRAMES: tf.transpose(images, [0, 2, 1]), batch.WIDTH: widths},
                 training=False)


def serving_function(model: keras.Model, height: int):
    """Raw images and widths in, decoded digits out (what `serving_default` runs)."""

    @tf.function(input_signature=_signature(height))
    def serve(images, widths):
        out = _call(model, images, widths)
        digits, lengths, confidence = decoding.decode(out[batch.LOGITS], out[batch.LENGTHS])
        return {exported.DIGITS: digits, exported.LENGTHS: lengths,
                exported.CONFIDENCE: confidence}

    return serve


def logits_function(model: keras.Model, height: int):
    """Raw images and widths in, per-frame logits and their lengths out."""

    @tf.function(input_signature=_signature(height))
    def logits(images, widths):
        out = _call(model, images, widths)
        return {exported.LOGITS: out[batch.LOGITS], exported.LENGTHS: out[batch.LENGTHS]}

    return logits


def export_model(model: keras.Model, model_dir: str, *, stats: Mapping[str, Any],
                 metadata: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Writes the model directory (see the module docstring)."""
    tf.io.gfile.makedirs(model_dir)
    model.save(os.path.join(model_dir, exported.MODEL))
    archive = keras.export.ExportArchive()
    archive.track(model)
    height = int(metadata["height"])
    archive.add_endpoint(exported.SERVING_DEFAULT, serving_function(model, height))
    archive.add_endpoint(exported.LOGITS_SIGNATURE, logits_function(model, height))
    archive.write_out(os.path.join(model_dir, exported.SERVING), verbose=False)
    write_json(os.path.join(model_dir, exported.STATS), dict(stats))
    write_json(os.path.join(model_dir, exported.CONFIG), {
        **config, "height": metadata["height"],
        "data": {k: metadata[k] for k in ("schema_version", "params", "seed", "source", "counts")
                 if k in metadata}})
