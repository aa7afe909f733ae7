"""The ingest job: labeled image files -> the same dataset directory the render job writes.

    labels file (launcher) ----+
    image pattern (launcher) --+-> JoinLabels -> Normalize -> WriteShards -> CollectShards -+
                                        |            |  +-> train images -> TrainStats ------+-> Finish
                                        +------------+-----> rejected --> CollectRejected --+

The labels file is read and the image pattern matched on the launcher, so a labels file that
cannot be parsed or a pattern that matches nothing fails before the pipeline starts. Each image is
normalised by `pipelines.images` (the function `digitseq predict` uses on image files too).
`Finish` writes `rejected.jsonl` (one row per rejected file: file, kind, reason), `stats.json`
over the train split, `metadata.json` (counts, histograms, files per split with path, records,
length, max_width and bytes; the labels file's sha256 and a digest of every ingested image's
sha256), removes `.tmp`, and writes `COMPLETED` last, unless more than `max_rejected` of the
files were rejected: then the directory stays incomplete and the launcher raises.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Any, Mapping, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import images, ingest_steps, labels as labels_lib
from pipelines.ingest_steps import IngestShard
from pipelines.render import prepare_output_dir
from pipelines.stats import RowMoments, RowMomentsFn
from schemas import dataset, record, storage
from schemas.errors import ConfigError
from schemas.options import check_choice, option

logger = logging.getLogger(__name__)

REJECTED = "rejected.jsonl"


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """An ingest job: labeled image files into a dataset directory.

    Attributes:
      images: image files (PNG, JPEG, BMP, GIF), a glob pattern any tf.io.gfile path takes.
      labels: labels file: CSV with header file,label[,split] or JSON Lines with those keys;
        file relative to the labels file's folder.
      out_dir: dataset directory (local or gs://).
      validation_fraction: share of files without a split column that go to validation (drawn
        from a hash of the file name).
      test_fraction: share of files without a split column that go to test.
      invert: polarity: auto (from the border pixels), yes (dark ink on light: invert), no.
      crop: crop each image to its ink with a margin before resizing.
      max_rejected: the job fails (no COMPLETED) when a larger share of files is rejected.
      overwrite: replace a dataset already in the output directory.
    """

    images: str
    labels: str
    out_dir: str = option(flag="--out")
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    invert: str = option("auto", choices=images.INVERT_CHOICES)
    crop: bool = True
    max_rejected: float = 0.01
    overwrite: bool = False

    def __post_init__(self):
        for name in ("validation_fraction", "test_fraction", "max_rejected"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(name, value, "expected a fraction from 0 to 1")
        if self.validation_fraction + self.test_fraction > 1.0:
            raise ConfigError("test_fraction", self.test_fraction,
                              f"expected at most 1 - validation_fraction "
                              f"({1.0 - self.validation_fraction:g})",
                              others=["validation_fraction"])
        check_choice("invert", self.invert, images.INVERT_CHOICES)


def build_metadata(shards: Sequence[IngestShard], info: Mapping[str, Any],
                   counts: Mapping[str, Any]) -> dict[str, Any]:
    """`metadata.json`, with the render job's keys plus `ingest` (counts and rejections)."""
    metadata = {"schema_version": record.SCHEMA_VERSION, **info, "height": images.HEIGHT,
                "compression": dataset.COMPRESSION, "counts": {}, "length_histogram": {},
                "width_histogram": {}, "files": {}, "ingest": dict(counts)}
    for split in dataset.SPLITS:
        mine = sorted((s for s in shards if s.split == split), key=lambda s: s.path)
        lengths, widths = {}, {}
        for shard in mine:
            lengths[shard.length] = lengths.get(shard.length, 0) + shard.records
            for width, n in shard.widths.items():
                widths[width] = widths.get(width, 0) + n
        metadata["counts"][split] = sum(s.records for s in mine)
        metadata["length_histogram"][split] = {str(k): lengths[k] for k in sorted(lengths)}
        metadata["width_histogram"][split] = {str(k): widths[k] for k in sorted(widths)}
        metadata["files"][split] = [
            {"path": s.path, "records": s.records, "length": s.length,
             "max_width": s.max_width, "bytes": s.bytes} for s in mine]
    ordered = sorted(shards, key=lambda s: s.path)
    metadata["source"]["images_sha256"] = hashlib.sha256(
        "".join(s.sources_sha256 for s in ordered).encode()).hexdigest()
    return metadata


def _finish(shards: list[IngestShard], rejects: list[dict], stats: RowMoments, *, out_dir: str,
            info: Mapping[str, Any], max_rejected: float) -> dict[str, Any]:
    import tensorflow as tf

    rows = sorted(rejects, key=lambda r: (r["file"], r["kind"]))
    with tf.io.gfile.GFile(os.path.join(out_dir, REJECTED), "w") as f:
        f.write("".join(json.dumps(row) + "\n" for row in rows))
    counts = ingest_steps.summary(shards, rows)
    stats_json = stats.to_json() if stats.count else {
        "count": 0, "mean": [0.0] * images.HEIGHT, "std": [0.0] * images.HEIGHT,
        "global_mean": 0.0, "global_std": 0.0}
    storage.write_json(os.path.join(out_dir, dataset.STATS), stats_json)
    storage.write_json(os.path.join(out_dir, dataset.METADATA),
                       build_metadata(shards, info, counts))
    dataset.finish(out_dir, complete=counts["rejected"] <= max_rejected * counts["inputs"])
    return counts


class IngestImages(beam.PTransform):
    """Image paths and label rows -> the dataset directory `out_dir` (see the module docstring).

    Args:
      out_dir: the dataset directory (prepared by `prepare`).
      paths: the matched image files, normalised (`labels.normalize_path`).
      rows: the labels file's rows.
      config: the job's options.
      info: extra `metadata.json` entries (params, source).
    """

    def __init__(self, *, out_dir: str, paths: Sequence[str],
                 rows: Sequence[labels_lib.LabelRow], config: IngestConfig,
                 info: Mapping[str, Any]):
        super().__init__()
        if not paths and not rows:
            raise ValueError("paths and rows must not both be empty")
        self._out_dir, self._paths, self._rows = out_dir, list(paths), list(rows)
        self._config, self._info = config, dict(info)

    def expand(self, pbegin):
        config = self._config
        joined = ({"images": pbegin | "MatchedImages" >> beam.Create(self._paths),
                   "labels": pbegin | "LabelRows" >> beam.Create(self._rows)}
                  | "JoinLabels" >> ingest_steps.JoinLabels(
                      validation_fraction=config.validation_fraction,
                      test_fraction=config.test_fraction))
        normalized = (joined[ingest_steps.RECORDS]
                      | "Distribute" >> beam.Reshuffle()
                      | "Normalize" >> beam.ParDo(ingest_steps.NormalizeFn(
                          invert=config.invert, crop=config.crop)).with_outputs(
                          ingest_steps.REJECTED, ingest_steps.TRAIN_IMAGES,
                          main=ingest_steps.RECORDS))
        stats = (normalized[ingest_steps.TRAIN_IMAGES]
                 | "TrainStats" >> beam.CombineGlobally(RowMomentsFn(height=images.HEIGHT)))
        rejects = ((joined[ingest_steps.REJECTED], normalized[ingest_steps.REJECTED])
                   | "AllRejected" >> beam.Flatten()
                   | "CollectRejected" >> beam.combiners.ToList())
        return (normalized[ingest_steps.RECORDS]
                | "WriteShards" >> ingest_steps.WriteShards(out_dir=self._out_dir)
                | "CollectShards" >> beam.combiners.ToList()
                | "Finish" >> beam.Map(
                    _finish, beam.pvalue.AsSingleton(rejects), beam.pvalue.AsSingleton(stats),
                    out_dir=self._out_dir, info=self._info,
                    max_rejected=config.max_rejected))


def match_images(pattern: str) -> list[str]:
    """The files `pattern` matches, normalised; a pattern matching none is a `ConfigError`."""
    import tensorflow as tf

    storage.ensure_filesystem(pattern)
    try:
        found = [f for f in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(f)]
    except tf.errors.OpError as err:
        raise ConfigError("images", pattern, f"cannot list it ({err.message})") from None
    if not found:
        raise ConfigError("images", pattern, "matches no files, expected image files")
    return sorted({labels_lib.normalize_path(f) for f in found})


def prepare(out_dir: str, *, overwrite: bool) -> None:
    """`render.prepare_output_dir`, also removing an earlier ingest's `rejected.jsonl`."""
    import tensorflow as tf

    prepare_output_dir(out_dir, overwrite=overwrite)
    if tf.io.gfile.exists(os.path.join(out_dir, REJECTED)):
        if not overwrite:
            raise ConfigError("out_dir", out_dir, f"holds {REJECTED} of an earlier ingest; pass "
                              f"overwrite to replace it", others=["overwrite"])
        tf.io.gfile.remove(os.path.join(out_dir, REJECTED))


def ingest_dataset(config: IngestConfig,
                   pipeline_options: PipelineOptions | None = None) -> dict[str, Any]:
    """Validates the inputs, runs the ingest pipeline, returns `metadata.json`.

    Raises:
      InvalidInputError: the labels file cannot be parsed (naming line and column).
      ConfigError: the pattern matches nothing, the output directory cannot take the dataset,
        or more than `max_rejected` of the files were rejected (the dataset has no COMPLETED).
    """
    import tensorflow as tf

    rows, labels_sha = labels_lib.read_labels(config.labels)
    paths = match_images(config.images)
    prepare(config.out_dir, overwrite=config.overwrite)
    info = {
        "params": {"mode": "ingest", "invert": config.invert, "crop": config.crop,
                   "validation_fraction": config.validation_fraction,
                   "test_fraction": config.test_fraction, "max_rejected": config.max_rejected},
        "seed": None,
        "source": {"kind": "images", "location": config.images,
                   "labels": config.labels, "labels_sha256": labels_sha},
    }
    logger.info("Ingesting %d images and %d label rows into %s", len(paths), len(rows),
                config.out_dir)
    with beam.Pipeline(options=pipeline_options or PipelineOptions()) as pipeline:
        _ = pipeline | "IngestImages" >> IngestImages(
            out_dir=config.out_dir, paths=paths, rows=rows, config=config, info=info)
    if not tf.io.gfile.exists(os.path.join(config.out_dir, dataset.COMPLETED)):
        counts = storage.read_json(os.path.join(config.out_dir, dataset.METADATA))["ingest"]
        kinds = ", ".join(f"{k} {n}" for k, n in counts["rejected_by_kind"].items())
        raise ConfigError(
            "max_rejected", config.max_rejected,
            f"{counts['rejected']} of {counts['inputs']} files rejected "
            f"({counts['rejected'] / counts['inputs']:.1%}: {kinds}), more than allowed; see "
            f"{os.path.join(config.out_dir, REJECTED)} (the dataset has no {dataset.COMPLETED})")
    return dataset.load_metadata(config.out_dir)
