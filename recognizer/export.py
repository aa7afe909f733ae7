"""Writing the model directory:

    <model>/model.keras   Keras 3 native file (loads with safe_mode=True)
    <model>/serving/      SavedModel; `serving_default(images uint8 [B, height, W], widths int32
                          [B])` -> {"digits" int32 [B, L] padded -1, "lengths" int32 [B],
                          "confidence" float32 [B]}, greedy CTC decoding, standardization inside;
                          `logits(images, widths)` -> {"logits" float32 [B, T', 11], "lengths"
                          int32 [B]} for other decoders (beam search in batch prediction)
    <model>/stats.json    the statistics it was trained with
    <model>/config.json   architecture, training parameters and results, the data's metadata
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import keras
import tensorflow as tf

from recognizer import decoding

MODEL = "model.keras"
SERVING = "serving"
SERVING_DEFAULT = "serving_default"
LOGITS = "logits"
STATS = "stats.json"
CONFIG = "config.json"


def write_json(path: str, value: Any) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value, indent=2) + "\n")


def _signature(height: int) -> list[tf.TensorSpec]:
    return [tf.TensorSpec([None, height, None], tf.uint8, name="images"),
            tf.TensorSpec([None], tf.int32, name="widths")]


def serving_function(model: keras.Model, height: int):
    """Raw images and widths in, decoded digits out (what `serving_default` runs)."""

    @tf.function(input_signature=_signature(height))
    def serve(images, widths):
        out = model({"frames": tf.transpose(images, [0, 2, 1]), "width": widths},
                    training=False)
        digits, lengths, confidence = decoding.decode(out["logits"], out["lengths"])
        return {"digits": digits, "lengths": lengths, "confidence": confidence}

    return serve


def logits_function(model: keras.Model, height: int):
    """Raw images and widths in, per-frame logits and their lengths out."""

    @tf.function(input_signature=_signature(height))
    def logits(images, widths):
        out = model({"frames": tf.transpose(images, [0, 2, 1]), "width": widths},
                    training=False)
        return {"logits": out["logits"], "lengths": out["lengths"]}

    return logits


def export_model(model: keras.Model, model_dir: str, *, stats: Mapping[str, Any],
                 metadata: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Writes the model directory (see the module docstring)."""
    tf.io.gfile.makedirs(model_dir)
    model.save(os.path.join(model_dir, MODEL))
    archive = keras.export.ExportArchive()
    archive.track(model)
    height = int(metadata["height"])
    archive.add_endpoint(SERVING_DEFAULT, serving_function(model, height))
    archive.add_endpoint(LOGITS, logits_function(model, height))
    archive.write_out(os.path.join(model_dir, SERVING), verbose=False)
    write_json(os.path.join(model_dir, STATS), dict(stats))
    write_json(os.path.join(model_dir, CONFIG), {
        **config, "height": metadata["height"],
        "data": {k: metadata[k] for k in ("schema_version", "params", "seed", "source", "counts")
                 if k in metadata}})
