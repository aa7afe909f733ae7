"""The ingest job's steps: join images with labels, normalise, bucket by width, write shards.

    image paths --+                                       +-> records -> AssignShards -> GroupByKey
                  +-> JoinLabels -> items -> Normalize -+-> train images (statistics)   -> WriteShards
    label rows ---+        |                            +-> rejected
                           +-> rejected

Every file named by the image pattern or the labels file comes out of `JoinLabels` either as a
`LabeledImage` to normalise or as a rejected row; every `LabeledImage` comes out of `Normalize`
as an `EncodedRecord` or a rejected row. Nothing depends on bundles: a shard is one GroupByKey
element written in one call (`pipelines.dataset_writer.write_shard`: temporary file under
`<out>/.tmp`, renamed), its records sorted by id, so a retried element writes the same file
again. Shard numbers come from the record counts
per (split, length, width bucket), which every worker sees as the same side input.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from digitseq.core import storage
from digitseq.pipelines import dataset_writer, images
from digitseq.pipelines import labels as labels_lib
from digitseq.pipelines.labels import LabelRow
from digitseq.schemas import dataset, record

BUCKET = 28
"""Width buckets are multiples of this many columns (one MNIST digit box)."""
RECORDS, REJECTED, TRAIN_IMAGES = "records", "rejected", "train_images"
NAMESPACE = "digitseq.ingest"


@dataclasses.dataclass(frozen=True)
class LabeledImage:
    """An image file matched with its label and split, to normalise."""

    name: str
    path: str
    label: tuple[int, ...]
    split: str


@dataclasses.dataclass(frozen=True)
class EncodedRecord:
    """A normalised, serialized record and what the shard layout needs of it."""

    name: str
    split: str
    length: int
    width: int
    sha256: str
    serialized: bytes


def reject(kind: str, file: str, reason: str) -> beam.pvalue.TaggedOutput:
    """Counts a rejected file (counter `rejected_<kind>`) and returns its `rejected.jsonl` row as
    a `REJECTED` output."""
    Metrics.counter(NAMESPACE, f"rejected_{kind}").inc()
    return beam.pvalue.TaggedOutput(REJECTED, {"file": file, "kind": kind, "reason": reason})


def hash_split(name: str, *, validation_fraction: float, test_fraction: float) -> str:
    """A split drawn from the file name alone: the same name always lands in the same split."""
    draw = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2.0**64
    if draw < test_fraction:
        return "test"
    return "validation" if draw < test_fraction + validation_fraction else "train"


def bucket(width: int) -> int:
    return BUCKET * math.ceil(width / BUCKET)


class MatchLabelsFn(beam.DoFn):
    """`(path, {"images": [...], "labels": [LabelRow...]})` -> `LabeledImage`, or a rejected row.

    The fractions come from a validated `IngestConfig`."""

    def __init__(self, *, validation_fraction: float, test_fraction: float):
        super().__init__()
        self._fractions = {
            "validation_fraction": validation_fraction,
            "test_fraction": test_fraction,
        }
        self._matched = Metrics.counter(NAMESPACE, "images_labeled")

    def process(self, element):
        path, grouped = element
        found, rows = list(grouped["images"]), sorted(grouped["labels"], key=lambda r: r.line)
        if not rows:
            yield reject("no_label", path, "image without a row in the labels file")
            return
        row: LabelRow = rows[0]
        trouble = labels_lib.problem(rows)
        if trouble and trouble[0] == labels_lib.DUPLICATE:
            yield reject(trouble[0], row.name, trouble[1])
        elif not found:
            yield reject(
                "no_image",
                row.name,
                f"labels file line {row.line}: no such file among the images matched ({path})",
            )
        elif trouble:
            yield reject(trouble[0], row.name, trouble[1])
        elif row.split is not None and row.split not in dataset.SPLITS:
            yield reject(
                "bad_split",
                row.name,
                f"labels file line {row.line}: split {row.split!r}, "
                f"expected one of {', '.join(dataset.SPLITS)}",
            )
        else:
            self._matched.inc()
            yield LabeledImage(
                name=row.name,
                path=path,
                label=tuple(int(c) for c in row.label),
                split=row.split or hash_split(row.name, **self._fractions),
            )


class JoinLabels(beam.PTransform):
    """`{"images": paths, "labels": LabelRow}` -> `LabeledImage`s (main) and rejected rows
    (`REJECTED`)."""

    def __init__(self, *, validation_fraction: float, test_fraction: float):
        super().__init__()
        self._fn = MatchLabelsFn(
            validation_fraction=validation_fraction, test_fraction=test_fraction
        )

    def expand(self, inputs):
        keyed = {
            "images": inputs["images"] | "KeyImages" >> beam.Map(lambda p: (p, p)),
            "labels": inputs["labels"] | "KeyLabels" >> beam.Map(lambda r: (r.path, r)),
        }
        return (
            keyed
            | "ByPath" >> beam.CoGroupByKey()
            | "Match" >> beam.ParDo(self._fn).with_outputs(REJECTED, main=RECORDS)
        )


class NormalizeFn(beam.DoFn):
    """`LabeledImage` -> `EncodedRecord` (main), its image for train statistics (`TRAIN_IMAGES`),
    or a rejected row (`REJECTED`) when the file cannot be read or decoded or has no ink."""

    def __init__(self, *, invert: images.Invert, crop: bool):
        super().__init__()
        self._invert, self._crop = invert, crop
        self._records = Metrics.counter(NAMESPACE, "records")

    def setup(self):
        import tensorflow as tf

        self._tf = tf

    def process(self, item: LabeledImage):
        from digitseq.core.errors import InvalidInputError

        try:
            data = storage.read_bytes(item.path)
            grey = images.decode(data, where=item.name)
            image = images.normalize(grey, invert=self._invert, crop=self._crop, where=item.name)
        except self._tf.errors.OpError as err:
            yield reject("unreadable", item.name, f"cannot read ({err.message})")
            return
        except InvalidInputError as err:
            kind = "no_ink" if isinstance(err, images.NoInkError) else "unreadable"
            yield reject(kind, item.name, str(err))
            return
        serialized = record.to_example(
            record_id=item.name,
            image=image,
            label=item.label,
            source_index=None,
            source_file=item.name,
            source_size=grey.shape,
        )
        self._records.inc()
        yield EncodedRecord(
            name=item.name,
            split=item.split,
            length=len(item.label),
            width=image.shape[1],
            sha256=images.sha256(data),
            serialized=serialized,
        )
        if item.split == "train":
            yield beam.pvalue.TaggedOutput(TRAIN_IMAGES, image)


def plan_layout(counts: Iterable[tuple[tuple[str, int, int], int]]) -> dict:
    """`((split, length, bucket), records)` -> `{group: (first shard, shards, split's shards)}`.

    Each group gets as many shards as keep every file's estimated size under
    `dataset_writer.MAX_SHARD_BYTES`; shards are numbered per split in group order.
    """
    layout, totals = {}, collections.Counter()
    for group, count in sorted(counts):
        split, length, max_width = group
        shards = dataset_writer.automatic_shards(
            count, dataset_writer.estimated_record_bytes(length, max_width), minimum=1
        )
        layout[group] = (totals[split], shards)
        totals[split] += shards
    return {group: (first, shards, totals[group[0]]) for group, (first, shards) in layout.items()}


def _shard_key(encoded: EncodedRecord, layout: dict) -> tuple[tuple, EncodedRecord]:
    group = (encoded.split, encoded.length, bucket(encoded.width))
    first, shards, total = layout[group]
    draw = int.from_bytes(hashlib.sha256(encoded.name.encode()).digest()[:8], "big")
    path = dataset.shard_path(encoded.split, group[2], first + draw % shards, total)
    return (path, *group), encoded


class WriteShardFn(beam.DoFn):
    """`((path, split, length, max_width), EncodedRecord...)` -> the file at `path` ->
    `dataset_writer.WrittenShard`."""

    def __init__(self, *, out_dir: str):
        super().__init__()
        self._out_dir = out_dir
        self._shards = Metrics.counter(NAMESPACE, "shards_written")
        self._bytes = Metrics.counter(NAMESPACE, "bytes_written")

    def process(self, element):
        (path, split, length, max_width), members = element
        members = sorted(members, key=lambda e: e.name)
        size = dataset_writer.write_shard(
            (e.serialized for e in members), out_dir=self._out_dir, path=path
        )
        digest = hashlib.sha256("".join(f"{e.name}\t{e.sha256}\n" for e in members).encode())
        self._shards.inc()
        self._bytes.inc(size)
        yield dataset_writer.WrittenShard(
            path=path,
            split=split,
            length=length,
            max_width=max_width,
            records=len(members),
            bytes=size,
            widths=dict(collections.Counter(e.width for e in members)),
            sources_sha256=digest.hexdigest(),
        )


class WriteShards(beam.PTransform):
    """`EncodedRecord`s -> width-bucketed shards under `out_dir` -> `WrittenShard` per file."""

    def __init__(self, *, out_dir: str):
        super().__init__()
        self._fn = WriteShardFn(out_dir=out_dir)

    def expand(self, encoded):
        layout = (
            encoded
            | "GroupOf" >> beam.Map(lambda e: ((e.split, e.length, bucket(e.width)), 1))
            | "CountGroups" >> beam.CombinePerKey(sum)
            | "CollectCounts" >> beam.combiners.ToList()
            | "PlanLayout" >> beam.Map(plan_layout)
        )
        return (
            encoded
            | "AssignShards" >> beam.Map(_shard_key, beam.pvalue.AsSingleton(layout))
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(self._fn)
        )


def summary(
    shards: list[dataset_writer.WrittenShard], rejects: list[dict[str, Any]]
) -> dict[str, Any]:
    """Counts for `metadata.json` and the printed summary."""
    records = sum(s.records for s in shards)
    kinds = collections.Counter(r["kind"] for r in rejects)
    return {
        "inputs": records + len(rejects),
        "records": records,
        "rejected": len(rejects),
        "rejected_by_kind": dict(sorted(kinds.items())),
    }
