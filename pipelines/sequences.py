"""Planning and rendering digit sequences: pure functions, no Beam.

A dataset is planned as shards before anything is rendered. Each shard holds sequences of one
length (so one width bucket) and knows its record ids and its own seed, derived from the global
seed, the split, the length and the shard number. Everything a shard contains therefore depends on
the parameters and the seed alone, not on the runner, worker count or processing order.

Digits are drawn with replacement from the split's pool: `train` from MNIST train indices below
55000, `validation` from 55000 and above, `test` from MNIST test. Images are the digits side by
side (optionally with blank gaps and a vertical jitter), 28 rows high.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping

import numpy as np

from pipelines.mnist import IMAGE_SIZE, Mnist, MnistSplit
from schemas import dataset
from schemas.errors import ConfigError
from schemas.options import check_choice, option

MODES = ("fixed", "variable")
VALIDATION_START = 55000
SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}


@dataclasses.dataclass(frozen=True)
class RenderParams:
    """How sequences look.

    Attributes:
      mode: fixed (every sequence `length` digits) or variable (`min_length`..`max_length`
        digits, uniformly).
      length: digits per sequence in fixed mode.
      min_length: shortest sequence in variable mode.
      max_length: longest sequence in variable mode.
      gap: smallest and largest number of blank columns between two digits.
      jitter: largest vertical shift of a digit, in pixels, either way.
    """

    mode: str = option("fixed", choices=MODES)
    length: int = 5
    min_length: int = 2
    max_length: int = 5
    gap: tuple[int, int] = (0, 0)
    jitter: int = 0

    def __post_init__(self):
        check_choice("mode", self.mode, MODES)
        if self.mode == "fixed" and self.length < 1:
            raise ConfigError("length", self.length, "expected at least 1")
        if self.mode == "variable" and self.min_length < 1:
            raise ConfigError("min_length", self.min_length, "expected at least 1")
        if self.mode == "variable" and self.min_length > self.max_length:
            raise ConfigError("min_length", self.min_length,
                              f"expected at most max_length {self.max_length}",
                              others=["max_length"])
        if self.gap[0] < 0 or self.gap[0] > self.gap[1]:
            raise ConfigError("gap", self.gap, "expected 0 <= MIN <= MAX")
        if not 0 <= self.jitter < IMAGE_SIZE:
            raise ConfigError("jitter", self.jitter, f"expected 0..{IMAGE_SIZE - 1}")

    @property
    def lengths(self) -> tuple[int, ...]:
        if self.mode == "fixed":
            return (self.length,)
        return tuple(range(self.min_length, self.max_length + 1))

    def max_width(self, length: int) -> int:
        """Widest image a sequence of `length` digits can have: its width bucket's boundary."""
        return IMAGE_SIZE * length + self.gap[1] * (length - 1)


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """One output shard: `count` sequences of `length` digits with ids `start`..`start+count-1`."""

    split: str
    length: int
    shard: int
    num_shards: int
    start: int
    count: int
    max_width: int

    @property
    def path(self) -> str:
        return dataset.shard_path(self.split, self.max_width, self.shard, self.num_shards)


@dataclasses.dataclass(frozen=True)
class SequenceSpec:
    """Everything needed to draw one sequence: which digits, gaps and shifts."""

    plan: ShardPlan
    record_id: str
    rows: np.ndarray  # positions of the digits in the split's loaded arrays
    gaps: np.ndarray  # blank columns after each digit but the last
    shifts: np.ndarray  # vertical shift of each digit


@dataclasses.dataclass(frozen=True)
class RenderedSequence:
    plan: ShardPlan
    record_id: str
    image: np.ndarray  # uint8 [28, width]
    label: tuple[int, ...]
    source_index: tuple[int, ...]


def source_split(split: str) -> str:
    """The MNIST split a dataset split draws its digits from."""
    return "test" if split == "test" else "train"


def digit_pool(mnist_split: MnistSplit, split: str) -> np.ndarray:
    """Positions, in the loaded arrays, of the digits `split` may use."""
    if split == "train":
        return np.flatnonzero(mnist_split.indices < VALIDATION_START)
    if split == "validation":
        return np.flatnonzero(mnist_split.indices >= VALIDATION_START)
    return np.arange(len(mnist_split))


