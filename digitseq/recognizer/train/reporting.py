"""What training shows while it runs: progress per step and TensorBoard summaries per epoch."""

from __future__ import annotations

import logging
import os
import sys

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)


class Progress:
    """A Keras progress bar on a terminal; otherwise debug log lines (about ten per epoch), as
    the epoch's own summary line says enough."""

    def __init__(self, steps: int, epoch: int, epochs: int, enabled: bool):
        self._steps, self._epoch, self._epochs = steps, epoch, epochs
        self._tty = enabled and sys.stdout.isatty()
        self._enabled = enabled
        self._bar = keras.utils.Progbar(steps, stateful_metrics=["loss"]) if self._tty else None
        self._every = max(1, steps // 10)

    def update(self, step: int, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(step, [("loss", loss)])
        elif self._enabled and (step % self._every == 0 or step == self._steps):
            logger.debug(
                "epoch %d/%d step %d/%d loss %.4f",
                self._epoch,
                self._epochs,
                step,
                self._steps,
                loss,
            )


def summary_writers(model_dir: str) -> dict:
    logs = os.path.join(model_dir, "logs")
    return {
        "train": tf.summary.create_file_writer(os.path.join(logs, "train")),
        "validation": tf.summary.create_file_writer(os.path.join(logs, "validation")),
    }


def write_summaries(writers, record, optimizer, samples, epoch: int) -> None:
    with writers["train"].as_default(step=epoch):
        tf.summary.scalar("loss", record["loss"])
        learning_rate = keras.ops.convert_to_numpy(optimizer.learning_rate)
        tf.summary.scalar("learning_rate", float(learning_rate))
        tf.summary.scalar("examples_per_second", record["examples_per_second"])
    if samples is None:
        return
    with writers["validation"].as_default(step=epoch):
        tf.summary.scalar("cer", record["val_cer"])
        tf.summary.scalar("ser", record["val_ser"])
        for i, (frames, reference, hypothesis) in enumerate(samples):
            image = frames.T[None, :, :, None]
            tf.summary.image(
                f"sequence_{i}", image, description=f"label {reference}, predicted {hypothesis}"
            )
            tf.summary.text(
                f"sequence_{i}",
                f"label `{reference}` predicted `{hypothesis}`"
                f"{'' if reference == hypothesis else ' (wrong)'}",
            )
    for writer in writers.values():
        writer.flush()
