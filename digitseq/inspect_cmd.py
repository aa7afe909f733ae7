"""`digitseq inspect DATA_DIR`: a dataset's metadata and statistics as a table, and a PNG sheet."""

from __future__ import annotations

import argparse
import os

SHEET = "inspect-{split}.png"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="print a dataset's metadata and statistics; draw a contact sheet",
        description="Print a rendered dataset's counts, length histograms, widths and "
        "standardization statistics, and write a PNG contact sheet of records with labels.")
    parser.add_argument("data", help="dataset directory (digitseq render)")
    parser.add_argument("--split", default="train", help="split to draw (default train)")
    parser.add_argument("--count", type=int, default=32, help="records drawn (1..32)")
    parser.add_argument("--out", default=None,
                        help=f"PNG path (default DATA/{SHEET.format(split='SPLIT')})")
    parser.set_defaults(run=run)


def first_records(data_dir: str, split: str, count: int) -> list:
    """`count` records of `split` taken round-robin over its shards (so every length shows),
    parsed and checked."""
    import tensorflow as tf

    from schemas import dataset, record
    from schemas.errors import InvalidInputError

    metadata = dataset.load_metadata(data_dir)
    if split not in metadata["files"]:
        raise InvalidInputError(f"{data_dir}: no split '{split}', expected one of "
                                f"{', '.join(metadata['files'])}")
    files = [os.path.join(data_dir, entry["path"]) for entry in metadata["files"][split]]
    if not files:
        raise InvalidInputError(f"{data_dir}: split '{split}' is empty (0 records)")
    records = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=dataset.COMPRESSION),
        cycle_length=len(files), block_length=1)
    return [record.parse_record(serialized, where=f"{data_dir} split {split}")
            for serialized in records.take(count).as_numpy_iterator()]


def write_sheet(data_dir: str, split: str, out_path: str, *, count: int = 32) -> str:
    from digitseq import pictures
    from recognizer import metrics
    from schemas.errors import InvalidInputError

    if not 1 <= count <= 32:
        raise InvalidInputError(f"--count {count}: expected 1..32")
    samples = [(r.image, metrics.label_string(r.label), r.record_id)
               for r in first_records(data_dir, split, count)]
    pictures.save_png(pictures.contact_sheet(samples, title=f"{data_dir}: {split}"), out_path)
    return out_path


def run(args: argparse.Namespace, _: list[str]) -> int:
    from digitseq import render_cmd
    from schemas import dataset

    print(render_cmd.describe(args.data, dataset.load_metadata(args.data)))
    out = args.out or os.path.join(args.data, SHEET.format(split=args.split))
    print(f"wrote {write_sheet(args.data, args.split, out, count=args.count)}")
    return 0
