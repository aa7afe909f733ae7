"""Decoding that knows the format: the pattern automaton against `re.fullmatch`, and constrained
CTC beam search against a brute-force search over every allowed string."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from digitseq.recognizer.model import ctc
from digitseq.recognizer.serving import decoding, patterns

PATTERNS = [
    "[0-9]{5}",
    "0[0-9]{9}",
    "[0-9]{1,6}",
    "(12|3)*4?",
    "[^0]\\d+",
    ".{2,}",
    "(?:1|2){0,2}[3-5]",
    "1*?2+",
    "[2-47]{2}|9(0|1)?",
    "((0|1)2)+|[5-9]{3,4}",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_automaton_accepts_what_re_fullmatch_accepts(pattern):
    rng = np.random.default_rng(abs(hash(pattern)) % 2**32)
    automaton = patterns.compile_pattern(pattern)
    alphabet = np.array(list("0123459"))
    for _ in range(3000):
        text = "".join(rng.choice(alphabet, rng.integers(0, 12)))
        assert automaton.fullmatch(text) == bool(re.fullmatch(pattern, text)), text
    for digits in range(1, 4):
        for chars in itertools.product("0123456789", repeat=digits):
            text = "".join(chars)
            assert automaton.fullmatch(text) == bool(re.fullmatch(pattern, text)), text


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("(", "not a valid regular expression"),
        ("[0-9]{2", "'{' at position 5"),
        ("[a-z]{3}", "can match a non-digit"),
        ("12a", "can match a non-digit"),
        ("\\w+", "can match a non-digit"),
        ("[0-9]{0}", "matches no digit string"),
        ("^[0-9]{3}$", "anchor"),
        ("(?=1)1", "group extension"),
        ("(([0-9]{1,30}){1,30}){1,30}", "too large: its NFA needs more than 5000 states"),
        ("[0-9]{1,100000}", "too large: its NFA needs more than 5000 states"),
        ("[0-9]*1[0-9]{12}", "too large: its DFA needs more than 5000 states"),  # 2^13 subsets
        ("1" * 1001, "1001 characters long; expected at most 1000"),
    ],
)
def test_patterns_outside_the_subset_are_refused(pattern, message):
    with pytest.raises(patterns.PatternError, match=re.escape(message)):
        patterns.compile_pattern(pattern)


def test_intersection_is_both_languages():
    both = patterns.intersect(
        patterns.compile_pattern("[0-9]{2,4}"), patterns.compile_pattern("1.*")
    )
    for text in ["1", "12", "123", "1234", "12345", "21", "2"]:
        assert both.fullmatch(text) == (2 <= len(text) <= 4 and text.startswith("1")), text


def string_log_prob(log_probs: np.ndarray, digits: str) -> float:
    """log P(digits | frames) by the CTC forward algorithm (all alignments)."""
    extended = [ctc.BLANK]
    for d in digits:
        extended += [int(d), ctc.BLANK]
    alpha = np.full(len(extended), -np.inf)
    alpha[0] = log_probs[0, extended[0]]
    if len(extended) > 1:
        alpha[1] = log_probs[0, extended[1]]
    for t in range(1, len(log_probs)):
        new = np.full_like(alpha, -np.inf)
        for s, label in enumerate(extended):
            terms = [alpha[s]]
            if s >= 1:
                terms.append(alpha[s - 1])
            if s >= 2 and label != ctc.BLANK and label != extended[s - 2]:
                terms.append(alpha[s - 2])
            new[s] = np.logaddexp.reduce(terms) + log_probs[t, label]
        alpha = new
    return float(np.logaddexp(alpha[-1], alpha[-2]) if len(extended) > 1 else alpha[-1])


def _random_log_probs(rng, frames: int, sharpness: float) -> np.ndarray:
    logits = rng.normal(size=(frames, ctc.NUM_OUTPUTS)) * sharpness
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


@pytest.mark.parametrize(
    "pattern, lengths",
    [("[0-9]{2}", [2]), ("[0-9]{1,3}", [1, 2, 3]), ("0[0-9]{2}", [3]), ("[13579]{2,3}", [2, 3])],
)
def test_constrained_search_finds_the_most_probable_allowed_string(pattern, lengths):
    automaton = patterns.compile_pattern(pattern)
    allowed = [
        s
        for n in lengths
        for s in map("".join, itertools.product("0123456789", repeat=n))
        if re.fullmatch(pattern, s)
    ]
    rng = np.random.default_rng(len(pattern))
    for trial in range(6):
        log_probs = _random_log_probs(rng, frames=5 + trial % 2, sharpness=2.0)
        exact = {s: string_log_prob(log_probs, s) for s in allowed}
        truth = max(exact, key=exact.get)
        found, score = decoding.constrained_beam_search(log_probs, automaton, beam_width=2000)
        assert found == truth
        np.testing.assert_allclose(score, exact[truth], rtol=1e-9)


def test_a_narrow_beam_returns_only_allowed_strings_or_none():
    automaton = patterns.compile_pattern("[0-9]{4}")
    rng = np.random.default_rng(3)
    for _ in range(20):
        found, score = decoding.constrained_beam_search(
            _random_log_probs(rng, frames=6, sharpness=3.0), automaton, beam_width=2
        )
        assert found is None and score == -np.inf or len(found) == 4
    impossible = patterns.compile_pattern("[0-9]{5}")
    found, score = decoding.constrained_beam_search(
        _random_log_probs(rng, frames=4, sharpness=1.0), impossible, beam_width=50
    )
    assert found is None and score == -np.inf


def test_unconstrained_pattern_agrees_with_tensorflow_beam_search():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(4, 7, ctc.NUM_OUTPUTS)).astype(np.float32) * 3
    lengths = np.array([7, 6, 5, 7])
    ours = decoding.decode_constrained(
        logits, lengths, patterns.compile_pattern("[0-9]*"), beam_width=64
    )
    digits, out_lengths, confidence = decoding.decode(
        logits, lengths, method=decoding.BEAM, beam_width=64
    )
    assert [s for s, _ in ours] == decoding.to_strings(digits, out_lengths)
    np.testing.assert_allclose([p for _, p in ours], confidence.numpy(), rtol=1e-3)


def _plain_prefix_beam_search(log_probs, automaton, beam_width):
    """The textbook constrained prefix beam search: every beam extended by every digit its
    automaton state allows, then the `beam_width` most probable kept."""
    beams = {"": (0.0, -np.inf, 0)}
    for frame in log_probs:
        grown = {}

        def add(prefix, state, blank=-np.inf, digit=-np.inf):
            old = grown.get(prefix, (-np.inf, -np.inf, state))
            grown[prefix] = (np.logaddexp(old[0], blank), np.logaddexp(old[1], digit), state)

        for prefix, (p_blank, p_digit, state) in beams.items():
            last = int(prefix[-1]) if prefix else -1
            add(
                prefix,
                state,
                blank=np.logaddexp(p_blank, p_digit) + frame[ctc.BLANK],
                digit=p_digit + frame[last] if last >= 0 else -np.inf,
            )
            for d in range(ctc.BLANK):
                target = automaton.transitions[state, d]
                if target >= 0:
                    base = p_blank if d == last else np.logaddexp(p_blank, p_digit)
                    add(prefix + str(d), int(target), digit=base + frame[d])
        beams = dict(
            sorted(grown.items(), key=lambda item: -np.logaddexp(*item[1][:2]))[:beam_width]
        )
    accepted = {p: np.logaddexp(b, d) for p, (b, d, s) in beams.items() if automaton.accepting[s]}
    best = max(accepted, key=accepted.get, default=None)
    return best, accepted.get(best, -np.inf)


@pytest.mark.parametrize("beam_width", [1, 2, 3, 8])
def test_skipping_extensions_that_cannot_be_kept_changes_no_answer(beam_width):
    """Narrow beams over peaked frames (as a trained model gives) and flat ones: the search that
    skips hopeless extensions finds what the textbook search finds."""
    rng = np.random.default_rng(beam_width)
    for trial in range(40):
        pattern = ["[0-9]{3}", "[0-9]{2,5}", "1[0-9]*", "(12|3)*4?"][trial % 4]
        automaton = patterns.compile_pattern(pattern)
        log_probs = _random_log_probs(
            rng, frames=int(rng.integers(4, 12)), sharpness=float(rng.choice([1.0, 4.0, 8.0]))
        )
        found, score = decoding.constrained_beam_search(
            log_probs, automaton, beam_width=beam_width, prune_log_prob=-np.inf
        )
        expected, expected_score = _plain_prefix_beam_search(log_probs, automaton, beam_width)
        assert found == expected, (trial, pattern)
        np.testing.assert_allclose(score, expected_score, rtol=1e-9)
