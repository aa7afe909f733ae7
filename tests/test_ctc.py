"""CTC loss, feasibility and decoding on hand-made inputs with known answers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from digitseq.recognizer.model import ctc, layers
from digitseq.recognizer.serving import decoding


def _logits(frames):
    """Per-frame probabilities -> logits (log probabilities), batch of one."""
    return tf.math.log(tf.constant([frames], tf.float32))


def _one_hot_path(path, sharp=0.9):
    """Frames that each strongly prefer one class of `path` (BLANK for blanks)."""
    frames = []
    for cls in path:
        p = np.full(ctc.NUM_OUTPUTS, (1 - sharp) / (ctc.NUM_OUTPUTS - 1))
        p[cls] = sharp
        frames.append(p)
    return frames


def test_greedy_collapses_repeats_and_drops_blanks():
    b = ctc.BLANK
    path = [3, 3, b, 3, 0, 0, b, b, 7]
    digits, lengths, confidence = decoding.decode(_logits(_one_hot_path(path)), [len(path)])
    assert decoding.to_strings(digits, lengths) == ["3307"]
    assert digits.shape[1] == 4 and lengths.numpy().tolist() == [4]
    np.testing.assert_allclose(confidence.numpy(), [0.9 ** len(path)], rtol=1e-5)


def test_frames_beyond_the_length_are_ignored():
    b = ctc.BLANK
    frames = _one_hot_path([5, b, 1, 9, 9])
    digits, lengths, _ = decoding.decode(_logits(frames), [3])
    assert decoding.to_strings(digits, lengths) == ["51"]


def test_batch_pads_with_minus_one():
    b = ctc.BLANK
    batch = tf.concat(
        [_logits(_one_hot_path([1, b, 2, b])), _logits(_one_hot_path([4, b, b, b]))], axis=0
    )
    digits, lengths, _ = decoding.decode(batch, [4, 4])
    assert digits.numpy().tolist() == [[1, 2], [4, -1]]
    assert lengths.numpy().tolist() == [2, 1]


def test_beam_search_finds_the_likelier_label_greedy_misses():
    # Two frames, P(digit 2) = 0.4 and P(blank) = 0.6 each: the best path is blank-blank (0.36),
    # but the label "2" sums 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64 over its alignments.
    p = np.full(ctc.NUM_OUTPUTS, 1e-6)
    p[2], p[ctc.BLANK] = 0.4, 0.6
    logits = _logits([p / p.sum(), p / p.sum()])
    greedy = decoding.decode(logits, [2])
    beam = decoding.decode(logits, [2], method=decoding.BEAM, beam_width=4)
    assert decoding.to_strings(*greedy[:2]) == [""]
    np.testing.assert_allclose(greedy[2].numpy(), [0.36], rtol=1e-3)
    assert decoding.to_strings(*beam[:2]) == ["2"]
    np.testing.assert_allclose(beam[2].numpy(), [0.64], rtol=1e-3)


def test_decoder_arguments_are_checked():
    with pytest.raises(ValueError, match="decoder 'viterbi'"):
        decoding.decode(_logits(_one_hot_path([1])), [1], method="viterbi")
    with pytest.raises(ValueError, match="beam_width 0"):
        decoding.decode(_logits(_one_hot_path([1])), [1], method=decoding.BEAM, beam_width=0)


def test_loss_matches_keras_with_the_same_blank_and_ignores_padding():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 12, ctc.NUM_OUTPUTS)).astype(np.float32)
    labels = np.array([[1, 2, 2], [0, 9, -1], [5, -1, -1]], np.int32)
    label_length = np.array([3, 2, 1], np.int32)
    logit_length = np.array([12, 9, 6], np.int32)
    ours = ctc.loss_per_example(labels, label_length, logits, logit_length).numpy()
    padded = np.concatenate([logits, rng.normal(size=(3, 5, ctc.NUM_OUTPUTS))], 1).astype(
        np.float32
    )
    assert np.allclose(
        ours, ctc.loss_per_example(labels, label_length, padded, logit_length).numpy(), rtol=1e-5
    )
    for i in range(3):
        n, t = label_length[i], logit_length[i]
        reference = keras.ops.ctc_loss(
            labels[i : i + 1, :n],
            logits[i : i + 1, :t],
            np.array([n]),
            np.array([t]),
            mask_index=ctc.BLANK,
        )
        np.testing.assert_allclose(ours[i], np.asarray(reference)[0], rtol=1e-4)


def test_a_label_far_below_every_frame_s_best_gets_a_finite_loss_that_raises_it():
    logits = np.zeros((2, 3, ctc.NUM_OUTPUTS), np.float32)
    logits[:, :, ctc.BLANK] = [[50.0], [200.0]]  # digit 2 is 50 and 200 below the blank
    logits = tf.constant(logits)
    labels, lengths = np.array([[2], [2]], np.int32), np.array([1, 1], np.int32)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = ctc.loss_per_example(labels, lengths, logits, np.array([3, 3], np.int32))
    kernel = tf.nn.ctc_loss(
        labels=ctc.sparse_labels(labels, lengths),
        logits=logits,
        label_length=None,
        logit_length=tf.constant([3, 3]),
        logits_time_major=False,
        blank_index=ctc.BLANK,
    )
    assert float(loss[0]) == float(kernel[0])  # within the range: exactly the kernel's loss
    assert not np.isfinite(kernel[1].numpy())  # the kernel's own underflow
    assert np.isfinite(loss[1].numpy()) and float(loss[1]) > ctc.LOGIT_RANGE - 2
    gradient = tape.gradient(loss, logits).numpy()
    assert np.all(np.isfinite(gradient)) and gradient[1, :, 2].sum() < 0  # raises digit 2


def test_feasibility_counts_repeats():
    labels = tf.constant([[1, 1, 1], [1, 2, 3], [4, 4, -1]])
    lengths = tf.constant([3, 3, 2])
    assert ctc.required_frames(labels, lengths).numpy().tolist() == [5, 3, 3]
    assert ctc.infeasible(labels, lengths, tf.constant([4, 3, 3])).numpy().tolist() == [
        True,
        False,
        False,
    ]
    assert layers.output_lengths(tf.constant([56, 57, 140]), 4).numpy().tolist() == [14, 15, 35]
