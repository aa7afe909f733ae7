"""`digitseq render`: a Beam job that renders MNIST digit sequences into a TFRecord dataset.

Layout flags (`--gap`, `--jitter`, `--overlap`, `--scale`, `--rotation`, `--slant`,
`--thickness`, the writer flags and the `--scan` flags) default to the `--preset`'s values; given
explicitly, they replace them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from digitseq.pipelines.render.config import RenderConfig


def _flag(field: str, value: Any) -> str:
    name = "--" + field.replace("_", "-")
    if isinstance(value, bool):
        return name if value else f"--no-{name[2:]}"
    if isinstance(value, tuple):
        return f"{name}=" + ",".join(f"{v:g}" for v in value)
    return f"{name}={value}"


def presets_help() -> str:
    """What each preset sets, as flags, from `render_params.PRESETS`."""
    from digitseq.pipelines.render import params as render_params

    described = []
    for name, fields in render_params.PRESETS.items():
        flags = " ".join(_flag(field, value) for field, value in fields.items())
        described.append(f"{name}: {flags or 'no flags (every default)'}")
    return "a named layout; explicit layout flags replace its values. " + "; ".join(described)


def register(subparsers) -> None:
    from digitseq.cli.flags import Flags
    from digitseq.pipelines.render import params as render_params

    parser = subparsers.add_parser(
        "render",
        help="render MNIST digit sequences into a TFRecord dataset (Beam job)",
        description="Render MNIST digit sequences into sharded GZIP TFRecords with statistics. "
        "Layout flags default to the --preset's values (write negative ranges as "
        "--rotation=-8,8). Flags not listed here go to Beam's PipelineOptions (--runner, "
        "--direct_num_workers, --direct_running_mode, --project, --region, --temp_location, "
        "--setup_file, ...).",
    )
    flags = Flags(parser)
    flags.add(
        RenderConfig,
        defaults=dict.fromkeys(render_params.LAYOUT_FIELDS),
        docs={"preset": presets_help()},
    )
    parser.set_defaults(run=run, flags=flags, accepts_pipeline_flags=True)


def config(args: argparse.Namespace):
    """The `RenderConfig` the flags ask for: the preset, then explicit layout flags."""
    from digitseq.pipelines.render import params as render_params

    explicit = {
        field: getattr(args, field)
        for field in render_params.LAYOUT_FIELDS
        if getattr(args, field) is not None
    }
    params = render_params.preset_params(
        args.preset,
        mode=args.mode,
        length=args.length,
        min_length=args.min_length,
        max_length=args.max_length,
        **explicit,
    )
    return args.flags.build(RenderConfig, args, params=params)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    render = config(args)  # before TensorFlow and Beam load
    from digitseq.cli import text
    from digitseq.cli.beam_options import pipeline_options
    from digitseq.pipelines.render.job import render_dataset
    from digitseq.schemas import dataset

    started = time.perf_counter()
    metadata = render_dataset(render, pipeline_options(pipeline_argv))
    print(
        text.render_summary(
            render.out_dir,
            metadata,
            dataset.load_stats(render.out_dir),
            time.perf_counter() - started,
        )
    )
    return 0
