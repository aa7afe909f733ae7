"""Planning a render: shards with their seeds, and the digit pools each split draws from. No Beam.

A dataset is planned as shards before anything is rendered. Each shard holds sequences of one
length (so one width bucket) and knows its record ids and its own seed, derived from the global
seed, the split, the length and the shard number. Everything a shard contains therefore depends on
the parameters and the seed alone, not on the runner, worker count or processing order.

Digits are drawn with replacement from the split's pool: `train` from MNIST train indices below
55000, `validation` from 55000 and above, `test` from MNIST test. What each shard's sequences
look like is drawn from its seed by `pipelines.render.drawing`.

Unless the number of shards is given, it follows from the count and the estimated record size
(`pipelines.dataset_writer.automatic_shards`, at least `MIN_SHARDS` per length as far as there
are sequences, so a few workers share a small render, the plan being the unit of work). Shard
counts depend on the counts and the parameters alone, never on the runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from digitseq.core.errors import ConfigError
from digitseq.pipelines import dataset_writer
from digitseq.pipelines.render.mnist import Mnist, MnistSplit
from digitseq.pipelines.render.params import RenderParams
from digitseq.schemas import dataset

VALIDATION_START = 55000
SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}


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
        if count and not len(digit_pool(getattr(mnist, source_split(split)), split)):
            where = {
                "train": f"MNIST train indices below {VALIDATION_START}",
                "validation": f"MNIST train indices {VALIDATION_START} and above",
                "test": "MNIST test",
            }[split]
            raise ConfigError(
                split,
                count,
                f"the {split} split draws digits from {where}, but {mnist.location} has none",
            )
    if counts.get("train", 0) < 1:
        raise ConfigError(
            "train",
            counts.get("train", 0),
            "the standardization statistics come from the train split, expected "
            "at least 1 training sequence",
        )


def plan_shards(
    params: RenderParams, counts: Mapping[str, int], *, seed: int, shards: int | None = None
) -> list[ShardPlan]:
    """Splits every split into shards, one length per shard, and each length into `shards` shards
    (fewer if it has fewer sequences); None: `automatic_shards`, from the count and the estimated
    record size (`dataset_writer.automatic_shards`). Shards of one length differ in size by at most one record.

    In variable mode the number of sequences of each length is one multinomial draw (uniform over
    the lengths), seeded from the global seed and the split.
    """
    plans = []
    for split in dataset.SPLITS:
        count = counts.get(split, 0)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0, SPLIT_CODES[split]]))
        lengths = params.lengths
        per_length = rng.multinomial(count, [1 / len(lengths)] * len(lengths))
        start = 0
        for length, length_count in zip(lengths, per_length):
            max_width = params.max_width(length)
            num_shards = int(
                min(shards, length_count)
                if shards is not None
                else dataset_writer.automatic_shards(
                    int(length_count), dataset_writer.estimated_record_bytes(length, max_width)
                )
            )
            for shard in range(num_shards):
                shard_count = int(length_count // num_shards + (shard < length_count % num_shards))
                plans.append(
                    ShardPlan(
                        split=split,
                        length=length,
                        shard=shard,
                        num_shards=num_shards,
                        start=start,
                        count=shard_count,
                        max_width=max_width,
                    )
                )
                start += shard_count
    return plans
