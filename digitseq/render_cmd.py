"""`digitseq render`: flags -> `pipelines.render.render_dataset`, then a summary table.

Layout flags (`--gap`, `--jitter`, `--overlap`, `--scale`, `--rotation`, `--slant`,
`--thickness`) default to the `--preset`'s values; given explicitly, they replace them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

from pipelines import sequences

DEFAULT_COUNTS = {"train": 10000, "validation": 1000, "test": 2000}


def _range(kind: Callable[[str], Any], what: str) -> Callable[[str], tuple]:
    """An argparse type for `MIN,MAX`, each parsed by `kind`."""
    def parse(text: str) -> tuple:
        try:
            low, high = (kind(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected MIN,MAX (two {what}), found '{text}'")
        return low, high
    return parse


_INTS, _NUMBERS = _range(int, "integers"), _range(float, "numbers")
LAYOUT_FLAGS: dict[str, tuple[Callable[[str], Any], str, str]] = {
    "gap": (_INTS, "MIN,MAX", "blank columns between digits; not with --overlap"),
    "jitter": (int, "PX", f"largest vertical shift of a digit in pixels, "
               f"0..{sequences.IMAGE_SIZE - 1}"),
    "overlap": (_INTS, "MIN,MAX", f"columns consecutive digits share, 0..{sequences.MAX_OVERLAP}, "
                f"overlapping pixels take the maximum; not with --gap"),
    "scale": (_NUMBERS, "MIN,MAX", "digit size factor about its box centre, 0 < MIN"),
    "rotation": (_NUMBERS, "MIN,MAX", f"degrees counter-clockwise, -{sequences.MAX_ROTATION:g}.."
                 f"{sequences.MAX_ROTATION:g}; write --rotation=-8,8"),
    "slant": (_NUMBERS, "MIN,MAX", f"horizontal shear, positive leans right, "
              f"-{sequences.MAX_SLANT:g}..{sequences.MAX_SLANT:g}; write --slant=-0.3,0.3"),
    "thickness": (_INTS, "MIN,MAX", f"stroke dilation (+) or erosion (-) steps, "
                  f"-{sequences.MAX_THICKNESS}..{sequences.MAX_THICKNESS}; write --thickness=-1,1"),
}
"""`RenderParams` fields a preset may set: argparse type, metavar and help."""


def _flag_value(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return str(value)


def presets_help() -> str:
    """What each preset sets, as flags, from `sequences.PRESETS`."""
    described = []
    for name, fields in sequences.PRESETS.items():
        flags = " ".join(f"--{field}={_flag_value(value)}" for field, value in fields.items())
        described.append(f"{name}: {flags or 'no flags (every default)'}")
    return ("a named layout; explicit flags replace its values (default plain). "
            + "; ".join(described))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "render", help="render MNIST digit sequences into a TFRecord dataset (Beam job)",
        description="Render MNIST digit sequences into sharded GZIP TFRecords with statistics. "
        "Flags not listed here go to Beam's PipelineOptions (--runner, --direct_num_workers, "
        "--direct_running_mode, --project, --region, --temp_location, --setup_file, ...).")
    parser.add_argument("--out", required=True, help="dataset directory (local or gs://)")
    parser.add_argument("--mode", choices=("fixed", "variable"), default="fixed")
    parser.add_argument("--length", type=int, default=5, help="digits per sequence (fixed)")
    parser.add_argument("--min-length", type=int, default=2, help="shortest sequence (variable)")
    parser.add_argument("--max-length", type=int, default=5, help="longest sequence (variable)")
    for split, count in DEFAULT_COUNTS.items():
        parser.add_argument(f"--{split}", type=int, default=count,
                            help=f"{split} sequences (default {count})")
    parser.add_argument("--seed", type=int, default=0, help="global seed")
    parser.add_argument("--preset", choices=tuple(sequences.PRESETS), default="plain",
                        help=presets_help())
    plain = sequences.preset_params("plain")
    for field, (kind, metavar, text) in LAYOUT_FLAGS.items():
        parser.add_argument(
            f"--{field}", type=kind, default=None, metavar=metavar,
            help=f"{text} (default: the preset's; plain {_flag_value(getattr(plain, field))})")
    parser.add_argument("--shards", type=int, default=4,
                        help="shards per sequence length per split (default 4)")
    parser.add_argument("--mnist", default=None,
                        help="MNIST location: IDX directory, mnist.npz or 'sample' (default: "
                        "$MNIST_DIR, else ~/.keras/datasets/mnist.npz, else the bundled sample)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a dataset already in --out")
    parser.set_defaults(run=run, accepts_pipeline_flags=True)


def run(args: argparse.Namespace, pipeline_argv: list[str]) -> int:
    from digitseq.beam_options import pipeline_options
    from pipelines import mnist, render

    explicit = {field: getattr(args, field) for field in LAYOUT_FLAGS
                if getattr(args, field) is not None}
    params = sequences.preset_params(args.preset, mode=args.mode, length=args.length,
                                     min_length=args.min_length, max_length=args.max_length,
                                     **explicit)
    started = time.perf_counter()
    metadata = render.render_dataset(
        out_dir=args.out, mnist_location=mnist.default_location(args.mnist), params=params,
        counts={split: getattr(args, split) for split in DEFAULT_COUNTS}, seed=args.seed,
        shards=args.shards, overwrite=args.overwrite,
        pipeline_options=pipeline_options(pipeline_argv))
    print(summary(args.out, metadata, time.perf_counter() - started))
    return 0


def summary(out_dir: str, metadata: dict, seconds: float) -> str:
    """The dataset's table (see `describe`), and how fast it was written."""
    total = sum(metadata["counts"].values())
    return (f"{describe(out_dir, metadata)}\n{total} sequences in {seconds:.1f} s "
            f"({total / max(seconds, 1e-9):,.0f}/s)")


def describe(out_dir: str, metadata: dict) -> str:
    """A table of a dataset: per split, sequences, shards, size, length histogram, widths."""
    from schemas import dataset

    stats = dataset.load_stats(out_dir)
    params = metadata["params"]
    lines = [f"dataset {out_dir} ({params['mode']}, seed {metadata['seed']}, MNIST from "
             f"{metadata['source']['location']})",
             f"{'split':<11}{'sequences':>10}{'shards':>8}{'MB':>8}  {'widths':<9}  "
             f"sequences by length"]
    for split, count in metadata["counts"].items():
        files = metadata["files"][split]
        lengths = metadata["length_histogram"][split]
        widths = sorted(int(k) for k in metadata["width_histogram"][split])
        megabytes = sum(f["bytes"] for f in files) / 1e6
        histogram = "  ".join(f"{n}:{lengths[n]}" for n in sorted(lengths, key=int))
        lines.append(f"{split:<11}{count:>10}{len(files):>8}{megabytes:>8.1f}  "
                     f"{_span(widths):<9}  {histogram or '-'}")
    lines.append(f"train statistics: {stats['count']} frames, pixel mean "
                 f"{stats['global_mean']:.2f}, std {stats['global_std']:.2f} (per row: mean "
                 f"{min(stats['mean']):.1f}..{max(stats['mean']):.1f}, std "
                 f"{min(stats['std']):.1f}..{max(stats['std']):.1f})")
    return "\n".join(lines)


def _span(values: list[int]) -> str:
    if not values:
        return "-"
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}..{values[-1]}"
