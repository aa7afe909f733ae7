"""`digitseq inspect DATA_DIR`: a dataset's metadata and statistics as a table, and a PNG sheet."""

from __future__ import annotations

import argparse
import os


def register(subparsers) -> None:
    from digitseq.schemas.dataset import SHEET

    parser = subparsers.add_parser(
        "inspect",
        help="print a dataset's metadata and statistics; draw a contact sheet",
        description="Print a rendered dataset's counts, length histograms, widths and "
        "standardization statistics, and write a PNG contact sheet of records with labels.",
    )
    parser.add_argument("data", help="dataset directory (digitseq render)")
    parser.add_argument("--split", default="train", help="split to draw (default train)")
    parser.add_argument("--count", type=int, default=32, help="records drawn (1..32)")
    parser.add_argument(
        "--out", default=None, help=f"PNG path (default DATA/{SHEET.format(split='SPLIT')})"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, _: list[str]) -> int:
    from digitseq.cli import pictures, text
    from digitseq.schemas import dataset

    print(
        text.dataset_table(
            args.data, dataset.load_metadata(args.data), dataset.load_stats(args.data)
        )
    )
    out = args.out or os.path.join(args.data, dataset.SHEET.format(split=args.split))
    print(f"wrote {pictures.write_sheet(args.data, args.split, out, count=args.count)}")
    return 0
