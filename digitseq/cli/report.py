"""`digitseq report PREDICTIONS_DIR`: PNGs of what a prediction run got right and wrong, and of
how far its confidence can be trusted (risk-coverage curve, reliability diagram)."""

from __future__ import annotations

import argparse
import os


def register(subparsers) -> None:
    from digitseq.schemas.prediction import CONFIDENCE_REPORT, REPORT

    parser = subparsers.add_parser(
        "report",
        help="draw a prediction run: sequences, CER by length, digit confusions, "
        "risk-coverage and reliability",
        description="Write a PNG with a grid of scored sequences (label and prediction, wrong "
        "digits marked), CER by sequence length and the digit confusion matrix, and a second PNG "
        "with the risk-coverage curve and the reliability diagram of the confidences.",
    )
    parser.add_argument("predictions", help="output directory of digitseq predict")
    parser.add_argument("--out", default=None, help=f"PNG path (default PREDICTIONS/{REPORT})")
    parser.add_argument(
        "--confidence-out",
        default=None,
        help=f"PNG path of the confidence figures (default PREDICTIONS/{CONFIDENCE_REPORT})",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=16,
        help="sequences shown, half of them errors when there are any (max 16)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, _: list[str]) -> int:
    from digitseq.cli import pictures
    from digitseq.core import storage
    from digitseq.schemas import prediction

    out = args.out or os.path.join(args.predictions, prediction.REPORT)
    print(f"wrote {pictures.write_report(args.predictions, out, count=args.count)}")
    confidence = args.confidence_out or os.path.join(args.predictions, prediction.CONFIDENCE_REPORT)
    metrics = storage.read_json(os.path.join(args.predictions, prediction.METRICS))
    if pictures.write_confidence(metrics, confidence, title=f"confidence: {args.predictions}"):
        print(f"wrote {confidence}")
    return 0
