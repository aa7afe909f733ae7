"""Writing a dataset directory: what every job that writes one shares (render, ingest).

    prepare (launcher: claim) -> shards, each written -> write_info -> complete (launcher: verify,
                                 in one call through .tmp   (stats,      COMPLETED, release the claim)
                                                             metadata)

- `prepare`: the launcher claims the directory for the job (`core.claims`: a second job on
  it fails, naming this one), then checks it can take a new dataset; with `overwrite` it removes
  an earlier dataset's parts (never another running job's: the claim comes first).
- `write_shard`: one GZIP TFRecord file, written through `core.storage.atomic_file` with its
  temporary name under `<out>/.tmp/` (`schemas.dataset.TEMP`), so no pattern over a split
  directory sees it half-written; the GZIP stream records no name or time, so writing the same
  records again gives the same bytes. A worker killed mid-write leaves at most a file in `.tmp`.
- Shard sizing (`automatic_shards`): as TensorFlow Datasets sizes its shards, enough that no
  file's estimated size exceeds `MAX_SHARD_BYTES`. The estimate (`estimated_record_bytes`) is
  a conservative bound on a record's GZIP bytes (the measurements behind it: bench/README.md).
- `write_info`, the pipeline's last step: `stats.json` and `metadata.json` (`build_metadata`:
  counts, histograms, files), then removes `.tmp`.
- `complete`, on the launcher once the pipeline has finished: checks that the job still holds its
  claim, that every file `metadata.json` lists is there with the size the job wrote, and that the
  split directories hold no other file; then writes `COMPLETED`, last.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from digitseq.core import claims, storage
from digitseq.core.errors import InvalidInputError
from digitseq.schemas import dataset, record

MAX_SHARD_BYTES = 128 * 2**20
"""The largest estimated file size of an automatically sized shard (128 MiB)."""
MIN_SHARDS = 4
"""Rendered lengths get at least this many shards (when they have that many sequences), so a few
workers share a small job."""
BYTES_PER_PIXEL = 0.65
RECORD_BYTES = 160
DIGIT_BYTES = 8


@dataclasses.dataclass(frozen=True)
class WrittenShard:
    """One written shard file, for `metadata.json` and the check before `COMPLETED`.

    Attributes:
      path: relative to the dataset directory.
      split, length, max_width: its bucket.
      records: records in it.
      bytes: the file's size.
      widths: `{width: records}`.
      sources_sha256: ingest only: digest of its records' source files.
    """

    path: str
    split: str
    length: int
    max_width: int
    records: int
    bytes: int
    widths: Mapping[int, int]
    sources_sha256: str | None = None


def estimated_record_bytes(length: int, max_width: int, height: int = 28) -> int:
    """A conservative estimate of the GZIP bytes of a record of `length` digits in bucket
    `max_width`: `BYTES_PER_PIXEL` of the widest image's pixels, plus `RECORD_BYTES` for the id,
    scalar features and framing and `DIGIT_BYTES` per digit, both as if uncompressed."""
    return math.ceil(BYTES_PER_PIXEL * height * max_width) + RECORD_BYTES + DIGIT_BYTES * length


def automatic_shards(count: int, record_bytes: int, *, minimum: int = MIN_SHARDS) -> int:
    """How many shards `count` records of about `record_bytes` each need: enough that none holds
    more than `MAX_SHARD_BYTES`, at least `minimum`, at most one per record."""
    per_shard = max(1, MAX_SHARD_BYTES // record_bytes)
    return min(count, max(minimum, math.ceil(count / per_shard)))


def claim_dataset(
    out_dir: str,
    *,
    overwrite: bool,
    command: str,
    clear_claim: bool = False,
    parts: Sequence[str] = (),
) -> contextlib.AbstractContextManager[claims.Claim]:
    """Claims `out_dir` for a new dataset job and readies it, for the duration of a `with`
    block (`claims.claimed`): `with claim_dataset(...) as claim:`.

    Args:
      out_dir: the dataset directory.
      overwrite: remove an earlier dataset's parts (the standard ones plus `parts`).
      command: names the job in the claim (`digitseq render`).
      clear_claim: clear a stale claim first (`core.claims`).
      parts: further names a dataset of this job may hold (ingest: `rejected.jsonl`).

    Raises:
      ConfigError: another job holds the directory, it holds a dataset and `overwrite` is false,
        or it cannot be written.
    """
    import tensorflow as tf

    def leftovers() -> list[str]:
        names = (
            dataset.COMPLETED,
            dataset.METADATA,
            dataset.STATS,
            dataset.TEMP,
            *dataset.SPLITS,
            *parts,
        )
        paths = [os.path.join(out_dir, name) for name in names]
        return [path for path in paths if tf.io.gfile.exists(path)]

    return claims.claimed(
        out_dir,
        command=command,
        leftovers=leftovers,
        holds="a dataset",
        overwrite=overwrite,
        clear_stale=clear_claim,
    )


def write_shard(records: Iterable[bytes], *, out_dir: str, path: str) -> int:
    """Writes `records` as the GZIP TFRecord file `<out_dir>/<path>` (replacing any file there);
    returns its size in bytes."""
    import tensorflow as tf

    final = os.path.join(out_dir, path)
    options = tf.io.TFRecordOptions(compression_type=dataset.COMPRESSION)
    with storage.atomic_file(final, temp_dir=os.path.join(out_dir, dataset.TEMP)) as temp:
        with tf.io.TFRecordWriter(temp, options=options) as writer:
            for data in records:
                writer.write(data)
    return tf.io.gfile.stat(final).length


def build_metadata(
    shards: Sequence[WrittenShard], info: Mapping[str, Any], *, height: int
) -> dict[str, Any]:
    """`metadata.json`: `info` (params, seed, source, ...) plus counts, histograms and files."""
    metadata = {
        "schema_version": record.SCHEMA_VERSION,
        **info,
        "height": height,
        "compression": dataset.COMPRESSION,
        "counts": {},
        "length_histogram": {},
        "width_histogram": {},
        "files": {},
    }
    for split in dataset.SPLITS:
        mine = sorted((s for s in shards if s.split == split), key=lambda s: s.path)
        lengths, widths = collections.Counter(), collections.Counter()
        for shard in mine:
            lengths[shard.length] += shard.records
            widths.update(shard.widths)
        metadata["counts"][split] = sum(s.records for s in mine)
        metadata["length_histogram"][split] = {str(k): lengths[k] for k in sorted(lengths)}
        metadata["width_histogram"][split] = {str(k): widths[k] for k in sorted(widths)}
        metadata["files"][split] = [
            {
                "path": s.path,
                "records": s.records,
                "length": s.length,
                "max_width": s.max_width,
                "bytes": s.bytes,
            }
            for s in mine
        ]
    return metadata


def write_info(out_dir: str, *, stats: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
    """The pipeline's last step: `stats.json`, `metadata.json`, then `.tmp` removed."""
    import tensorflow as tf

    storage.write_json(os.path.join(out_dir, dataset.STATS), dict(stats))
    storage.write_json(os.path.join(out_dir, dataset.METADATA), dict(metadata))
    temp = os.path.join(out_dir, dataset.TEMP)
    if tf.io.gfile.exists(temp):
        tf.io.gfile.rmtree(temp)


