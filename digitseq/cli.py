"""`digitseq <command> [flags]`: the console script.

Each command module registers its flags (built from the libraries' config dataclasses, see
`digitseq.flags`) and a `run(args, extra_argv)` function. Commands that launch Beam jobs pass the
flags they do not know (`--runner`, `--direct_num_workers`, Dataflow flags, ...) to
`PipelineOptions`; the others reject unknown flags. Bad input ends in a one-line error naming the
flag, and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from digitseq import (__version__, demo_cmd, inspect_cmd, predict_cmd, render_cmd, report_cmd,
                      train_cmd)
from schemas.errors import ConfigError, InvalidInputError

COMMANDS = (render_cmd, inspect_cmd, train_cmd, predict_cmd, report_cmd, demo_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitseq", description="Handwritten digit-string recognition with Beam, tf.data "
        "and Keras.")
    parser.add_argument("--version", action="version", version=f"digitseq {__version__}")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the process exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "accepts_pipeline_flags", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:  # argparse's own errors (exit 2), --help and --version (exit 0)
        return int(stop.code or 0)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger().setLevel(args.log_level)
    try:
        return args.run(args, extra) or 0
    except ConfigError as err:
        flags = getattr(args, "flags", None)
        message = err.render(flags.name) if flags is not None else str(err)
        print(f"digitseq {args.command}: error: {message}", file=sys.stderr)
        return 2
    except InvalidInputError as err:
        print(f"digitseq {args.command}: error: {err}", file=sys.stderr)
        return 2


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(run())
