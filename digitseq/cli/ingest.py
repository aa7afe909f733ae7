"""`digitseq ingest`: a Beam job that turns labeled image files into a TFRecord dataset."""

from __future__ import annotations

import argparse
import time

from digitseq.pipelines.ingest.config import IngestConfig


def register(subparsers) -> None:
    from digitseq.cli.flags import Flags

    parser = subparsers.add_parser(
        "ingest",
        help="turn labeled image files into a TFRecord dataset (Beam job)",
        description="Normalise labeled image files (PNG, JPEG, BMP, GIF) to white ink on black, "
        "height 28, and write them as the dataset directory digitseq render writes; rejected "
        "files are listed in OUT/rejected.jsonl. Flags not listed here go to Beam's "
        "PipelineOptions (--runner, --direct_num_workers, --project, --region, ...).",
    )
    flags = Flags(parser)
    flags.add(IngestConfig)
    parser.set_defaults(run=run, flags=flags, accepts_pipeline_flags=True)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    config = args.flags.build(IngestConfig, args)  # before TensorFlow and Beam load
    from digitseq.cli import text
    from digitseq.cli.beam_options import pipeline_options
    from digitseq.pipelines.ingest.job import ingest_dataset
    from digitseq.schemas import dataset

    started = time.perf_counter()
    metadata = ingest_dataset(config, pipeline_options(pipeline_argv))
    print(
        text.ingest_summary(
            config.out_dir,
            metadata,
            dataset.load_stats(config.out_dir),
            time.perf_counter() - started,
        )
    )
    return 0
