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

import collections
import dataclasses
from collections.abc import Iterable

import editdistance


@dataclasses.dataclass
class EditTotals:
    """Sums over a set of (reference, hypothesis) pairs, from which every rate follows."""

    sequences: int = 0
    characters: int = 0
    character_edits: int = 0
    words: int = 0
    word_edits: int = 0
    sequence_errors: int = 0
    normalized_edits: float = 0.0

    def merge(self, other: EditTotals) -> EditTotals:
        return EditTotals(
            *(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self))
        )

    def rates(self) -> dict:
        def ratio(a, b):
            return a / b if b else 0.0

        return {
            "sequences": self.sequences,
            "characters": self.characters,
            "cer": ratio(self.character_edits, self.characters),
            "wer": ratio(self.word_edits, self.words),
            "ser": ratio(self.sequence_errors, self.sequences),
            "ler": ratio(self.normalized_edits, self.sequences),
        }


@dataclasses.dataclass
class ErrorCounts:
    """Edit-distance totals overall and per reference length, plus digit confusions.

    Confusions count, for each reference/hypothesis pair of equal length, how often digit `r` was
    read as `h` (substitutions and hits alike), the usual digit confusion matrix.
    """

    total: EditTotals = dataclasses.field(default_factory=EditTotals)
    by_length: dict[int, EditTotals] = dataclasses.field(default_factory=dict)
    confusion: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add(self, reference: str, hypothesis: str) -> int:
        """Counts one pair of digit strings; returns its character edit distance."""
        edits = editdistance.eval(reference, hypothesis)
        ref_words, hyp_words = reference.split(), hypothesis.split()
        if reference:
            normalized = edits / len(reference)
        else:
            normalized = 0.0 if not hypothesis else 1.0
        one = EditTotals(
            sequences=1,
            characters=len(reference),
            character_edits=edits,
            words=len(ref_words),
            word_edits=editdistance.eval(ref_words, hyp_words),
            sequence_errors=int(reference != hypothesis),
            normalized_edits=normalized,
        )
        self.total = self.total.merge(one)
        length = len(reference)
        self.by_length[length] = self.by_length.get(length, EditTotals()).merge(one)
        if len(reference) == len(hypothesis):
            self.confusion.update(zip(reference, hypothesis))
        return edits

    def merge(self, other: ErrorCounts) -> ErrorCounts:
        by_length = dict(self.by_length)
        for length, totals in other.by_length.items():
            by_length[length] = by_length.get(length, EditTotals()).merge(totals)
        return ErrorCounts(
            total=self.total.merge(other.total),
            by_length=by_length,
            confusion=self.confusion + other.confusion,
        )

    def summary(self) -> dict:
        """JSON-ready rates: overall, `by_length`, and the `confusion` matrix as nested dicts."""
        confusion: dict[str, dict[str, int]] = {}
        for (r, h), n in sorted(self.confusion.items()):
            confusion.setdefault(r, {})[h] = n
        return {
            **self.total.rates(),
            "by_length": {str(k): v.rates() for k, v in sorted(self.by_length.items())},
            "confusion": confusion,
        }


def label_string(digits: Iterable[int]) -> str:
    return "".join(str(int(d)) for d in digits)
