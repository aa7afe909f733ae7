"""Checks before training: the model directory holds this run or nothing, and CTC can align
every training label with the frames the model will emit for it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from digitseq.core.errors import ConfigError, InvalidInputError
from digitseq.recognizer.config import ReaderConfig
from digitseq.recognizer.data import reader as data
from digitseq.recognizer.model import ctc
from digitseq.recognizer.model.layers import output_lengths
from digitseq.schemas import batch, exported


def check_model_dir(model_dir: str, run: Mapping[str, Any]) -> None:
    """Refuses a model directory that holds a different run (the same run resumes)."""
    path = os.path.join(model_dir, exported.CONFIG)
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            previous = json.load(f).get("run") or {}
        if previous != run:
            changed = sorted(k for k in run if previous.get(k) != run[k])
            raise ConfigError(
                "model_dir",
                model_dir,
                f"holds another run (differs in {', '.join(changed) or 'everything'})"
                f"; use a new directory",
            )
    elif tf.io.gfile.exists(model_dir) and tf.io.gfile.listdir(model_dir):
        raise ConfigError(
            "model_dir",
            model_dir,
            f"not empty and no {exported.CONFIG}, so not a digitseq run; use a new directory",
        )


def check_feasible(
    data_dir: str,
    split: str,
    downsample: int,
    *,
    batch_size: int = 1024,
    config: ReaderConfig = ReaderConfig(),
) -> int:
    """Fails if any label needs more CTC frames than the model emits for its width. Reading the
    split with the run's reader options (`config`) also verifies its records, once.

    Returns the number of sequences checked.
    """
    ds = data.make_dataset(data_dir, split, batch_size, with_ids=True, config=config)

    @tf.function(input_signature=ds.element_spec)
    def bad(features, labels):
        mask = ctc.infeasible(
            labels[batch.LABEL],
            labels[batch.LABEL_LENGTH],
            output_lengths(features[batch.WIDTH], downsample),
        )
        return tf.boolean_mask(features[batch.ID], mask)

    offenders, checked = [], 0
    for features, labels in ds:
        offenders += [i.decode() for i in bad(features, labels).numpy()]
        checked += int(features[batch.WIDTH].shape[0])
    if offenders:
        raise InvalidInputError(
            f"{data_dir} split '{split}': {len(offenders)} of {checked} labels cannot be aligned "
            f"by CTC (they need more frames than the model emits for their width at downsample "
            f"{downsample}: digits plus one blank per repeated pair); ids "
            f"{', '.join(offenders[:10])}{' ...' if len(offenders) > 10 else ''}"
        )
    return checked
