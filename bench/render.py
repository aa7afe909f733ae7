"""Render job throughput and memory vs a plain single-process loop, measured in one run.

    .venv/bin/python bench/render.py [--count 1000000] [--mnist DIR] [--workers 2]
        [--memory-counts 100000,1000000]
    .venv/bin/python bench/render.py --preset plain,touching,writers,scanned [--count 20000]

Prints sequences/s for (a) a plain loop (numpy concatenation + tf.train.Example + one GZIP
TFRecordWriter) and (b) the Beam render job on the local runner with `--workers` processes and
its automatic shard count, both on `--count` variable-length (2..5) train sequences from the same
MNIST source, and their ratio (target >= 1.0 with 2 workers: two processes should beat one).
Then the job's peak resident memory (the largest process of its tree) at the `--memory-counts`
sizes, and the ratio of the largest to the smallest (target <= 1.3).

With `--preset A,B,...` it instead runs the same Beam job (same workers, `--count` sequences,
variable length 2..5) once per preset and prints each one's sequences/s and its ratio to the first
preset's (issue 16: target >= 0.5 for the realistic presets against `plain`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import common  # noqa: E402


def plain_loop(location: str, count: int, out_path: str, seed: int = 0) -> float:
    """The baseline: everything in one process, one file. Returns seconds."""
    import numpy as np
    import tensorflow as tf

    from digitseq.pipelines.render import mnist

    started = time.perf_counter()
    train = mnist.load(location).train
    pool = np.flatnonzero(train.indices < 55000)
    rng = np.random.default_rng(seed)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(out_path, options=options) as writer:
        for i in range(count):
            rows = pool[rng.integers(0, len(pool), rng.integers(2, 6))]
            image = np.concatenate(list(train.images[rows]), axis=1)
            feature = {
                "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"train/%08d" % i])),
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
                "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[28])),
                "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[image.shape[1]])),
                "label": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=train.labels[rows].tolist())
                ),
                "source_index": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=train.indices[rows].tolist())
                ),
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    return time.perf_counter() - started


def beam_job(location: str, count: int, out_dir: str, workers: int, preset: str = "plain") -> float:
    """The render job as users run it (local runner). Returns seconds."""
    from digitseq.cli.beam_options import pipeline_options
    from digitseq.pipelines.render import job as render
    from digitseq.pipelines.render import params as render_params

    flags = common.local_runner_flags(workers)
    started = time.perf_counter()
    render.render_dataset(
        render.RenderConfig(
            out_dir=out_dir,
            mnist=location,
            params=render_params.preset_params(preset, mode="variable"),
            train=count,
            validation=0,
            test=0,
            seed=0,
            overwrite=True,
        ),
        pipeline_options(flags),
    )
    return time.perf_counter() - started


def compare_presets(location: str, count: int, workers: int, presets: list[str]) -> None:
    """The Beam job once per preset; sequences/s and the ratio to the first preset."""
    print(
        f"MNIST: {location}; {count} variable-length sequences per preset; {workers} "
        f"worker(s); {os.cpu_count()} cores",
        flush=True,
    )
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            seconds = beam_job(location, count, os.path.join(tmp, preset), workers, preset)
            rates[preset] = count / seconds
            print(
                f"{preset:>10}: {rates[preset]:9,.0f} sequences/s ({seconds:.1f} s)   "
                f"ratio to {presets[0]}: {rates[preset] / rates[presets[0]]:.2f}",
                flush=True,
            )


def peak_memory_mb(location: str, count: int, workers: int) -> float:
    """Peak RSS of the job's process tree (the largest single process), in a fresh interpreter."""
    return common.child_peak_mb(
        [__file__, "--memory-child", str(count), "--mnist", location, "--workers", str(workers)]
    )


def main() -> None:
    from digitseq.pipelines.render import mnist

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--mnist", default=None, help="default: $MNIST_DIR, else the sample")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-counts", default="100000,1000000")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--preset", default=None, help="comma-separated presets: compare the job's rate across them"
    )
    args = parser.parse_args()
    location = mnist.default_location(args.mnist)
    if args.preset:
        compare_presets(location, args.count, args.workers, args.preset.split(","))
        return

    with tempfile.TemporaryDirectory() as tmp:
        if args.memory_child:
            beam_job(location, args.memory_child, os.path.join(tmp, "out"), args.workers)
            print(common.peak_rss_mb())
            return
        print(
            f"MNIST: {location}; {args.count} variable-length sequences; {os.cpu_count()} cores",
            flush=True,
        )
        loop_s = plain_loop(location, args.count, os.path.join(tmp, "loop.tfrecord.gz"))
        print(
            f"plain loop:        {args.count / loop_s:9,.0f} sequences/s ({loop_s:.1f} s)",
            flush=True,
        )
        job_s = beam_job(location, args.count, os.path.join(tmp, "beam"), args.workers)
        print(
            f"Beam job ({args.workers} workers): {args.count / job_s:9,.0f} sequences/s "
            f"({job_s:.1f} s, includes pipeline start-up)"
        )
        print(f"ratio Beam/loop:   {loop_s / job_s:9.2f}  (target >= 1.0)", flush=True)

    sizes = [int(v) for v in args.memory_counts.split(",")]
    peaks = {n: peak_memory_mb(location, n, args.workers) for n in sizes}
    common.print_memory(peaks)


if __name__ == "__main__":
    main()
