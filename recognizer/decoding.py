"""Turning per-frame logits into digit strings: greedy (best path) or beam search.

Both return `(digits int32 [B, L] padded with -1, lengths int32 [B], confidence float32 [B])`.
Confidence is the probability of the decoded path: for greedy, the product over real frames of
each frame's highest class probability; for beam search, the probability of the best beam (the
sum over its alignments that the beam kept). Both run as TensorFlow ops, so they serve inside the
exported SavedModel as well as in Python. Beam search costs far more than greedy decoding (see
bench/README.md): keep the width small.
"""

from __future__ import annotations

import tensorflow as tf

from recognizer import ctc

GREEDY = "greedy"
BEAM = "beam"
DECODERS = (GREEDY, BEAM)
PAD = -1


def decode(logits, lengths, *, method: str = GREEDY, beam_width: int = 8):
    """Decodes `logits [B, T, NUM_OUTPUTS]` with `lengths [B]` real frames each."""
    if method not in DECODERS:
        raise ValueError(f"decoder '{method}': expected {GREEDY} or {BEAM}")
    if method == BEAM and beam_width < 1:
        raise ValueError(f"beam_width {beam_width}: expected at least 1")
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    time_major = tf.transpose(log_probs, [1, 0, 2])
    lengths = tf.cast(lengths, tf.int32)
    if method == GREEDY:
        decoded, neg_sum = tf.nn.ctc_greedy_decoder(time_major, lengths, merge_repeated=True,
                                                    blank_index=ctc.BLANK)
        score = -neg_sum[:, 0]
    else:
        decoded, log_prob = tf.nn.ctc_beam_search_decoder(time_major, lengths,
                                                          beam_width=beam_width, top_paths=1)
        score = log_prob[:, 0]
    batch = tf.shape(logits)[0]
    best = decoded[0]
    dense = tf.sparse.to_dense(
        tf.SparseTensor(best.indices, tf.cast(best.values, tf.int32),
                        tf.stack([tf.cast(batch, tf.int64), tf.maximum(best.dense_shape[1], 1)])),
        default_value=PAD)
    lengths_out = tf.reduce_sum(tf.cast(dense != PAD, tf.int32), axis=1)
    return dense, lengths_out, tf.exp(score)


def to_strings(digits, lengths) -> list[str]:
    """Decoded digits (numpy or tensors) -> Python strings such as `"4071"`."""
    digits, lengths = _numpy(digits), _numpy(lengths)
    return ["".join(str(d) for d in row[:n]) for row, n in zip(digits.tolist(), lengths.tolist())]


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else value
