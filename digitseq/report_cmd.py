"""`digitseq report PREDICTIONS_DIR`: a PNG of what a prediction run got right and wrong."""

from __future__ import annotations

import argparse
import os


def register(subparsers) -> None:
    from digitseq.pictures import REPORT

    parser = subparsers.add_parser(
        "report", help="draw a prediction run: sequences, CER by length, digit confusions",
        description="Write a PNG with a grid of scored sequences (label and prediction, wrong "
        "digits marked), CER by sequence length and the digit confusion matrix.")
    parser.add_argument("predictions", help="output directory of digitseq predict")
    parser.add_argument("--out", default=None, help=f"PNG path (default PREDICTIONS/{REPORT})")
    parser.add_argument("--count", type=int, default=16,
                        help="sequences shown, half of them errors when there are any (max 16)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, _: list[str]) -> int:
    from digitseq import pictures

    out = args.out or os.path.join(args.predictions, pictures.REPORT)
    print(f"wrote {pictures.write_report(args.predictions, out, count=args.count)}")
    return 0
