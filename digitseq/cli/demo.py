"""`digitseq demo`: render a variable and a fixed dataset, train one model, score and report
each."""

from __future__ import annotations

import argparse
import time

from digitseq.pipelines.render.config import RenderConfig
from digitseq.recognizer.config import TrainConfig

RENDER_FLAGS = ("mnist", "train", "validation", "test", "seed")
TRAIN_FLAGS = ("batch_size",)


def register(subparsers) -> None:
    import dataclasses

    from digitseq.cli.flags import Flags
    from digitseq.cli.workflow import DemoConfig

    parser = subparsers.add_parser(
        "demo",
        help="render a variable and a fixed dataset, train one model, score and report each",
        description="The whole job in one command, under --out (replaced on every run). "
        "Flags not listed go to Beam's PipelineOptions.",
    )
    flags = Flags(parser)
    flags.add(DemoConfig)
    flags.add(
        RenderConfig,
        skip=[f.name for f in dataclasses.fields(RenderConfig) if f.name not in RENDER_FLAGS],
        docs={
            "seed": "the global seed of rendering (every shard's seed derives from it) "
            "and the seed of training"
        },
    )
    flags.add(
        TrainConfig,
        skip=[f.name for f in dataclasses.fields(TrainConfig) if f.name not in TRAIN_FLAGS],
    )
    parser.set_defaults(run=run, flags=flags, accepts_pipeline_flags=True)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from digitseq.cli.workflow import DemoConfig, run_demo
    from digitseq.pipelines.render import mnist
    from digitseq.recognizer.train import recipes

    demo = args.flags.build(DemoConfig, args)  # before TensorFlow and Beam load
    location = mnist.default_location(args.mnist)
    render = args.flags.build(RenderConfig, args, out_dir=demo.out, mnist=location)
    training = recipes.DEEP.apply(
        args.flags.build(
            TrainConfig,
            args,
            data_dir=demo.out,
            model_dir=demo.out,
            epochs=demo.epochs,
            seed=args.seed,
        )
    )
    from digitseq.cli import text
    from digitseq.cli.beam_options import pipeline_options

    started = time.perf_counter()
    result = run_demo(
        demo,
        render,
        training,
        lambda: pipeline_options(pipeline_argv),
        show=lambda line: print(line, flush=True),
    )
    print(f"\ndigitseq demo: MNIST from {location}, {time.perf_counter() - started:.0f} s")
    print(text.demo_table(result))
    return 0
