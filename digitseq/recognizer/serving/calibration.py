"""Calibrated confidence: the probability that a whole decoded string is right.

The decoders' raw confidence is a path probability (`recognizer.serving.decoding`), which is not how often
a string of that confidence is right. Calibration maps it, per decoder, with Platt scaling on its
log-odds:

    calibrated = sigmoid(a * logit(raw) + b),    logit(raw) with raw clipped to [1e-7, 1 - 1e-7]

`a` and `b` are fitted on the validation split when the model is exported (or later by
`digitseq calibrate`) by minimising the log loss of string correctness (Newton's method, Platt's
smoothed targets `(n+ + 1) / (n+ + 2)` and `1 / (n- + 2)` so a split without errors does not
push the map to 1). Why this map rather than temperature scaling or isotonic regression: it fits
the quantity we report (string correctness) directly, with two parameters it needs only a few
thousand validation strings, and with `a > 0` it is strictly increasing, so it keeps the raw
ranking (risk-coverage curves and review queues do not change, only the numbers on them) and gives
no ties (isotonic regression's steps would merge many rows into one confidence and make coverage
thresholds coarse). Temperature scaling calibrates per-frame probabilities, not strings, and would
need a CTC decode per candidate temperature. `a` is kept at least `MIN_SLOPE`. A fit needs at
least `MIN_STRINGS` labeled strings (`digitseq calibrate` refuses fewer; training calibrates on
whatever validation split it has and warns below that); docs/calibrate.md says how the error
falls with more.

The fitted maps are stored in `<model>/calibration.json` (`schemas.exported`); `serving_default`
applies the greedy map in the graph; batch prediction applies the beam map after beam search
(constrained or not) from the same file. Older model directories without the file serve raw
confidences.

Reliability is measured by the expected calibration error (`ConfidenceCounts.ece`): 15 equal-width
bins over [0, 1] (the last one closed), ECE = sum over bins of |rows right - sum of confidences|
/ rows. `ConfidenceCounts` also gives the risk-coverage table; it counts confidences at a
resolution of 1e-6 in integers, so partial counts merge exactly in any order.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from digitseq.core.errors import InvalidInputError
from digitseq.schemas import exported

METHOD = "platt-logit"
CLIP = 1e-7
MIN_STRINGS = 50
"""Labeled strings a calibration needs at least."""
REPORT_COVERAGES = (1.0, 0.95, 0.9, 0.8)
"""Coverages of the risk-coverage table a calibration reports on its data."""
MIN_SLOPE = 1e-3
ECE_BINS = 15
RESOLUTION = 10**6
"""Confidences are counted in units of 1 / RESOLUTION."""
COVERAGES = (1.0, 0.99, 0.98, 0.95, 0.9)


@dataclasses.dataclass(frozen=True)
class Platt:
    """`sigmoid(a * logit(raw) + b)`."""

    a: float = 1.0
    b: float = 0.0

    def apply(self, raw) -> np.ndarray:
        raw = np.clip(np.asarray(raw, np.float64), CLIP, 1 - CLIP)
        z = self.a * (np.log(raw) - np.log1p(-raw)) + self.b
        return np.exp(-np.logaddexp(0, -z))

    def apply_tf(self, raw):
        """The same map as TensorFlow ops (inside the serving signature)."""
        import tensorflow as tf

        raw = tf.clip_by_value(tf.cast(raw, tf.float32), CLIP, 1 - CLIP)
        return tf.sigmoid(self.a * (tf.math.log(raw) - tf.math.log1p(-raw)) + self.b)


def fit_platt(raw: Sequence[float], correct: Sequence[bool]) -> Platt:
    """The Platt map minimising the log loss of `correct` given `raw` (module docstring)."""
    raw = np.clip(np.asarray(raw, np.float64), CLIP, 1 - CLIP)
    correct = np.asarray(correct, bool)
    if raw.size == 0:
        raise InvalidInputError("no validation strings to calibrate on")
    x = np.log(raw) - np.log1p(-raw)
    positives, negatives = correct.sum(), (~correct).sum()
    y = np.where(correct, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss(a: float, b: float) -> float:
        z = a * x + b
        return float(np.sum(np.logaddexp(0, z) - y * z))

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(100):
        p = np.exp(-np.logaddexp(0, -(a * x + b)))
        weight = np.maximum(p * (1 - p), 1e-12)
        gradient = np.array([np.sum((p - y) * x), np.sum(p - y)])
        hessian = np.array(
            [[np.sum(weight * x * x), np.sum(weight * x)], [np.sum(weight * x), np.sum(weight)]]
        ) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-8 and loss(a - scale * step[0], b - scale * step[1]) > current:
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        previous, current = current, loss(a, b)
        if previous - current < 1e-12 * max(1.0, abs(current)):
            break
    return Platt(a=float(max(a, MIN_SLOPE)), b=float(b))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Per-decoder maps and what they were fitted on (`calibration.json`)."""

    greedy: Platt
    beam: Platt
    beam_width: int
    fitted: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def for_decoder(self, decoder: str) -> Platt:
        return self.greedy if decoder == "greedy" else self.beam

    def to_json(self) -> dict[str, Any]:
        return {
            exported.CALIBRATION_METHOD: METHOD,
            exported.CALIBRATION_DECODERS: {
                "greedy": dataclasses.asdict(self.greedy),
                "beam": {**dataclasses.asdict(self.beam), "beam_width": self.beam_width},
            },
            exported.CALIBRATION_FITTED: dict(self.fitted),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, where: str) -> Calibration:
        try:
            if doc[exported.CALIBRATION_METHOD] != METHOD:
                raise ValueError(f"method {doc[exported.CALIBRATION_METHOD]!r}")
            decoders = doc[exported.CALIBRATION_DECODERS]
            greedy, beam = decoders["greedy"], decoders["beam"]
            return cls(
                greedy=Platt(float(greedy["a"]), float(greedy["b"])),
                beam=Platt(float(beam["a"]), float(beam["b"])),
                beam_width=int(beam["beam_width"]),
                fitted=doc.get(exported.CALIBRATION_FITTED, {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInputError(
                f"{where}: not a calibration this version reads ({err}); "
                f"expected method {METHOD} with greedy and beam maps"
            ) from None


def read(model_dir: str) -> Calibration | None:
    """The model directory's calibration, or None for a directory exported without one."""
    import tensorflow as tf

    from digitseq.core import storage

    path = os.path.join(model_dir, exported.CALIBRATION)
    if not tf.io.gfile.exists(path):
        return None
    return Calibration.from_json(storage.read_json(path), where=path)


def write(model_dir: str, calibration: Calibration) -> None:
    from digitseq.core import storage

    storage.write_json(os.path.join(model_dir, exported.CALIBRATION), calibration.to_json())


def ece(confidence: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-width bins (module docstring)."""
    counts = ConfidenceCounts()
    for c, ok in zip(confidence, correct):
        counts.add(float(c), errors=int(not ok), edits=0, characters=0)
    return counts.ece(bins)


@dataclasses.dataclass
class ConfidenceCounts:
    """Labeled rows counted by confidence (in units of 1 / RESOLUTION): per level the rows, the
    wrong strings, the character edits and the reference characters. Merges exactly."""

    levels: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add(self, confidence: float, *, errors: int, edits: int, characters: int) -> None:
        level = quantize(confidence)
        self.levels[(level, 0)] += 1
        self.levels[(level, 1)] += errors
        self.levels[(level, 2)] += edits
        self.levels[(level, 3)] += characters

    def merge(self, other: ConfidenceCounts) -> ConfidenceCounts:
        merged = collections.Counter(self.levels)
        merged.update(other.levels)
        return ConfidenceCounts(merged)

    def _table(self) -> np.ndarray:
        """`[levels, 5]`: level, rows, errors, edits, characters; most confident first."""
        by_level: dict[int, list[int]] = {}
        for (level, column), n in self.levels.items():
            by_level.setdefault(level, [0, 0, 0, 0])[column] += n
        rows = [[level, *values] for level, values in by_level.items()]
        table = np.array(sorted(rows, reverse=True), np.int64).reshape(-1, 5)
        return table[table[:, 1] > 0]

    def risk_coverage(self, coverages: Iterable[float] = COVERAGES) -> list[dict[str, Any]]:
        """For each target coverage c: accept the rows whose confidence is at least the
        confidence of the ceil(c x rows)-th most confident row (ties are all accepted, so the
        actual coverage can be higher), with the SER and CER of the accepted rows."""
        table = self._table()
        total = int(table[:, 1].sum()) if table.size else 0
        cumulative = np.cumsum(table[:, 1:], axis=0) if table.size else np.zeros((0, 4))
        found = []
        for coverage in coverages:
            if not total:
                found.append(
                    {
                        "coverage": coverage,
                        "threshold": None,
                        "accepted": 0,
                        "actual_coverage": 0.0,
                        "ser": 0.0,
                        "cer": 0.0,
                    }
                )
                continue
            wanted = max(1, math.ceil(coverage * total - 1e-9))
            at = int(np.searchsorted(cumulative[:, 0], wanted))
            rows, errors, edits, characters = (int(v) for v in cumulative[at])
            found.append(
                {
                    "coverage": coverage,
                    "threshold": int(table[at, 0]) / RESOLUTION,
                    "accepted": rows,
                    "actual_coverage": rows / total,
                    "ser": errors / rows,
                    "cer": edits / characters if characters else 0.0,
                }
            )
        return found

    def reliability(self, bins: int = ECE_BINS) -> list[dict[str, Any]]:
        """Per equal-width bin: its bounds, rows, mean confidence and share of right strings."""
        table = self._table()
        sums = np.zeros((bins, 3), np.int64)
        for level, rows, errors, _, _ in table.tolist():
            k = min(level * bins // RESOLUTION, bins - 1)
            sums[k] += (rows, rows - errors, level * rows)
        return [
            {
                "low": k / bins,
                "high": (k + 1) / bins,
                "rows": int(rows),
                "confidence": level_sum / RESOLUTION / rows if rows else None,
                "accuracy": right / rows if rows else None,
            }
            for k, (rows, right, level_sum) in enumerate(sums.tolist())
        ]

    def ece(self, bins: int = ECE_BINS) -> float:
        cells = self.reliability(bins)
        total = sum(cell["rows"] for cell in cells)
        return (
            sum(
                cell["rows"] * abs(cell["accuracy"] - cell["confidence"])
                for cell in cells
                if cell["rows"]
            )
            / total
            if total
            else 0.0
        )


def quantize(confidence: float) -> int:
    """A confidence in units of 1 / RESOLUTION (clipped to [0, 1])."""
    return int(round(min(max(confidence, 0.0), 1.0) * RESOLUTION))
