"""Distillation: the model also learns a trained teacher's per-frame class probabilities.

    loss per string = (1 - w) * CTC(label, model) + w * sum over its real frames of
                      KL(teacher's class probabilities || the model's)

(`w`: `TrainConfig.distill_weight`). The teacher's probabilities say, frame by frame, how likely
each digit and the blank are, which the label alone does not; a small model trained on them can
come closer to a larger teacher than on labels alone.

Assumptions: the teacher (an exported model directory: `model.keras`, `config.json`) emits one
frame where the model does, so both downsample the same (checked before training); it holds its
own standardization, so both take the same raw frames, augmented alike. The teacher does not
train: it runs in inference mode (no noise or dropout, batch normalization with its moving
statistics).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from digitseq.core.errors import ConfigError
from digitseq.recognizer.model.layers import (
    frame_mask,  # importing recognizer.model.layers registers its layers
)
from digitseq.recognizer.serving import exported_model


def load_teacher(
    directory: str, *, downsample: int, height: int, data_dir: str
) -> exported_model.ExportedModel:
    """The teacher's exported model directory, checked against the run.

    Raises:
      ConfigError: naming `teacher`: not an exported model, another input height than the
        data's, or another downsampling than the model's.
    """
    teacher = exported_model.open_model(directory, field="teacher", keras=True)
    teacher.check_height(height, data=data_dir)
    if teacher.model.downsample != downsample:
        raise ConfigError(
            "teacher",
            directory,
            f"emits a frame every {teacher.model.downsample} "
            f"columns, the model every {downsample}; expected the same "
            f"downsampling (2^width_pools, width_pools being conv_blocks unless "
            f"given)",
            others=["width_pools", "conv_blocks"],
        )
    return teacher


def build_teacher(teacher: exported_model.ExportedModel) -> keras.Model:
    """The teacher's Keras model, frozen (build it in the strategy's scope)."""
    model = teacher.load_keras(compile=False)
    model.trainable = False
    return model


def loss_per_example(teacher_logits, logits, lengths):
    """`[B]`: per string, the KL divergence of the model's class probabilities from the
    teacher's, summed over its real frames (`lengths`); the frames beyond do not count."""
    target = tf.nn.log_softmax(tf.stop_gradient(teacher_logits), axis=-1)
    divergence = tf.reduce_sum(
        tf.exp(target) * (target - tf.nn.log_softmax(logits, axis=-1)), axis=-1
    )
    real = tf.cast(frame_mask(lengths, tf.shape(logits)[1]), divergence.dtype)
    return tf.reduce_sum(divergence * real, axis=-1)
