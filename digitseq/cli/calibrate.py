"""`digitseq calibrate`: fits an exported model's calibrated confidence on a labeled split."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    from digitseq.cli.flags import Flags
    from digitseq.recognizer.config import CalibrateConfig

    parser = subparsers.add_parser(
        "calibrate",
        help="calibrate a model's confidence on your labeled scans",
        description="Decode a labeled split (greedy and beam search), fit the map from each "
        "decoder's confidence to the probability that the string is right, write "
        "calibration.json and re-export the serving signatures with it, in place or into a new "
        "directory (--out; required for a shipped model). Prints, per decoder, the SER, the "
        "expected calibration error before and after and a risk-coverage table on that split. "
        "digitseq train does this at export when the data has a validation split.",
    )
    flags = Flags(parser)
    flags.add(CalibrateConfig)
    parser.set_defaults(run=run, flags=flags)


def run(args: argparse.Namespace, _: list[str]) -> int:
    from digitseq.recognizer.config import CalibrateConfig

    config = args.flags.build(CalibrateConfig, args)
    from digitseq.recognizer.train import calibrate

    fitted = calibrate.calibrate_model(config)
    print(json.dumps({"model_dir": config.out or config.model_dir, **fitted.to_json()}))
    return 0
