"""Planning and rendering digit sequences: pure functions, no Beam.

A dataset is planned as shards before anything is rendered. Each shard holds sequences of one
length (so one width bucket) and knows its record ids and its own seed, derived from the global
seed, the split, the length and the shard number. Everything a shard contains therefore depends on
the parameters and the seed alone, not on the runner, worker count or processing order.

Digits are drawn with replacement from the split's pool: `train` from MNIST train indices below
55000, `validation` from 55000 and above, `test` from MNIST test. How they look is
`pipelines.render_params.RenderParams`.

Unless the number of shards is given, it follows from the count, as TensorFlow Datasets sizes its
shards: enough shards per length that no file's estimated size exceeds `MAX_SHARD_BYTES`, and at
least `MIN_SHARDS` (as far as there are sequences) so that a few workers share a small render,
the plan being the unit of work. The estimate, `estimated_record_bytes`, is a conservative bound
on the GZIP bytes a record takes, from measurements on the full MNIST (500 to 1,000 records per
layout and length, lengths 1..20): compressed bytes per pixel of the bucket's widest image were 0.23 for `plain`,
0.36 for `touching`, 0.39 for `pan001` and 0.61 at the densest layout tried (`--scale 3,3
--thickness 3,3`); the estimate takes 0.65, plus the uncompressed size of the other features.
Shard counts depend on the counts and the parameters alone, never on the runner.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, Mapping

import numpy as np

from pipelines import handwriting
from pipelines.mnist import IMAGE_SIZE, Mnist, MnistSplit
from schemas import dataset
from pipelines.render_params import RenderParams
from schemas.errors import ConfigError

VALIDATION_START = 55000
SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}
MAX_SHARD_BYTES = 128 * 2**20
"""The largest estimated file size of an automatically sized shard (128 MiB)."""
MIN_SHARDS = 4
"""Automatic sizing gives a length at least this many shards, when it has that many sequences."""
BYTES_PER_PIXEL = 0.65
RECORD_BYTES = 160
DIGIT_BYTES = 8


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
    """Everything needed to draw one sequence: which digits, where, and how each is varied."""

    plan: ShardPlan
    record_id: str
    rows: np.ndarray  # positions of the digits in the split's loaded arrays
    gaps: np.ndarray  # blank columns after each digit but the last
    shifts: np.ndarray  # vertical shift of each digit
    overlaps: np.ndarray  # columns each digit but the last shares with the next
    scales: np.ndarray  # per digit, see RenderParams
    rotations: np.ndarray
    slants: np.ndarray
    thickness: np.ndarray

    @property
    def digit_left(self) -> np.ndarray:
        """The left column of each digit's box."""
        return np.concatenate([[0], np.cumsum(IMAGE_SIZE + self.gaps - self.overlaps)])


@dataclasses.dataclass(frozen=True)
class RenderedSequence:
    plan: ShardPlan
    record_id: str
    image: np.ndarray  # uint8 [28, width]
    label: tuple[int, ...]
    source_index: tuple[int, ...]
    digit_left: tuple[int, ...]


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


def estimated_record_bytes(length: int, max_width: int) -> int:
    """A conservative estimate of the GZIP bytes of a record of `length` digits in bucket
    `max_width`.

    `BYTES_PER_PIXEL` of the widest image's pixels (see the module docstring for the measurements),
    plus `RECORD_BYTES` for the id, the scalar features and framing and `DIGIT_BYTES` per digit for
    the integer lists, both as if uncompressed.
    """
    return math.ceil(BYTES_PER_PIXEL * IMAGE_SIZE * max_width) + RECORD_BYTES + DIGIT_BYTES * length


