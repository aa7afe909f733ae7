"""`digitseq predict`: a Beam job that scores TFRecords or image files with an exported model, in
batch (`--input`) or as they land (`--watch`, `--subscription`)."""

from __future__ import annotations

import argparse
import time

from digitseq.pipelines.predict.config import PredictConfig


def register(subparsers) -> None:
    from digitseq.cli.flags import Flags

    parser = subparsers.add_parser(
        "predict",
        help="score TFRecords or image files with an exported model, in batch or "
        "as they arrive (Beam job)",
        description="Batch prediction with Beam's RunInference: decoded digit strings as JSON "
        "Lines (and Parquet), a review queue of uncertain rows, corpus error metrics with "
        "risk-coverage and calibration error, and dead letters for records that cannot be "
        "scored; or, with --watch or --subscription, a streaming job that scores files as they "
        "land and writes them per window. Flags not listed here go to Beam's PipelineOptions (--runner, "
        "--direct_num_workers, --direct_running_mode, Dataflow flags, ...).",
    )
    flags = Flags(parser)
    flags.add(PredictConfig)
    parser.set_defaults(run=run, flags=flags, accepts_pipeline_flags=True)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    config = args.flags.build(PredictConfig, args)  # before TensorFlow and Beam load
    from digitseq.cli import text
    from digitseq.cli.beam_options import pipeline_options
    from digitseq.pipelines.predict.job import run_prediction

    if config.streaming:
        from digitseq.pipelines.predict.streaming import run_streaming

        run_streaming(config, pipeline_options(pipeline_argv))
        print(f"streaming run ended; outputs per window in {config.out_dir}")
        return 0
    started = time.perf_counter()
    result = run_prediction(config, pipeline_options(pipeline_argv))
    print(text.predict_summary(config.out_dir, result, time.perf_counter() - started))
    print(confidence_summary(result))
    return 0


def confidence_summary(result) -> str:
    """The review count and, over labeled rows, SER at 95% coverage and the ECE."""
    from digitseq.schemas import prediction

    line = f"review: {result[prediction.REVIEWED]} rows"
    at = [e for e in result.get(prediction.RISK_COVERAGE, []) if e["coverage"] == 0.95]
    if result["sequences"] and at:
        line += (
            f"; labeled rows: SER {at[0]['ser']:.2%} at 95% coverage (confidence >= "
            f"{at[0]['threshold']:.4f}), ECE {result[prediction.ECE]['value']:.2%}"
        )
    return line
