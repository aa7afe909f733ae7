"""`digitseq demo`: the whole job in one command.

For a fixed-length and a variable-length dataset: render it from the default MNIST source (Beam),
train the default `crnn` on it with the default strategy, score its test split with the Beam
prediction job, draw the report PNG; then print one summary table. Everything goes under `--out`,
which the demo owns: its earlier outputs there are replaced, so running it twice is safe.

    <out>/data-<mode>/          rendered dataset (+ inspect-train.png)
    <out>/model-<mode>/         training run and exported model
    <out>/predictions-<mode>/   predictions, dead letters, metrics.json, report.png
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

MODES = ("fixed", "variable")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="render, train, score and report a fixed and a variable dataset",
        description=__doc__.splitlines()[2] + " Flags not listed go to Beam's PipelineOptions.")
    parser.add_argument("--out", default="runs/demo", help="where everything is written")
    parser.add_argument("--mnist", default=None, help="MNIST location (default as for render)")
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--validation", type=int, default=1000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--modes", default=",".join(MODES),
                        help="datasets to run, comma-separated (default fixed,variable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run, accepts_pipeline_flags=True)


def run_mode(mode: str, args: argparse.Namespace, location: str,
             pipeline_argv: list[str]) -> dict[str, Any]:
    """Render, train, score and report one dataset; returns its summary row."""
    import logging

    from digitseq import inspect_cmd, predict_cmd, render_cmd, report_cmd
    from digitseq.beam_options import pipeline_options
    from pipelines import predict, render, sequences
    from recognizer import train

    data_dir, model_dir, predictions_dir = (os.path.join(args.out, f"{part}-{mode}")
                                            for part in ("data", "model", "predictions"))
    logging.info("demo %s: rendering %s", mode, data_dir)
    started = time.perf_counter()
    metadata = render.render_dataset(
        out_dir=data_dir, mnist_location=location, params=sequences.RenderParams(mode=mode),
        counts={"train": args.train, "validation": args.validation, "test": args.test},
        seed=args.seed, shards=4, overwrite=True,
        pipeline_options=pipeline_options(pipeline_argv))
    print(render_cmd.summary(data_dir, metadata, time.perf_counter() - started), flush=True)
    inspect_cmd.write_sheet(data_dir, "train",
                            os.path.join(data_dir, inspect_cmd.SHEET.format(split="train")))

    logging.info("demo %s: training crnn into %s", mode, model_dir)
    _remove(model_dir)
    result = train.train(train.TrainConfig(data_dir=data_dir, model_dir=model_dir,
                                           epochs=args.epochs, batch_size=args.batch_size,
                                           seed=args.seed))

    logging.info("demo %s: scoring the test split into %s", mode, predictions_dir)
    started = time.perf_counter()
    scored = predict.run_prediction(
        model_dir=model_dir, input_pattern=os.path.join(data_dir, "test", "*"),
        out_dir=predictions_dir, overwrite=True,
        pipeline_options=pipeline_options(pipeline_argv))
    seconds = time.perf_counter() - started
    print(predict_cmd.summary(predictions_dir, scored, seconds), flush=True)
    report = report_cmd.write_report(predictions_dir,
                                     os.path.join(predictions_dir, report_cmd.REPORT))
    return {"mode": mode, "metrics": scored, "train_seconds": result["train_seconds"],
            "train_examples_per_second": result["train_examples_per_second"],
            "score_per_second": scored["scored"] / seconds, "report": report}


def summary_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'dataset':<10}{'length':>7}{'sequences':>10}{'CER':>8}{'WER':>8}{'SER':>8}"
             f"{'train s':>9}{'train ex/s':>11}{'score seq/s':>12}"]
    for row in rows:
        m = row["metrics"]
        lines.append(f"{row['mode']:<10}{'all':>7}{m['sequences']:>10}{m['cer']:>8.2%}"
                     f"{m['wer']:>8.2%}{m['ser']:>8.2%}{row['train_seconds']:>9.0f}"
                     f"{row['train_examples_per_second']:>11,.0f}{row['score_per_second']:>12,.0f}")
        for length, r in m["by_length"].items():
            lines.append(f"{'':<10}{length:>7}{r['sequences']:>10}{r['cer']:>8.2%}"
                         f"{r['wer']:>8.2%}{r['ser']:>8.2%}")
    lines += [f"report: {row['report']}" for row in rows]
    return "\n".join(lines)


def _remove(path: str) -> None:
    import tensorflow as tf

    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from pipelines import mnist
    from schemas.errors import InvalidInputError

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        raise InvalidInputError(f"--modes {args.modes}: expected one or both of "
                                f"{', '.join(MODES)}")
    location = mnist.default_location(args.mnist)
    started = time.perf_counter()
    rows = [run_mode(mode, args, location, pipeline_argv) for mode in modes]
    print(f"\ndigitseq demo: MNIST from {location}, {time.perf_counter() - started:.0f} s")
    print(summary_table(rows))
    return 0