def automatic_shards(count: int, record_bytes: int) -> int:
    """How many shards `count` records of about `record_bytes` each need: enough that none holds
    more than `MAX_SHARD_BYTES`, at least `MIN_SHARDS`, at most one per record."""
    per_shard = max(1, MAX_SHARD_BYTES // record_bytes)
    return min(count, max(MIN_SHARDS, math.ceil(count / per_shard)))


def plan_shards(params: RenderParams, counts: Mapping[str, int], *, seed: int,
                shards: int | None = None) -> list[ShardPlan]:
    """Splits every split into shards, one length per shard, and each length into `shards` shards
    (fewer if it has fewer sequences); None: `automatic_shards`, from the count and the estimated
    record size. Shards of one length differ in size by at most one record.

    In variable mode the number of sequences of each length is one multinomial draw (uniform over
    the lengths), seeded from the global seed and the split.
    """
    if shards is not None and shards < 1:
        raise ConfigError("shards", shards, "expected at least 1")
    plans = []
    for split in dataset.SPLITS:
        count = counts.get(split, 0)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0, SPLIT_CODES[split]]))
        lengths = params.lengths
        per_length = rng.multinomial(count, [1 / len(lengths)] * len(lengths))
        start = 0
        for length, length_count in zip(lengths, per_length):
            max_width = params.max_width(length)
            num_shards = int(min(shards, length_count) if shards is not None else automatic_shards(
                int(length_count), estimated_record_bytes(length, max_width)))
            for shard in range(num_shards):
                shard_count = int(length_count // num_shards + (shard < length_count % num_shards))
                plans.append(ShardPlan(split=split, length=length, shard=shard,
                                       num_shards=num_shards, start=start, count=shard_count,
                                       max_width=max_width))
                start += shard_count
    return plans


def make_specs(plan: ShardPlan, params: RenderParams, *, seed: int,
               pool: np.ndarray) -> Iterator[SequenceSpec]:
    """The shard's sequences, drawn from the shard's own seed.

    The draws are made in a fixed order (digits, gaps, shifts, overlaps, then the variation), so
    turning on an option leaves the values drawn before it unchanged.
    """
    rng = np.random.default_rng(np.random.SeedSequence(
        [seed, 1, SPLIT_CODES[plan.split], plan.length, plan.shard]))
    per_digit, per_pair = (plan.count, plan.length), (plan.count, plan.length - 1)
    rows = pool[rng.integers(0, len(pool), size=per_digit)]
    gaps = rng.integers(params.gap[0], params.gap[1] + 1, size=per_pair)
    shifts = rng.integers(-params.jitter, params.jitter + 1, size=per_digit)
    overlaps = rng.integers(params.overlap[0], params.overlap[1] + 1, size=per_pair)
    scales = rng.uniform(*params.scale, size=per_digit)
    rotations = rng.uniform(*params.rotation, size=per_digit)
    slants = rng.uniform(*params.slant, size=per_digit)
    thickness = rng.integers(params.thickness[0], params.thickness[1] + 1, size=per_digit)
    for i in range(plan.count):
        yield SequenceSpec(plan=plan, record_id=f"{plan.split}/{plan.start + i:08d}",
                           rows=rows[i], gaps=gaps[i], shifts=shifts[i], overlaps=overlaps[i],
                           scales=scales[i], rotations=rotations[i], slants=slants[i],
                           thickness=thickness[i])


def render(spec: SequenceSpec, mnist_split: MnistSplit) -> RenderedSequence:
    """Draws the sequence: each digit varied inside its box, boxes combined by pixel maximum."""
    lefts = spec.digit_left.tolist()
    image = np.zeros((IMAGE_SIZE, lefts[-1] + IMAGE_SIZE), np.uint8)
    for row, left, scale, slant, rotation, thickness, shift in zip(
            spec.rows, lefts, spec.scales.tolist(), spec.slants.tolist(),
            spec.rotations.tolist(), spec.thickness.tolist(), spec.shifts.tolist()):
        digit = handwriting.vary(mnist_split.images[row], scale=scale, slant=slant,
                                 rotation=rotation, thickness=thickness, shift=shift)
        box = image[:, left:left + IMAGE_SIZE]
        np.maximum(box, digit, out=box)
    return RenderedSequence(
        plan=spec.plan, record_id=spec.record_id, image=image,
        label=tuple(mnist_split.labels[spec.rows].tolist()),
        source_index=tuple(mnist_split.indices[spec.rows].tolist()),
        digit_left=tuple(lefts))
