"""The render job: MNIST -> digit sequences -> sharded GZIP TFRecords + statistics + metadata.

    plans -> Reshuffle -> RenderAndWrite -+-> WrittenShard per shard --------> CollectShards -+
                          (one plan, one  +-> RowMoments per train shard -> TrainStats -------+-> WriteDatasetInfo
                           call, one file)

Shards are planned up front (`pipelines.render.planning`) and carry their own seeds, so the files
are byte-identical whatever the runner and the number of workers. `RenderShardFn.process` draws a
plan's sequences, renders, serializes and writes all of them inside that one call, as TensorFlow
Datasets' Beam writer writes a shard from one element; so nothing depends on how a runner cuts
bundles, and no state lives across calls. Records stream from rendering to the file, so a worker
holds one record at a time, not a shard. For the train split the same call emits the shard's
exact `RowMoments` (output `MOMENTS`), so the statistics need no second pass over the images.

The launcher claims the output directory before the pipeline starts and marks it `COMPLETED`
after it has finished and been verified (`pipelines.dataset_writer`); an interrupted job leaves no
`COMPLETED`.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.utils import shared

from digitseq.pipelines import dataset_writer
from digitseq.pipelines.render import drawing, planning
from digitseq.pipelines.render import fonts as fonts_lib
from digitseq.pipelines.render import mnist as mnist_lib
from digitseq.pipelines.render import params as params_lib
from digitseq.pipelines.render.config import RenderConfig
from digitseq.pipelines.statistics import MergeRowMomentsFn, RowMomentsFn
from digitseq.schemas import dataset, record

logger = logging.getLogger(__name__)

SHARDS, MOMENTS = "shards", "moments"
NAMESPACE = "digitseq.render"
COMMAND = "digitseq render"

_MNIST_HANDLE = shared.Shared()


class _Loaded:
    """A weak-referenceable holder, as `shared.Shared` requires."""

    def __init__(self, value):
        self.value = value


class RenderShardFn(beam.DoFn):
    """`ShardPlan` -> its file under `out_dir`; emits a `WrittenShard` and, for the train split,
    the shard's `RowMoments` (output `MOMENTS`).

    Args:
      out_dir: the dataset directory.
      mnist_location: where workers load MNIST from (see `pipelines.render.mnist`); loaded once
        per worker process.
      params: how sequences look.
      seed: the global seed.
      pools: per split, positions of the digits it may use in the loaded MNIST split.
      fonts: the font glyphs, read on the launcher (`pipelines.render.fonts.load`), when
        `params.font_fraction` is above 0.
    """

    def __init__(
        self,
        *,
        out_dir: str,
        mnist_location: str,
        params: params_lib.RenderParams,
        seed: int,
        pools: Mapping[str, np.ndarray],
        fonts: fonts_lib.FontGlyphs | None = None,
    ):
        super().__init__()
        self._out_dir, self._location, self._params = out_dir, mnist_location, params
        self._seed, self._pools, self._fonts = seed, dict(pools), fonts
        self._records = Metrics.counter(NAMESPACE, "records_written")
        self._shards = Metrics.counter(NAMESPACE, "shards_written")
        self._bytes = Metrics.counter(NAMESPACE, "bytes_written")
        self._squeezed = Metrics.counter(NAMESPACE, "scans_squeezed")

    def setup(self):
        self._mnist = _MNIST_HANDLE.acquire(
            lambda: _Loaded(mnist_lib.load(self._location)), tag=self._location
        )

    def process(self, plan: planning.ShardPlan):
        source = getattr(self._mnist.value, planning.source_split(plan.split))
        widths = collections.Counter()
        stats = RowMomentsFn(height=mnist_lib.IMAGE_SIZE) if plan.split == "train" else None
        accumulator = stats.create_accumulator() if stats else None

        def serialized():
            for rendered in drawing.render_shard(
                plan,
                self._params,
                seed=self._seed,
                pool=self._pools[plan.split],
                mnist_split=source,
                fonts=self._fonts,
            ):
                widths[rendered.image.shape[1]] += 1
                if rendered.squeezed:
                    self._squeezed.inc()
                if stats:
                    stats.add_input(accumulator, rendered.image)
                yield record.to_example(
                    record_id=rendered.record_id,
                    image=rendered.image,
                    label=rendered.label,
                    source_index=rendered.source_index,
                    digit_left=rendered.digit_left,
                )

        size = dataset_writer.write_shard(serialized(), out_dir=self._out_dir, path=plan.path)
        self._records.inc(plan.count)
        self._shards.inc()
        self._bytes.inc(size)
        yield dataset_writer.WrittenShard(
            path=plan.path,
            split=plan.split,
            length=plan.length,
            max_width=plan.max_width,
            records=plan.count,
            bytes=size,
            widths=dict(widths),
        )
        if stats:
            yield beam.pvalue.TaggedOutput(MOMENTS, stats.extract_output(accumulator))


class RenderShards(beam.PTransform):
    """`ShardPlan`s -> their files; returns `{SHARDS: WrittenShard per shard, MOMENTS:
    RowMoments per train shard}`. Takes the `RenderShardFn` arguments."""

    def __init__(self, **kwargs: Any):
        super().__init__()
        self._fn = RenderShardFn(**kwargs)

    def expand(self, plans):
        outputs = (
            plans
            | "DistributeShards" >> beam.Reshuffle()
            | "RenderAndWrite" >> beam.ParDo(self._fn).with_outputs(MOMENTS, main=SHARDS)
        )
        return {SHARDS: outputs[SHARDS], MOMENTS: outputs[MOMENTS]}


def _write_dataset_info(
    shards: list[dataset_writer.WrittenShard], stats, *, out_dir: str, info: Mapping[str, Any]
) -> None:
    metadata = dataset_writer.build_metadata(shards, info, height=mnist_lib.IMAGE_SIZE)
    dataset_writer.write_info(out_dir, stats=stats.to_json(), metadata=metadata)


class RenderDataset(beam.PTransform):
    """Renders the planned shards into `out_dir`, with `stats.json` and `metadata.json` (the
    launcher writes `COMPLETED`, `dataset_writer.complete`).

    Args:
      out_dir: the dataset directory (claimed by `dataset_writer.claim_dataset`).
      mnist_location: where workers load MNIST from (see `pipelines.render.mnist`).
      params: how sequences look.
      seed: the global seed every shard's seed derives from.
      plans: the shards, from `planning.plan_shards` (at least one).
      pools: per split, positions of the digits it may use in the loaded MNIST split.
      info: extra `metadata.json` entries (params, seed, source).
      fonts: the font glyphs when `params.font_fraction` is above 0.
    """

    def __init__(
        self,
        *,
        out_dir: str,
        mnist_location: str,
        params: params_lib.RenderParams,
        seed: int,
        plans: Sequence[planning.ShardPlan],
        pools: Mapping[str, np.ndarray],
        info: Mapping[str, Any],
        fonts: fonts_lib.FontGlyphs | None = None,
    ):
        super().__init__()
        self._out_dir, self._location, self._params = out_dir, mnist_location, params
        self._seed, self._plans, self._pools, self._info = seed, list(plans), pools, dict(info)
        self._fonts = fonts

    def expand(self, pbegin):
        shards = (
            pbegin
            | "PlanShards" >> beam.Create(self._plans, reshuffle=False)
            | "RenderShards"
            >> RenderShards(
                out_dir=self._out_dir,
                mnist_location=self._location,
                params=self._params,
                seed=self._seed,
                pools=self._pools,
                fonts=self._fonts,
            )
        )
        stats = shards[MOMENTS] | "TrainStats" >> beam.CombineGlobally(
            MergeRowMomentsFn(height=mnist_lib.IMAGE_SIZE)
        )
        return (
            shards[SHARDS]
            | "CollectShards" >> beam.combiners.ToList()
            | "WriteDatasetInfo"
            >> beam.Map(
                _write_dataset_info,
                beam.pvalue.AsSingleton(stats),
                out_dir=self._out_dir,
                info=self._info,
            )
        )


def render_dataset(
    config: RenderConfig, pipeline_options: PipelineOptions | None = None
) -> dict[str, Any]:
    """Validates everything it can up front, runs the render pipeline, returns `metadata.json`."""
    mnist = mnist_lib.load(mnist_lib.default_location(config.mnist))
    planning.check_pools(mnist, config.counts)
    fonts = fonts_lib.load(config.fonts) if config.fonts is not None else None
    if fonts is not None:
        fonts.check_splits(config.counts)
    plans = planning.plan_shards(
        config.params, config.counts, seed=config.seed, shards=config.shards
    )
    pools = {
        split: planning.digit_pool(getattr(mnist, planning.source_split(split)), split)
        for split in dataset.SPLITS
    }
    with dataset_writer.claim_dataset(
        config.out_dir, overwrite=config.overwrite, command=COMMAND, clear_claim=config.clear_claim
    ) as claim:
        info = {
            "params": {
                **config.params.metadata(),
                "counts": config.counts,
                "shards": config.shards,
            },
            "seed": config.seed,
            "source": {"location": mnist.location, "kind": mnist.kind, "sha256": mnist.sha256},
            **({"fonts": fonts.metadata()} if fonts is not None else {}),
        }
        logger.info("Rendering %s into %s: %d shards", config.counts, config.out_dir, len(plans))
        with beam.Pipeline(options=pipeline_options or PipelineOptions()) as pipeline:
            _ = pipeline | "RenderDataset" >> RenderDataset(
                out_dir=config.out_dir,
                mnist_location=mnist.location,
                params=config.params,
                seed=config.seed,
                plans=plans,
                pools=pools,
                info=info,
                fonts=fonts,
            )
        dataset_writer.complete(claim)
    return dataset.load_metadata(config.out_dir)