def check_pools(mnist: Mnist, counts: Mapping[str, int]) -> None:
    """Fails early if a split asked for sequences has no digits to draw from."""
    for split, count in counts.items():
        if count < 0:
            raise ConfigError(split, count, "expected a count of 0 or more")
        if count and not len(digit_pool(getattr(mnist, source_split(split)), split)):
            where = {"train": f"MNIST train indices below {VALIDATION_START}",
                     "validation": f"MNIST train indices {VALIDATION_START} and above",
                     "test": "MNIST test"}[split]
            raise ConfigError(split, count, f"the {split} split draws digits from {where}, but "
                              f"{mnist.location} has none")
    if counts.get("train", 0) < 1:
        raise ConfigError("train", counts.get("train", 0),
                          "the standardization statistics come from the train split, expected "
                          "at least 1 training sequence")


def plan_shards(params: RenderParams, counts: Mapping[str, int], *, seed: int,
                shards: int) -> list[ShardPlan]:
    """Splits every split into shards, one length per shard, at most `shards` per length.

    In variable mode the number of sequences of each length is one multinomial draw (uniform over
    the lengths), seeded from the global seed and the split.
    """
    if shards < 1:
        raise ConfigError("shards", shards, "expected at least 1")
    plans = []
    for split in dataset.SPLITS:
        count = counts.get(split, 0)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0, SPLIT_CODES[split]]))
        lengths = params.lengths
        per_length = rng.multinomial(count, [1 / len(lengths)] * len(lengths))
        start = 0
        for length, length_count in zip(lengths, per_length):
            num_shards = int(min(shards, length_count))
            for shard in range(num_shards):
                shard_count = int(length_count // num_shards + (shard < length_count % num_shards))
                plans.append(ShardPlan(split=split, length=length, shard=shard,
                                       num_shards=num_shards, start=start, count=shard_count,
                                       max_width=params.max_width(length)))
                start += shard_count
    return plans


def make_specs(plan: ShardPlan, params: RenderParams, *, seed: int,
               pool: np.ndarray) -> Iterator[SequenceSpec]:
    """The shard's sequences, drawn from the shard's own seed."""
    rng = np.random.default_rng(np.random.SeedSequence(
        [seed, 1, SPLIT_CODES[plan.split], plan.length, plan.shard]))
    rows = pool[rng.integers(0, len(pool), size=(plan.count, plan.length))]
    gaps = rng.integers(params.gap[0], params.gap[1] + 1, size=(plan.count, plan.length - 1))
    shifts = rng.integers(-params.jitter, params.jitter + 1, size=(plan.count, plan.length))
    for i in range(plan.count):
        yield SequenceSpec(plan=plan, record_id=f"{plan.split}/{plan.start + i:08d}",
                           rows=rows[i], gaps=gaps[i], shifts=shifts[i])


def render(spec: SequenceSpec, mnist_split: MnistSplit) -> RenderedSequence:
    """Draws the sequence: digits left to right, gaps as blank columns, shifted digits zero-filled."""
    width = IMAGE_SIZE * len(spec.rows) + int(spec.gaps.sum())
    image = np.zeros((IMAGE_SIZE, width), np.uint8)
    x = 0
    for i, row in enumerate(spec.rows):
        digit = mnist_split.images[row]
        shift = int(spec.shifts[i])
        if shift > 0:
            image[shift:, x:x + IMAGE_SIZE] = digit[:-shift]
        elif shift < 0:
            image[:shift, x:x + IMAGE_SIZE] = digit[-shift:]
        else:
            image[:, x:x + IMAGE_SIZE] = digit
        x += IMAGE_SIZE + (int(spec.gaps[i]) if i < len(spec.gaps) else 0)
    return RenderedSequence(
        plan=spec.plan, record_id=spec.record_id, image=image,
        label=tuple(mnist_split.labels[spec.rows].tolist()),
        source_index=tuple(mnist_split.indices[spec.rows].tolist()))
