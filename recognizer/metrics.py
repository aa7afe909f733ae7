"""Error rates for digit strings, shared by training, evaluation and the Beam scoring job.

Definitions (corpus level, "micro"):
  CER = sum of character edit distances / sum of reference lengths;
  WER = the same over whitespace-separated words (a digit string without spaces is one word, so
        there WER equals SER);
  SER = share of sequences with any error.
Also LER, the mean over sequences of the edit distance divided by the reference length (the
"label error rate" of CTCModel and most papers), so figures can be compared with those; an empty
reference counts 0 if the hypothesis is empty too, else 1. Counts merge exactly, so partial
counts from parallel workers combine into the same totals.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import editdistance


@dataclasses.dataclass
class Counts:
    sequences: int = 0
    characters: int = 0
    character_edits: int = 0
    words: int = 0
    word_edits: int = 0
    sequence_errors: int = 0
    normalized_edits: float = 0.0

    def merge(self, other: "Counts") -> "Counts":
        return Counts(*(getattr(self, name) + getattr(other, name) for name in _COUNT_FIELDS))

    def rates(self) -> dict:
        def ratio(a, b):
            return a / b if b else 0.0

        return {"sequences": self.sequences, "characters": self.characters,
                "cer": ratio(self.character_edits, self.characters),
                "wer": ratio(self.word_edits, self.words),
                "ser": ratio(self.sequence_errors, self.sequences),
                "ler": ratio(self.normalized_edits, self.sequences)}


_COUNT_FIELDS = tuple(field.name for field in dataclasses.fields(Counts))


@dataclasses.dataclass
class ErrorCounts:
    """Edit-distance counts overall and per reference length, plus digit confusions.

    Confusions count, for each reference/hypothesis pair of equal length, how often digit `r` was
    read as `h` (substitutions and hits alike), the usual digit confusion matrix.
    """

    total: Counts = dataclasses.field(default_factory=Counts)
    by_length: dict[int, Counts] = dataclasses.field(default_factory=dict)
    confusion: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)

    def add(self, reference: str, hypothesis: str) -> int:
        """Counts one pair of digit strings; returns its character edit distance."""
        edits = editdistance.eval(reference, hypothesis)
        ref_words, hyp_words = reference.split(), hypothesis.split()
        if reference:
            normalized = edits / len(reference)
        else:
            normalized = 0.0 if not hypothesis else 1.0
        one = Counts(sequences=1, characters=len(reference), character_edits=edits,
                     words=len(ref_words), word_edits=editdistance.eval(ref_words, hyp_words),
                     sequence_errors=int(reference != hypothesis), normalized_edits=normalized)
        self.total = self.total.merge(one)
        length = len(reference)
        self.by_length[length] = self.by_length.get(length, Counts()).merge(one)
        if len(reference) == len(hypothesis):
            for r, h in zip(reference, hypothesis):
                self.confusion[(r, h)] = self.confusion.get((r, h), 0) + 1
        return edits

    def merge(self, other: "ErrorCounts") -> "ErrorCounts":
        merged = ErrorCounts(total=self.total.merge(other.total), by_length=dict(self.by_length),
                             confusion=dict(self.confusion))
        for length, counts in other.by_length.items():
            merged.by_length[length] = merged.by_length.get(length, Counts()).merge(counts)
        for pair, n in other.confusion.items():
            merged.confusion[pair] = merged.confusion.get(pair, 0) + n
        return merged

    def summary(self) -> dict:
        """JSON-ready rates: overall, `by_length`, and the `confusion` matrix as nested dicts."""
        confusion: dict[str, dict[str, int]] = {}
        for (r, h), n in sorted(self.confusion.items()):
            confusion.setdefault(r, {})[h] = n
        return {**self.total.rates(),
                "by_length": {str(k): v.rates() for k, v in sorted(self.by_length.items())},
                "confusion": confusion}


def error_rates(pairs: Iterable[tuple[str, str]]) -> dict:
    """`ErrorCounts.summary()` of `(reference, hypothesis)` pairs."""
    counts = ErrorCounts()
    for reference, hypothesis in pairs:
        counts.add(reference, hypothesis)
    return counts.summary()


def merge_all(parts: Iterable[ErrorCounts]) -> ErrorCounts:
    merged = ErrorCounts()
    for part in parts:
        merged = merged.merge(part)
    return merged


def label_string(digits: Iterable[int]) -> str:
    return "".join(str(int(d)) for d in digits)
