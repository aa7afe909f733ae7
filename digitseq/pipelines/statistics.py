"""Standardization statistics per image row, exact and independent of how the work is split.

Frames are image columns, so each of the `height` rows is one feature. Pixels are integers, so the
accumulator keeps exact integer moments per row: the frame count, the sum of values and the sum of
squares (int64; it would take over 10^14 frames to overflow). Adding and merging are exact and
associative, so the result is bit-for-bit the same whatever the runner, worker count, bundle
boundaries or merge order, which the dataset's byte-identical contract needs; float rounding in a
streaming (count, mean, M2) merge would change the last bits with the merge order. Mean and
M2 = sum((x - mean)^2) are derived once at the end with exact rational arithmetic, so there is no
cancellation either. `std` is the population one (ddof 0) on the raw 0..255 scale.
"""

from __future__ import annotations

import dataclasses
import fractions
import math

import apache_beam as beam
import numpy as np


@dataclasses.dataclass
class RowMoments:
    count: int
    sums: np.ndarray  # int64 [height]
    squares: np.ndarray  # int64 [height]

    @classmethod
    def empty(cls, height: int) -> RowMoments:
        return cls(0, np.zeros(height, np.int64), np.zeros(height, np.int64))

    @classmethod
    def of_image(cls, image: np.ndarray) -> RowMoments:
        """Moments of an integer image `[height, width]`, whose columns are the frames."""
        values = image.astype(np.int64)
        return cls(image.shape[1], values.sum(axis=1), (values * values).sum(axis=1))

    def merge(self, other: RowMoments) -> RowMoments:
        return RowMoments(
            self.count + other.count, self.sums + other.sums, self.squares + other.squares
        )

    def mean_and_m2(self) -> tuple[list[float], list[float]]:
        """Per-row mean and M2 (sum of squared deviations), each rounded once from exact values."""
        n = self.count
        means = [float(fractions.Fraction(int(s), n)) for s in self.sums]
        m2s = [
            float(fractions.Fraction(n * int(q) - int(s) ** 2, n))
            for s, q in zip(self.sums, self.squares)
        ]
        return means, m2s

    def to_json(self) -> dict:
        """The `stats.json` contents: per-row and global mean and std over all frames (all
        zeros without frames: an ingested dataset whose train split is empty)."""
        if not self.count:
            height = len(self.sums)
            return {
                "count": 0,
                "mean": [0.0] * height,
                "std": [0.0] * height,
                "global_mean": 0.0,
                "global_std": 0.0,
            }
        n, total = self.count, self.count * len(self.sums)
        sums, squares = int(self.sums.sum()), int(self.squares.sum())
        means, m2s = self.mean_and_m2()
        return {
            "count": n,
            "mean": means,
            "std": [math.sqrt(m2 / n) for m2 in m2s],
            "global_mean": float(fractions.Fraction(sums, total)),
            "global_std": math.sqrt(fractions.Fraction(total * squares - sums**2, total**2)),
        }


class _Accumulator:
    """`RowMoments` plus images not yet folded in: moments are taken per block of columns."""

    def __init__(self, height: int):
        self.moments = RowMoments.empty(height)
        self.pending: list[np.ndarray] = []
        self.pending_columns = 0

    def flush(self) -> _Accumulator:
        if self.pending:
            block = np.concatenate(self.pending, axis=1)
            self.moments = self.moments.merge(RowMoments.of_image(block))
            self.pending, self.pending_columns = [], 0
        return self


class RowMomentsFn(beam.CombineFn):
    """Combines integer images `[height, width]` into the `RowMoments` of all their columns.

    Images are folded in blocks of about `block_columns` columns, several times cheaper per image
    than one update each (and, the moments being exact, with the same result).
    """

    def __init__(self, *, height: int, block_columns: int = 16384):
        super().__init__()
        if height < 1 or block_columns < 1:
            raise ValueError(
                f"height and block_columns must be positive, got {height}, {block_columns}"
            )
        self._height, self._block_columns = height, block_columns

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator(self._height)

    def add_input(self, accumulator: _Accumulator, image: np.ndarray) -> _Accumulator:
        accumulator.pending.append(image)
        accumulator.pending_columns += image.shape[1]
        if accumulator.pending_columns >= self._block_columns:
            accumulator.flush()
        return accumulator

    def merge_accumulators(self, accumulators) -> _Accumulator:
        merged = _Accumulator(self._height)
        for accumulator in accumulators:
            merged.moments = merged.moments.merge(accumulator.flush().moments)
        return merged

    def compact(self, accumulator: _Accumulator) -> _Accumulator:
        return accumulator.flush()

    def extract_output(self, accumulator: _Accumulator) -> RowMoments:
        return accumulator.flush().moments


class MergeRowMomentsFn(beam.CombineFn):
    """Combines `RowMoments` of disjoint sets of frames (e.g. one per shard) into theirs; exact."""

    def __init__(self, *, height: int):
        super().__init__()
        if height < 1:
            raise ValueError(f"height must be positive, got {height}")
        self._height = height

    def create_accumulator(self) -> RowMoments:
        return RowMoments.empty(self._height)

    def add_input(self, accumulator: RowMoments, moments: RowMoments) -> RowMoments:
        return accumulator.merge(moments)

    def merge_accumulators(self, accumulators) -> RowMoments:
        merged = RowMoments.empty(self._height)
        for accumulator in accumulators:
            merged = merged.merge(accumulator)
        return merged

    def extract_output(self, accumulator: RowMoments) -> RowMoments:
        return accumulator
