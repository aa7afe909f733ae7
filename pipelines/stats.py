"""Standardization statistics per image row, merged with Chan et al.'s parallel update.

Frames are image columns, so each of the `height` rows is one feature. The accumulator is
(count, mean[height], M2[height]) in float64; merging two accumulators is exact up to rounding and
does not lose precision the way sums of squares do. `std` is the population one (ddof 0) on the raw
0..255 scale.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import numpy as np


@dataclasses.dataclass
class RowMoments:
    count: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def empty(cls, height: int) -> "RowMoments":
        return cls(0, np.zeros(height), np.zeros(height))

    @classmethod
    def of_image(cls, image: np.ndarray) -> "RowMoments":
        """Moments of one image `[height, width]`, whose columns are the frames."""
        values = image.astype(np.float64)
        mean = values.mean(axis=1)
        return cls(image.shape[1], mean, ((values - mean[:, None]) ** 2).sum(axis=1))

    def merge(self, other: "RowMoments") -> "RowMoments":
        if not other.count:
            return self
        if not self.count:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / count)
        m2 = self.m2 + other.m2 + delta ** 2 * (self.count * other.count / count)
        return RowMoments(count, mean, m2)

    def to_json(self) -> dict:
        """The `stats.json` contents: per-row and global mean and std over all frames."""
        std = np.sqrt(self.m2 / self.count)
        global_mean = float(self.mean.mean())
        global_m2 = float(self.m2.sum() + self.count * ((self.mean - global_mean) ** 2).sum())
        return {
            "count": int(self.count),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in std],
            "global_mean": global_mean,
            "global_std": float(np.sqrt(global_m2 / (self.count * len(self.mean)))),
        }


class _Accumulator:
    """`RowMoments` plus images not yet folded in: moments are computed per block of columns."""

    def __init__(self, height: int):
        self.moments = RowMoments.empty(height)
        self.pending: list[np.ndarray] = []
        self.pending_columns = 0

    def flush(self) -> "_Accumulator":
        if self.pending:
            block = np.concatenate(self.pending, axis=1)
            self.moments = self.moments.merge(RowMoments.of_image(block))
            self.pending, self.pending_columns = [], 0
        return self


class RowMomentsFn(beam.CombineFn):
    """Combines images `[height, width]` into the `RowMoments` of all their columns.

    Images are folded in blocks of about `block_columns` columns, which is several times cheaper
    per image than one merge each and numerically the same kind of update.
    """

    def __init__(self, *, height: int, block_columns: int = 16384):
        super().__init__()
        if height < 1 or block_columns < 1:
            raise ValueError(f"height and block_columns must be positive, got {height}, "
                             f"{block_columns}")
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
