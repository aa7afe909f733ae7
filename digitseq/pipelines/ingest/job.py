"""The ingest job: labeled image files -> the same dataset directory the render job writes.

    labels file (launcher) ----+
    image pattern (launcher) --+-> JoinLabels -> Normalize -> WriteShards -> CollectShards -+
                                        |            |  +-> train images -> TrainStats ------+-> Finish
                                        +------------+-----> rejected --> CollectRejected --+

The labels file is read and the image pattern matched on the launcher, so a labels file that
cannot be parsed or a pattern that matches nothing fails before the pipeline starts. Each image is
normalised by `pipelines.images` (the function `digitseq predict` uses on image files too); a
labels file that the image pattern matches is not an image of the dataset.
`Finish` writes `rejected.jsonl` (one row per rejected file: file, kind, reason), `stats.json`
over the train split, `metadata.json` (counts, histograms, files per split with path, records,
length, max_width and bytes; the labels file's sha256 and a digest of every ingested image's
sha256) and removes `.tmp`. The launcher claims the directory first and, once the pipeline has
finished, marks it `COMPLETED` (`pipelines.dataset_writer`), unless more than `max_rejected` of
the files were rejected: then the directory stays incomplete and the launcher raises.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from digitseq.core import storage
from digitseq.core.errors import ConfigError
from digitseq.pipelines import dataset_writer, images
from digitseq.pipelines import labels as labels_lib
from digitseq.pipelines.dataset_writer import WrittenShard
from digitseq.pipelines.ingest import steps
from digitseq.pipelines.ingest.config import IngestConfig
from digitseq.pipelines.statistics import RowMoments, RowMomentsFn
from digitseq.schemas import dataset

logger = logging.getLogger(__name__)

COMMAND = "digitseq ingest"


def build_metadata(
    shards: Sequence[WrittenShard], info: Mapping[str, Any], counts: Mapping[str, Any]
) -> dict[str, Any]:
    """`metadata.json`: the render job's keys, `ingest` (counts and rejections), and a digest of
    every ingested image's sha256 in `source`."""
    metadata = {
        **dataset_writer.build_metadata(shards, info, height=images.HEIGHT),
        "ingest": dict(counts),
    }
    ordered = sorted(shards, key=lambda s: s.path)
    metadata["source"] = {
        **metadata["source"],
        "images_sha256": hashlib.sha256(
            "".join(s.sources_sha256 for s in ordered).encode()
        ).hexdigest(),
    }
    return metadata


def _finish(
    shards: list[WrittenShard],
    rejects: list[dict],
    stats: RowMoments,
    *,
    out_dir: str,
    info: Mapping[str, Any],
) -> None:
    import tensorflow as tf

    rows = sorted(rejects, key=lambda r: (r["file"], r["kind"]))
    with (
        storage.atomic_file(os.path.join(out_dir, dataset.REJECTED)) as temp,
        tf.io.gfile.GFile(temp, "w") as f,
    ):
        f.write("".join(json.dumps(row) + "\n" for row in rows))
    dataset_writer.write_info(
        out_dir,
        stats=stats.to_json(),
        metadata=build_metadata(shards, info, steps.summary(shards, rows)),
    )


