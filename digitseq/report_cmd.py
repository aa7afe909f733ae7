"""`digitseq report PREDICTIONS_DIR`: a PNG of what a prediction run got right and wrong."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

REPORT = "report.png"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="draw a prediction run: sequences, CER by length, digit confusions",
        description="Write a PNG with a grid of scored sequences (label and prediction, wrong "
        "digits marked), CER by sequence length and the digit confusion matrix.")
    parser.add_argument("predictions", help="output directory of digitseq predict")
    parser.add_argument("--out", default=None, help=f"PNG path (default PREDICTIONS/{REPORT})")
    parser.add_argument("--count", type=int, default=16,
                        help="sequences shown, half of them errors when there are any (max 16)")
    parser.set_defaults(run=run)


def choose(rows, count: int) -> list[dict[str, Any]]:
    """Up to `count` rows in file order: errors (half, if there are enough correct ones to fill
    the rest), then correct ones."""
    wrong, right = [], []
    for row in rows:
        is_wrong = "label" in row and row["label"] != row["prediction"]
        bucket = wrong if is_wrong else right
        if len(bucket) < count:
            bucket.append(row)
        if len(wrong) >= count and len(right) >= count:
            break
    errors = max(count // 2, count - len(right))
    chosen = wrong[:errors]
    return chosen + right[:count - len(chosen)]


def write_report(predictions_dir: str, out_path: str, *, count: int = 16) -> str:
    import tensorflow as tf

    from digitseq import pictures
    from pipelines import predict
    from schemas import prediction
    from schemas.errors import InvalidInputError

    if not 1 <= count <= 16:
        raise InvalidInputError(f"--count {count}: expected 1..16")
    metrics_path = os.path.join(predictions_dir, prediction.METRICS)
    if not tf.io.gfile.exists(metrics_path):
        raise InvalidInputError(f"{predictions_dir}: no {prediction.METRICS}, expected the output "
                                f"directory of a finished digitseq predict run")
    with tf.io.gfile.GFile(metrics_path) as f:
        metrics = json.load(f)
    rows = choose(predict.read_rows(predictions_dir), count)
    images = predict.read_images((row[prediction.FILE], row[prediction.RECORD]) for row in rows)
    samples = [(images[(row[prediction.FILE], row[prediction.RECORD])],
                row.get(prediction.LABEL, "?"), row[prediction.PREDICTION]) for row in rows]
    figure = pictures.report_figure(samples, metrics, title=f"digitseq predictions: "
                                                           f"{predictions_dir}")
    pictures.save_png(figure, out_path)
    return out_path


def run(args: argparse.Namespace, _: list[str]) -> int:
    out = args.out or os.path.join(args.predictions, REPORT)
    print(f"wrote {write_report(args.predictions, out, count=args.count)}")
    return 0
