"""`digitseq predict`: flags -> `pipelines.predict.run_prediction`, then a summary table."""

from __future__ import annotations

import argparse
import time
from typing import Any, Mapping


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="score TFRecords with an exported model (Beam job)",
        description="Batch prediction with Beam's RunInference: decoded digit strings as JSON "
        "Lines (and Parquet), corpus error metrics, and dead letters for records that cannot be "
        "scored. Flags not listed here go to Beam's PipelineOptions (--runner, "
        "--direct_num_workers, --direct_running_mode, Dataflow flags, ...).")
    parser.add_argument("--model", required=True, help="exported model directory (digitseq train)")
    parser.add_argument("--input", required=True,
                        help="TFRecord file pattern, GZIP or not, e.g. 'data/test/*.tfrecord.gz'")
    parser.add_argument("--out", required=True, help="output directory (local or gs://)")
    parser.add_argument("--decoder", default="greedy", help="greedy (default) or beam")
    parser.add_argument("--beam-width", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128, help="largest inference batch")
    parser.add_argument("--format", default="jsonl",
                        help="comma-separated output formats: jsonl, parquet (default jsonl)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the outputs of an earlier run in --out")
    parser.set_defaults(run=run, accepts_pipeline_flags=True)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from digitseq.beam_options import pipeline_options
    from pipelines import predict

    started = time.perf_counter()
    result = predict.run_prediction(
        model_dir=args.model, input_pattern=args.input, out_dir=args.out, decoder=args.decoder,
        beam_width=args.beam_width, batch_size=args.batch_size,
        formats=[f.strip() for f in args.format.split(",") if f.strip()],
        overwrite=args.overwrite, pipeline_options=pipeline_options(pipeline_argv))
    print(summary(args.out, result, time.perf_counter() - started))
    return 0


def summary(out_dir: str, result: Mapping[str, Any], seconds: float) -> str:
    """Counts, then error rates overall and by length (when labels were present)."""
    total = result["scored"] + result["dead_letters"]
    lines = [f"predictions {out_dir}: {result['scored']} scored ({result['unlabeled']} "
             f"unlabeled), {result['dead_letters']} dead letters, in {seconds:.1f} s "
             f"({total / max(seconds, 1e-9):,.0f} records/s)"]
    if result["sequences"]:
        lines.append(f"{'length':<8}{'sequences':>10}{'CER':>9}{'WER':>9}{'SER':>9}")
        rows = [("all", result)] + list(result["by_length"].items())
        for name, rates in rows:
            lines.append(f"{name:<8}{rates['sequences']:>10}{rates['cer']:>9.2%}"
                         f"{rates['wer']:>9.2%}{rates['ser']:>9.2%}")
    return "\n".join(lines)
