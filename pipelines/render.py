"""The render job: MNIST -> digit sequences -> sharded GZIP TFRecords + statistics + metadata.

    plans -> Reshuffle -> RenderAndWrite -+-> ShardSummary per shard --------> CollectShards -+
                          (one plan, one  +-> RowMoments per train shard -> TrainStats -------+-> WriteDatasetInfo
                           call, one file)

Shards are planned up front (`pipelines.sequences.plan_shards`) and carry their own seeds, so the
files are byte-identical whatever the runner and the number of workers; each is rendered and
written from its plan in one call (`pipelines.shards`). `WriteDatasetInfo` writes `stats.json`
and `metadata.json`, removes the shards' temporary directory `.tmp`, and writes `COMPLETED` last;
an interrupted job leaves no `COMPLETED`."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Mapping, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import mnist as mnist_lib
from pipelines import render_params, sequences
from pipelines.shards import MOMENTS, SUMMARIES, RenderShards, ShardSummary
from pipelines.stats import MergeRowMomentsFn, RowMoments
from schemas import dataset, record, storage
from schemas.errors import ConfigError
from schemas.options import option

logger = logging.getLogger(__name__)


def build_metadata(summaries: Sequence[ShardSummary], info: Mapping[str, Any]) -> dict[str, Any]:
    """`metadata.json`: `info` (params, seed, source) plus counts, histograms and files."""
    metadata = {"schema_version": record.SCHEMA_VERSION, **info,
                "height": mnist_lib.IMAGE_SIZE, "compression": dataset.COMPRESSION,
                "counts": {}, "length_histogram": {}, "width_histogram": {}, "files": {}}
    for split in dataset.SPLITS:
        mine = sorted((s for s in summaries if s.plan.split == split), key=lambda s: s.plan.path)
        lengths, widths = {}, {}
        for summary in mine:
            lengths[summary.plan.length] = lengths.get(summary.plan.length, 0) + summary.plan.count
            for width, n in summary.widths.items():
                widths[width] = widths.get(width, 0) + n
        metadata["counts"][split] = sum(s.plan.count for s in mine)
        metadata["length_histogram"][split] = {str(k): lengths[k] for k in sorted(lengths)}
        metadata["width_histogram"][split] = {str(k): widths[k] for k in sorted(widths)}
        metadata["files"][split] = [
            {"path": s.plan.path, "records": s.plan.count, "length": s.plan.length,
             "max_width": s.plan.max_width, "bytes": s.bytes} for s in mine]
    return metadata


def _write_dataset_info(summaries: list[ShardSummary], stats: RowMoments, *, out_dir: str,
                        info: Mapping[str, Any]) -> str:
    storage.write_json(os.path.join(out_dir, dataset.STATS), stats.to_json())
    storage.write_json(os.path.join(out_dir, dataset.METADATA), build_metadata(summaries, info))
    dataset.finish(out_dir)
    return out_dir


class RenderDataset(beam.PTransform):
    """Renders the planned shards into `out_dir`, with `stats.json`, `metadata.json`, `COMPLETED`.

    Args:
      out_dir: the dataset directory (prepared by `prepare_output_dir`).
      mnist_location: where workers load MNIST from (see `pipelines.mnist`).
      params: how sequences look.
      seed: the global seed every shard's seed derives from.
      plans: the shards, from `sequences.plan_shards`.
      pools: per split, positions of the digits it may use in the loaded MNIST split.
      info: extra `metadata.json` entries (params, seed, source).
    """

    def __init__(self, *, out_dir: str, mnist_location: str, params: render_params.RenderParams,
                 seed: int, plans: Sequence[sequences.ShardPlan],
                 pools: Mapping[str, np.ndarray], info: Mapping[str, Any]):
        super().__init__()
        if not plans:
            raise ValueError("plans must not be empty")
        self._out_dir, self._location, self._params = out_dir, mnist_location, params
        self._seed, self._plans, self._pools, self._info = seed, list(plans), pools, dict(info)

    def expand(self, pbegin):
        shards = (pbegin
                  | "PlanShards" >> beam.Create(self._plans, reshuffle=False)
                  | "RenderShards" >> RenderShards(
                      out_dir=self._out_dir, mnist_location=self._location, params=self._params,
                      seed=self._seed, pools=self._pools))
        stats = shards[MOMENTS] | "TrainStats" >> beam.CombineGlobally(
            MergeRowMomentsFn(height=mnist_lib.IMAGE_SIZE))
        return (shards[SUMMARIES]
                | "CollectShards" >> beam.combiners.ToList()
                | "WriteDatasetInfo" >> beam.Map(
                    _write_dataset_info, beam.pvalue.AsSingleton(stats), out_dir=self._out_dir,
                    info=self._info))


def prepare_output_dir(out_dir: str, *, overwrite: bool) -> None:
    """Checks `out_dir` can take a new dataset; with `overwrite`, removes the old dataset's parts.

    Raises:
      ConfigError: it holds a dataset and `overwrite` is false, or it cannot be written.
    """
    import tensorflow as tf

    if dataset.is_dataset(out_dir):
        if not overwrite:
            raise ConfigError("out_dir", out_dir, "already holds a dataset; pass overwrite "
                              "to replace it", others=["overwrite"])
        for name in (dataset.COMPLETED, dataset.METADATA, dataset.STATS, dataset.TEMP,
                     *dataset.SPLITS):
            path = os.path.join(out_dir, name)
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            elif tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
    probe = os.path.join(out_dir, ".digitseq-write-test")
    try:
        tf.io.gfile.makedirs(out_dir)
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as err:
        reason = getattr(err, "message", None) or str(err)
        raise ConfigError("out_dir", out_dir, f"cannot write there ({reason})") from None


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """A render job: what to render, from which MNIST, and where.

    Attributes:
      out_dir: dataset directory (local or gs://).
      params: how sequences look
      train: training sequences.
      validation: validation sequences.
      test: test sequences.
      seed: the global seed every shard's seed derives from.
      shards: shards per sequence length per split (default: automatic, enough that no file's
        estimated size exceeds 128 MiB and at least 4; see pipelines.sequences).
      mnist: MNIST location: IDX directory, mnist.npz or 'sample' (default: $MNIST_DIR, else
        ~/.keras/datasets/mnist.npz, else the bundled sample).
      overwrite: replace a dataset already in the output directory.
    """

    out_dir: str = option(flag="--out")
    params: render_params.RenderParams = option(default_factory=render_params.RenderParams)
    train: int = 10000
    validation: int = 1000
    test: int = 2000
    seed: int = 0
    shards: int | None = None
    mnist: str | None = None
    overwrite: bool = False

    def __post_init__(self):
        for split, count in self.counts.items():
            if count < 0:
                raise ConfigError(split, count, "expected a count of 0 or more")
        if self.shards is not None and self.shards < 1:
            raise ConfigError("shards", self.shards, "expected at least 1")

    @property
    def counts(self) -> dict[str, int]:
        """Sequences per split."""
        return {split: getattr(self, split) for split in dataset.SPLITS}


def render_dataset(config: RenderConfig,
                   pipeline_options: PipelineOptions | None = None) -> dict[str, Any]:
    """Validates everything it can up front, runs the render pipeline, returns `metadata.json`."""
    mnist = mnist_lib.load(mnist_lib.default_location(config.mnist))
    sequences.check_pools(mnist, config.counts)
    plans = sequences.plan_shards(config.params, config.counts, seed=config.seed,
                                  shards=config.shards)
    pools = {split: sequences.digit_pool(getattr(mnist, sequences.source_split(split)), split)
             for split in dataset.SPLITS}
    prepare_output_dir(config.out_dir, overwrite=config.overwrite)
    info = {
        "params": {**dataclasses.asdict(config.params), "counts": config.counts,
                   "shards": config.shards},
        "seed": config.seed,
        "source": {"location": mnist.location, "kind": mnist.kind, "sha256": mnist.sha256},
    }
    logger.info("Rendering %s into %s: %d shards", config.counts, config.out_dir, len(plans))
    with beam.Pipeline(options=pipeline_options or PipelineOptions()) as pipeline:
        _ = pipeline | "RenderDataset" >> RenderDataset(
            out_dir=config.out_dir, mnist_location=mnist.location, params=config.params,
            seed=config.seed, plans=plans, pools=pools, info=info)
    return dataset.load_metadata(config.out_dir)
