"""CTC for digit strings: the blank class, the loss, and whether a label can be aligned at all.

One blank index for everything: `BLANK = 10`, the last of the 11 output classes, which is what
`tf.nn.ctc_loss` (given `blank_index`), `tf.nn.ctc_greedy_decoder` and
`tf.nn.ctc_beam_search_decoder` use. (`keras.ops.ctc_loss`/`ctc_decode` default to 0 instead;
nothing here uses those defaults.)

The loss takes sparse labels, which runs TensorFlow's `CTCLoss` C++ kernel (TensorFlow calls it
with cuDNN off: `_ctc_loss_impl(..., use_cudnn=False)`) instead of the dense path's graph of
ops, and per-example logit lengths computed from each sequence's `width`, so padded frames
never count. The dense path returns a large finite loss for a label that cannot be aligned;
`infeasible` finds those up front instead.

The kernel takes the softmax in linear float32, so a class whose logit is about 88 or more below
its frame's largest gets probability exactly 0, and a label left with no path of nonzero
probability gets an infinite loss (bench/README.md: a freshly initialized deep model did this at
step 12). The loss therefore sees each logit raised to at most `LOGIT_RANGE` below its frame's
largest, while the gradient passes to the logits unchanged. Within that range, which is where
training spends nearly all its time, the loss and its gradient are exactly the kernel's.
"""

from __future__ import annotations

import tensorflow as tf

from digitseq.schemas import record

BLANK = record.NUM_CLASSES
NUM_OUTPUTS = record.NUM_CLASSES + 1
LOGIT_RANGE = 80.0
"""How far below its frame's largest logit the loss sees a logit (below exp(-88) the kernel's
float32 softmax gives 0)."""


def sparse_labels(labels, label_length) -> tf.SparseTensor:
    """Padded labels `[B, L]` (any padding value) -> the `SparseTensor` CTC wants."""
    labels = tf.cast(labels, tf.int32)
    mask = tf.sequence_mask(label_length, tf.shape(labels)[1])
    indices = tf.where(mask)
    return tf.SparseTensor(
        indices, tf.gather_nd(labels, indices), tf.cast(tf.shape(labels), tf.int64)
    )


def loss_per_example(labels, label_length, logits, logit_length):
    """CTC negative log-likelihood per sequence, `[B]`.

    Args:
      labels: int `[B, L]`, padded beyond `label_length`.
      label_length: int `[B]`.
      logits: float `[B, T, NUM_OUTPUTS]` (batch-major, unnormalized).
      logit_length: int `[B]`, the real frames of each sequence.
    """
    floor = tf.stop_gradient(tf.reduce_max(logits, axis=-1, keepdims=True) - LOGIT_RANGE)
    logits = logits + tf.stop_gradient(tf.maximum(logits, floor) - logits)
    return tf.nn.ctc_loss(
        labels=sparse_labels(labels, label_length),
        logits=logits,
        label_length=None,
        logit_length=tf.cast(logit_length, tf.int32),
        logits_time_major=False,
        blank_index=BLANK,
    )


def required_frames(labels, label_length):
    """The fewest frames CTC needs for each label: its length plus one blank per adjacent repeat."""
    labels = tf.cast(labels, tf.int32)
    valid = tf.sequence_mask(label_length, tf.shape(labels)[1])
    repeats = valid[:, 1:] & tf.equal(labels[:, 1:], labels[:, :-1])
    return tf.cast(label_length, tf.int32) + tf.reduce_sum(tf.cast(repeats, tf.int32), axis=1)


def infeasible(labels, label_length, logit_length):
    """Boolean `[B]`: labels that cannot be aligned to their sequence's output frames."""
    return required_frames(labels, label_length) > tf.cast(logit_length, tf.int32)
