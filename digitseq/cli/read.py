"""`digitseq read FILE...`: the digits on a few image files, read in this process (no Beam)."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    from digitseq.cli.flags import Flags
    from digitseq.reader import ReadConfig

    parser = subparsers.add_parser(
        "read",
        help="read the digits on a few image files, without a Beam job",
        description="Read each image file with an exported model (loaded once) and print a "
        "line per file: the file, the digits and their calibrated confidence, tab-separated "
        "(JSON Lines with --json). Images are normalised as digitseq predict normalises image "
        "files. A file that cannot be read is an error line; the others are still read. For "
        "many files, digitseq predict runs the same model as a Beam job.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--json", action="store_true", help="print JSON Lines")
    flags = Flags(parser)
    flags.add(ReadConfig)
    parser.set_defaults(run=run, flags=flags)


def run(args: argparse.Namespace, _: list[str]) -> int:
    from digitseq.core.errors import InvalidInputError
    from digitseq.reader import ReadConfig

    config = args.flags.build(ReadConfig, args)  # before TensorFlow loads
    if not args.files:
        raise InvalidInputError("no FILE given; expected one or more image files")
    from digitseq.reader import Reader

    readings = Reader(config=config).read(args.files, errors="keep")
    for reading in readings:
        if reading.error is not None:
            print(f"digitseq read: error: {reading.error}", file=sys.stderr)
        elif args.json:
            print(json.dumps(reading.to_json()))
        else:
            matched = "" if reading.matched else "\tno match"
            print(f"{reading.source}\t{reading.digits}\t{reading.confidence:.4f}{matched}")
    return 2 if any(reading.error is not None for reading in readings) else 0
