"""Turning per-frame logits into digit strings: greedy (best path) or beam search.

Both return `(digits int32 [B, L] padded with -1, lengths int32 [B], confidence float32 [B])`.
Confidence is the probability of the decoded path: for greedy, the product over real frames of
each frame's highest class probability; for beam search, the probability of the best beam (the
sum over its alignments that the beam kept). Both run as TensorFlow ops, so they serve inside the
exported SavedModel as well as in Python. Beam search costs far more than greedy decoding (see
bench/README.md): keep the width small.

Decoding that knows the format (`constrained_beam_search`, `decode_constrained`) is a CTC prefix
beam search in numpy over log probabilities, restricted by an automaton of the allowed strings
(`recognizer.serving.patterns`: a length such as `[0-9]{5}` or a pattern such as `0[0-9]{9}`): a prefix
is extended by a digit only where the automaton has a live transition, and the answer is the most
probable kept prefix the automaton accepts, or None when none survived the beam.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import tensorflow as tf

from digitseq.recognizer.config import BEAM, DECODERS, GREEDY  # noqa: F401  (decoding.GREEDY, ...)
from digitseq.recognizer.model import ctc
from digitseq.recognizer.serving import patterns

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
        decoded, neg_sum = tf.nn.ctc_greedy_decoder(
            time_major, lengths, merge_repeated=True, blank_index=ctc.BLANK
        )
        score = -neg_sum[:, 0]
    else:
        decoded, log_prob = tf.nn.ctc_beam_search_decoder(
            time_major, lengths, beam_width=beam_width, top_paths=1
        )
        score = log_prob[:, 0]
    batch = tf.shape(logits)[0]
    best = decoded[0]
    dense = tf.sparse.to_dense(
        tf.SparseTensor(
            best.indices,
            tf.cast(best.values, tf.int32),
            tf.stack([tf.cast(batch, tf.int64), tf.maximum(best.dense_shape[1], 1)]),
        ),
        default_value=PAD,
    )
    lengths_out = tf.reduce_sum(tf.cast(dense != PAD, tf.int32), axis=1)
    return dense, lengths_out, tf.exp(score)


def to_strings(digits, lengths) -> list[str]:
    """Decoded digits (numpy or tensors) -> Python strings such as `"4071"`."""
    digits, lengths = _numpy(digits), _numpy(lengths)
    return ["".join(str(d) for d in row[:n]) for row, n in zip(digits.tolist(), lengths.tolist())]


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else value


PRUNE_LOG_PROB = -20.0
"""Constrained search skips a digit at a frame where its log probability is below this (e^-20 ~
2e-9): such an extension cannot change which string wins except in near-ties."""


def constrained_beam_search(
    log_probs: np.ndarray,
    automaton: patterns.Automaton,
    *,
    beam_width: int = 8,
    prune_log_prob: float = PRUNE_LOG_PROB,
) -> tuple[str | None, float]:
    """CTC prefix beam search over one sequence's real frames, restricted to `automaton`.

    Args:
      log_probs: `[T, NUM_OUTPUTS]` log probabilities (log-softmax) of the real frames.
      automaton: the allowed strings (`recognizer.serving.patterns.compile_pattern`).
      beam_width: prefixes kept after each frame; a prefix is kept only while the automaton can
        still complete it.
      prune_log_prob: digits below this log probability at a frame are not tried there.

    Returns:
      `(digits, log probability)` of the most probable kept prefix the automaton accepts (the
      probability summed over the alignments the beam kept), or `(None, -inf)` when no accepted
      string survived the beam.
    """
    blank = ctc.BLANK
    transitions = automaton.transitions.tolist()
    accepting = automaton.accepting.tolist()
    beams: dict[str, list] = {"": [0.0, _NEG_INF, 0]}
    for frame in np.asarray(log_probs, np.float64).tolist():
        allowed = [d for d in range(blank) if frame[d] >= prune_log_prob]
        grown: dict[str, list] = {}
        for prefix, (p_blank, p_digit, state) in beams.items():
            total = _logaddexp(p_blank, p_digit)
            entry = grown.get(prefix)
            if entry is None:
                entry = grown[prefix] = [_NEG_INF, _NEG_INF, state]
            entry[0] = _logaddexp(entry[0], total + frame[blank])
            last = int(prefix[-1]) if prefix else -1
            if last >= 0:
                entry[1] = _logaddexp(entry[1], p_digit + frame[last])
            row = transitions[state]
            for digit in allowed:
                target = row[digit]
                if target < 0:
                    continue
                extended = prefix + _DIGIT_TEXT[digit]
                entry = grown.get(extended)
                if entry is None:
                    entry = grown[extended] = [_NEG_INF, _NEG_INF, target]
                entry[1] = _logaddexp(
                    entry[1], (p_blank if digit == last else total) + frame[digit]
                )
        if len(grown) > beam_width:
            beams = dict(
                heapq.nlargest(
                    beam_width, grown.items(), key=lambda item: _logaddexp(item[1][0], item[1][1])
                )
            )
        else:
            beams = grown
    best, score = None, _NEG_INF
    for prefix, (p_blank, p_digit, state) in beams.items():
        total = _logaddexp(p_blank, p_digit)
        if accepting[state] and total > score:
            best, score = prefix, total
    return best, float(score)


_NEG_INF = -math.inf
_DIGIT_TEXT = tuple(str(d) for d in range(10))


def _logaddexp(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) on Python floats (numpy's ufunc costs more per scalar call)."""
    if a < b:
        a, b = b, a
    if b == _NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def decode_constrained(
    logits, lengths, automaton: patterns.Automaton, *, beam_width: int = 8
) -> list[tuple[str | None, float]]:
    """`constrained_beam_search` for each sequence of `logits [B, T, NUM_OUTPUTS]` (numpy or
    tensors; log-softmax is applied here) with `lengths [B]` real frames: `(digits or None,
    probability)` per sequence."""
    logits = np.asarray(_numpy(logits), np.float64)
    log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    found = []
    for frames, length in zip(log_probs, np.asarray(_numpy(lengths)).tolist()):
        digits, score = constrained_beam_search(frames[:length], automaton, beam_width=beam_width)
        found.append((digits, float(np.exp(score))))
    return found
