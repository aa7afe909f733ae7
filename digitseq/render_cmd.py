"""`digitseq render`: a Beam job that renders MNIST digit sequences into a TFRecord dataset."""

from __future__ import annotations

import argparse
import time

from digitseq.flags import Flags

HELP = "render MNIST digit sequences into a TFRecord dataset (Beam job)"


def register(subparsers) -> None:
    from pipelines.render import RenderConfig

    parser = subparsers.add_parser(
        "render", help=HELP,
        description="Render MNIST digit sequences into sharded GZIP TFRecords with statistics. "
        "Flags not listed here go to Beam's PipelineOptions (--runner, --direct_num_workers, "
        "--direct_running_mode, --project, --region, --temp_location, --setup_file, ...).")
    flags = Flags(parser)
    flags.add(RenderConfig)
    parser.set_defaults(run=run, flags=flags, accepts_pipeline_flags=True)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from digitseq import text
    from digitseq.beam_options import pipeline_options
    from pipelines.render import RenderConfig, render_dataset
    from schemas import dataset

    config = args.flags.build(RenderConfig, args)
    started = time.perf_counter()
    metadata = render_dataset(config, pipeline_options(pipeline_argv))
    print(text.render_summary(config.out_dir, metadata, dataset.load_stats(config.out_dir),
                              time.perf_counter() - started))
    return 0
