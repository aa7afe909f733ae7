"""`digitseq <command> [flags]`: the console script.

Each command module registers its flags (built from the libraries' config dataclasses, see
`cli.flags`) and a `run(args, extra_argv)` function. Commands that launch Beam jobs pass the
flags they do not know (`--runner`, `--direct_num_workers`, Dataflow flags, ...) to
`PipelineOptions`; a flag that neither digitseq nor Beam knows is an error naming the closest
known one. Bad input ends in a one-line error naming the flag, and exit status 2.

Quiet by default: results, warnings and errors, plus digitseq's own progress (one line per
training epoch); `-v` adds Beam's and TensorFlow's INFO lines, `-vv` debug lines.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import sys
from collections.abc import Sequence

from digitseq import __version__
from digitseq.cli import calibrate as calibrate_cmd
from digitseq.cli import demo as demo_cmd
from digitseq.cli import ingest as ingest_cmd
from digitseq.cli import inspect as inspect_cmd
from digitseq.cli import predict as predict_cmd
from digitseq.cli import read as read_cmd
from digitseq.cli import render as render_cmd
from digitseq.cli import report as report_cmd
from digitseq.cli import train as train_cmd
from digitseq.core.errors import ConfigError, InvalidInputError

COMMANDS = (
    render_cmd,
    ingest_cmd,
    inspect_cmd,
    train_cmd,
    calibrate_cmd,
    predict_cmd,
    read_cmd,
    report_cmd,
    demo_cmd,
)
LIBRARIES = ("digitseq",)


class _OneLineErrors(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line (no usage block), exit 2; its subparsers are
    of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Commands:
    """Stands for argparse's subparsers in the commands' `register`, remembering each parser."""

    def __init__(self, subparsers):
        self._subparsers = subparsers
        self.parsers: dict[str, argparse.ArgumentParser] = {}

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        self.parsers[name] = self._subparsers.add_parser(name, **kwargs)
        return self.parsers[name]


def build_parser() -> argparse.ArgumentParser:
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, _Commands]:
    parser = _OneLineErrors(
        prog="digitseq",
        description="Handwritten digit-string recognition with Beam, tf.data and Keras.",
    )
    parser.add_argument("--version", action="version", version=f"digitseq {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: also Beam's and TensorFlow's INFO lines; -vv: debug lines",
    )
    commands = _Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for command in COMMANDS:
        command.register(commands)
    return parser, commands


def run(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    configure_logging(_verbosity(argv))
    parser, commands = _build()
    try:
        args, extra = parser.parse_known_args(argv)
        args.argv = argv[argv.index(args.command) + 1 :]  # the command's own arguments
        beam = getattr(args, "accepts_pipeline_flags", False)
        unknown = unknown_flags(extra, beam=beam)
        if unknown:
            flags = getattr(args, "flags", None)
            known = (flags.option_strings() if flags else []) + (beam_flags() if beam else [])
            close = difflib.get_close_matches(unknown[0], known, n=1)
            commands.parsers[args.command].error(
                f"unrecognized argument {unknown[0]}"
                + (f"; did you mean {close[0]}?" if close else "")
            )
    except SystemExit as stop:  # argparse's own errors (exit 2), --help and --version (exit 0)
        return int(stop.code or 0)
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


def _verbosity(argv: Sequence[str]) -> int:
    """-v flags before the command's own parsing (logging is set up before Beam is imported)."""
    count = 0
    for arg in argv:
        if arg == "--verbose":
            count += 1
        elif re.fullmatch(r"-v+", arg):
            count += len(arg) - 1
    return count


class _HarmlessBeamNotes(logging.Filter):
    """Drops two Beam warnings that are not problems here: its import-time note about optional
    Google Cloud clients, and RunInference's note that it cannot probe memory on this platform."""

    NOTES = ("apitools not found", "Resource module is not available")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOTES)


def configure_logging(verbosity: int) -> None:
    """digitseq's own loggers at INFO (DEBUG with -vv); everything else at WARNING (INFO with
    -v)."""
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if verbosity == 0 and not any(isinstance(f, _HarmlessBeamNotes) for f in handler.filters):
            handler.addFilter(_HarmlessBeamNotes())
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def beam_flags() -> list[str]:
    """Every flag Beam's `PipelineOptions` (all its option groups) knows, as `--name`."""
    from apache_beam.options.pipeline_options import PipelineOptions

    return [f"--{name}" for name in PipelineOptions([]).get_all_options()]


def unknown_flags(extra: Sequence[str], *, beam: bool) -> list[str]:
    """The flags among `extra` that Beam does not know either (all of them if not `beam`)."""
    flags = [arg.split("=", 1)[0] for arg in extra if arg.startswith("-")]
    if not beam:
        return flags or list(extra)
    if not flags:
        return []
    known = set(beam_flags())
    return [flag for flag in flags if flag not in known]


def main() -> None:
    """The console script: runs the command, then ends the process as soon as its output is
    flushed.

    Why `os._exit` rather than a normal interpreter exit: destroying a tf.data iterator joins
    TensorFlow's autotuning thread, which can sleep out the rest of its period (up to a minute)
    after the work is done (bench/README.md, "The wait after training"). Every file a command
    writes is closed before it returns, so nothing is left for the interpreter to do at exit.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _verbosity(sys.argv[1:]) else "3")
    status = run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
