"""`digitseq train`: trains a CTC recognizer on a rendered dataset, then prints a JSON summary."""

from __future__ import annotations

import argparse
import json

from digitseq.recognizer.config import TrainConfig
from digitseq.recognizer.train.recipes import RECIPES, RecipeChoice


def register(subparsers) -> None:
    from digitseq.cli.flags import Flags

    parser = subparsers.add_parser(
        "train",
        help="train a CTC recognizer on rendered or ingested datasets",
        description="Train a Keras CTC recognizer under a tf.distribute strategy; a run killed "
        "and restarted with the same command resumes from its last finished epoch.",
    )
    flags = Flags(parser)
    flags.add(RecipeChoice)
    flags.add(TrainConfig)
    parser.set_defaults(run=run, flags=flags)


def run(args: argparse.Namespace, _: list[str]) -> int:
    choice = args.flags.build(RecipeChoice, args)  # before TensorFlow loads
    config = args.flags.build(TrainConfig, args)
    if choice.recipe:
        config = RECIPES[choice.recipe].start(config, given=args.flags.explicit(args.argv))
    from digitseq.recognizer.train import trainer as train

    result = train.train(config)
    last = result["history"][-1] if result["history"] else {}
    print(
        json.dumps(
            {
                "model_dir": config.model_dir,
                "epochs": len(result["history"]),
                "criterion": result["criterion"],
                "best": result["best"],
                "last": last,
                "train_seconds": round(result["train_seconds"], 1),
            }
        )
    )
    return 0
