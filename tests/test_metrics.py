"""CER, WER, SER and LER as defined in DESIGN.md, merged exactly."""

import pytest

from digitseq.recognizer.serving import metrics


def error_rates(pairs) -> dict:
    counts = metrics.ErrorCounts()
    for reference, hypothesis in pairs:
        counts.add(reference, hypothesis)
    return counts.summary()


def test_corpus_level_rates():
    pairs = [("12345", "12345"), ("123", "128"), ("4567", "457"), ("90", "9001")]
    summary = error_rates(pairs)
    assert summary["sequences"] == 4 and summary["characters"] == 14
    assert summary["cer"] == pytest.approx((0 + 1 + 1 + 2) / 14)
    assert summary["ser"] == pytest.approx(3 / 4)
    assert summary["wer"] == summary["ser"]  # digit strings without spaces: one word each
    assert summary["ler"] == pytest.approx((0 + 1 / 3 + 1 / 4 + 2 / 2) / 4)
    assert summary["by_length"]["3"] == {
        "sequences": 1,
        "characters": 3,
        "cer": 1 / 3,
        "wer": 1.0,
        "ser": 1.0,
        "ler": 1 / 3,
    }
    assert summary["confusion"]["3"] == {"3": 1, "8": 1} and summary["confusion"]["1"] == {"1": 2}


def test_words_are_whitespace_separated():
    summary = error_rates([("12 34 56", "12 34 57")])
    assert summary["wer"] == pytest.approx(1 / 3) and summary["cer"] == pytest.approx(1 / 8)


def test_empty_references_do_not_divide_by_zero():
    summary = error_rates([("", ""), ("", "7")])
    assert summary["characters"] == 0 and summary["cer"] == 0.0
    assert summary["ler"] == pytest.approx(0.5) and summary["ser"] == pytest.approx(0.5)


def test_merging_parts_equals_counting_everything():
    pairs = [("1", "1"), ("22", "2"), ("333", "334"), ("4444", "4444"), ("55", "")]
    parts = [metrics.ErrorCounts() for _ in range(3)]
    for i, (ref, hyp) in enumerate(pairs):
        parts[i % 3].add(ref, hyp)
    assert parts[0].merge(parts[1]).merge(parts[2]).summary() == error_rates(pairs)
