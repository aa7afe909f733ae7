"""Drawing digit sequences: a shard's sequences drawn from its seed, then rendered. No Beam.

Each digit occupies a 28-column box (`pipelines.render.params`); inside it the digit may be
varied as handwriting varies (`pipelines.render.handwriting`), and boxes are combined by pixel
maximum.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from pipelines.render import handwriting
from pipelines.render.mnist import IMAGE_SIZE, MnistSplit
from pipelines.render.params import RenderParams
from pipelines.render.planning import SPLIT_CODES, ShardPlan


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