class IngestImages(beam.PTransform):
    """Image paths and label rows -> the dataset directory `out_dir` (see the module docstring).

    Args:
      out_dir: the dataset directory (claimed by `dataset_writer.claim_dataset`).
      paths: the matched image files, normalised (`labels.normalize_path`).
      rows: the labels file's rows.
      config: the job's options.
      info: extra `metadata.json` entries (params, source).
    """

    def __init__(
        self,
        *,
        out_dir: str,
        paths: Sequence[str],
        rows: Sequence[labels_lib.LabelRow],
        config: IngestConfig,
        info: Mapping[str, Any],
    ):
        super().__init__()
        if not paths and not rows:
            raise ValueError("paths and rows must not both be empty")
        self._out_dir, self._paths, self._rows = out_dir, list(paths), list(rows)
        self._config, self._info = config, dict(info)

    def expand(self, pbegin):
        config = self._config
        joined = {
            "images": pbegin | "MatchedImages" >> beam.Create(self._paths),
            "labels": pbegin | "LabelRows" >> beam.Create(self._rows),
        } | "JoinLabels" >> steps.JoinLabels(
            validation_fraction=config.validation_fraction, test_fraction=config.test_fraction
        )
        normalized = (
            joined[steps.RECORDS]
            | "Distribute" >> beam.Reshuffle()
            | "Normalize"
            >> beam.ParDo(steps.NormalizeFn(invert=config.invert, crop=config.crop)).with_outputs(
                steps.REJECTED, steps.TRAIN_IMAGES, main=steps.RECORDS
            )
        )
        stats = normalized[steps.TRAIN_IMAGES] | "TrainStats" >> beam.CombineGlobally(
            RowMomentsFn(height=images.HEIGHT)
        )
        rejects = (
            (joined[steps.REJECTED], normalized[steps.REJECTED])
            | "AllRejected" >> beam.Flatten()
            | "CollectRejected" >> beam.combiners.ToList()
        )
        return (
            normalized[steps.RECORDS]
            | "WriteShards" >> steps.WriteShards(out_dir=self._out_dir)
            | "CollectShards" >> beam.combiners.ToList()
            | "Finish"
            >> beam.Map(
                _finish,
                beam.pvalue.AsSingleton(rejects),
                beam.pvalue.AsSingleton(stats),
                out_dir=self._out_dir,
                info=self._info,
            )
        )


def match_images(pattern: str, *, labels: str) -> list[str]:
    """The files `pattern` matches, normalised, less the labels file itself.

    Raises:
      ConfigError: the pattern matches nothing else.
    """
    found = {
        labels_lib.normalize_path(f)
        for f in storage.match_files(pattern, field="images", expected="image files")
    }
    found.discard(labels_lib.normalize_path(labels))
    if not found:
        raise ConfigError("images", pattern, "matches only the labels file, expected image files")
    return sorted(found)


def ingest_dataset(
    config: IngestConfig, pipeline_options: PipelineOptions | None = None
) -> dict[str, Any]:
    """Validates the inputs, runs the ingest pipeline, returns `metadata.json`.

    Raises:
      InvalidInputError: the labels file cannot be parsed (naming line and column).
      ConfigError: the pattern matches nothing, the output directory cannot take the dataset,
        or more than `max_rejected` of the files were rejected (the dataset has no COMPLETED).
    """
    rows, labels_sha = labels_lib.read_labels(config.labels)
    paths = match_images(config.images, labels=config.labels)
    with dataset_writer.claim_dataset(
        config.out_dir,
        overwrite=config.overwrite,
        command=COMMAND,
        clear_claim=config.clear_claim,
        parts=(dataset.REJECTED,),
    ) as claim:
        info = {
            "params": {
                "mode": "ingest",
                "invert": config.invert,
                "crop": config.crop,
                "validation_fraction": config.validation_fraction,
                "test_fraction": config.test_fraction,
                "max_rejected": config.max_rejected,
            },
            "seed": None,
            "source": {
                "kind": "images",
                "location": config.images,
                "labels": config.labels,
                "labels_sha256": labels_sha,
            },
        }
        logger.info(
            "Ingesting %d images and %d label rows into %s", len(paths), len(rows), config.out_dir
        )
        with beam.Pipeline(options=pipeline_options or PipelineOptions()) as pipeline:
            _ = pipeline | "IngestImages" >> IngestImages(
                out_dir=config.out_dir, paths=paths, rows=rows, config=config, info=info
            )
        counts = storage.read_json(os.path.join(config.out_dir, dataset.METADATA))["ingest"]
        if counts["rejected"] <= config.max_rejected * counts["inputs"]:
            dataset_writer.complete(claim)
    if counts["rejected"] > config.max_rejected * counts["inputs"]:
        kinds = ", ".join(f"{k} {n}" for k, n in counts["rejected_by_kind"].items())
        raise ConfigError(
            "max_rejected",
            config.max_rejected,
            f"{counts['rejected']} of {counts['inputs']} files rejected "
            f"({counts['rejected'] / counts['inputs']:.1%}: {kinds}), more than allowed; see "
            f"{os.path.join(config.out_dir, dataset.REJECTED)} (the dataset has no "
            f"{dataset.COMPLETED})",
        )
    return dataset.load_metadata(config.out_dir)
