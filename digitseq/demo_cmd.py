"""`digitseq demo`: the main job in one command.

Renders a fixed-length and a variable-length dataset from the default MNIST source and prints a
summary of each. (Training and batch scoring join it as they land.)
"""

from __future__ import annotations

import argparse
import os
import time

from digitseq import render_cmd


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="render fixed and variable datasets (then train and score) end to end",
        description=__doc__.splitlines()[0] + " Flags not listed go to Beam's PipelineOptions.")
    parser.add_argument("--out", default="runs/demo", help="where everything is written")
    parser.add_argument("--mnist", default=None, help="MNIST location (default as for render)")
    parser.add_argument("--train", type=int, default=20000)
    parser.add_argument("--validation", type=int, default=2000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run, accepts_pipeline_flags=True)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from digitseq.beam_options import pipeline_options
    from pipelines import mnist, render, sequences

    location = mnist.default_location(args.mnist)
    counts = {"train": args.train, "validation": args.validation, "test": args.test}
    for mode in ("fixed", "variable"):
        out_dir = os.path.join(args.out, f"data-{mode}")
        started = time.perf_counter()
        metadata = render.render_dataset(
            out_dir=out_dir, mnist_location=location, params=sequences.RenderParams(mode=mode),
            counts=counts, seed=args.seed, shards=4, overwrite=True,
            pipeline_options=pipeline_options(pipeline_argv))
        print(render_cmd.summary(out_dir, metadata, time.perf_counter() - started))
    return 0