def verify_files(out_dir: str, metadata: Mapping[str, Any]) -> None:
    """Checks that every file `metadata` lists is there with the size written, and that the split
    directories hold no other file.

    Raises:
      InvalidInputError: naming the first file that differs, or a file metadata does not list.
    """
    import tensorflow as tf

    listed = {}
    for entries in metadata["files"].values():
        listed.update({os.path.join(out_dir, e["path"]): e["bytes"] for e in entries})
    for path, size in sorted(listed.items()):
        dataset.check_listed_file(path, size, otherwise=f"did another job write into {out_dir}?")
    for split in dataset.SPLITS:
        for path in sorted(tf.io.gfile.glob(os.path.join(out_dir, split, "*"))):
            if path not in listed:
                raise InvalidInputError(
                    f"{path}: not written by this job (did another job write into {out_dir}?)"
                )


def complete(claim: claims.Claim) -> None:
    """Marks the dataset in `claim.directory` `COMPLETED` once verified (see the module
    docstring); run on the launcher after the pipeline, while the job holds `claim`.

    Raises:
      ConfigError: the job lost its claim. InvalidInputError: a file differs.
    """
    import tensorflow as tf

    out_dir = claim.directory
    claims.check_held(claim)
    verify_files(out_dir, storage.read_json(os.path.join(out_dir, dataset.METADATA)))
    with tf.io.gfile.GFile(os.path.join(out_dir, dataset.COMPLETED), "w") as f:
        f.write("")
