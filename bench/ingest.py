"""Ingest job throughput and memory vs a plain single-process loop, measured in one run.

    .venv/bin/python bench/ingest.py [--count 20000] [--mnist DIR] [--workers 1]
        [--memory-counts 5000,20000]

Writes `--count` image files first (not timed): MNIST test digit strings of 2..5 digits, black
ink on white, 20..80 pixels high, half PNG (grey) and half JPEG (RGB), in folders of
`--memory-counts`' smallest size, with a labels CSV. Then prints images/s for (a) a plain loop
(read, `pipelines.images.normalize_file`, `schemas.record.to_example`, one GZIP
`TFRecordWriter`) and (b) the Beam ingest job on the local runner with `--workers` processes
(its time includes matching, the labels file, pipeline start-up, statistics, metadata and
`rejected.jsonl`), and their ratio (target >= 0.5). Then the job's peak resident memory (the
largest process of its tree) at the `--memory-counts` sizes, in fresh processes, and the ratio of
the largest to the smallest (target: flat, <= 1.3).
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


def write_images(location: str, count: int, folder: str, per_folder: int) -> None:
    """`count` scans under `folder/scans/dNN/` and `folder/labels-N.csv` for every prefix size
    N that is a multiple of `per_folder` (and `count`)."""
    import numpy as np
    import tensorflow as tf

    from digitseq.pipelines.render import mnist

    test = mnist.load(location).test
    rng = np.random.default_rng(0)
    lines = ["file,label"]
    for i in range(count):
        rows = rng.integers(0, len(test.images), rng.integers(2, 6))
        strip = np.concatenate(list(test.images[rows]), axis=1).astype(np.float32)
        height = int(rng.integers(20, 81))
        width = max(1, round(strip.shape[1] * height / 28))
        ink = tf.image.resize(strip[..., None], [height, width], antialias=True).numpy()
        paper = (255 - np.clip(np.round(ink), 0, 255)).astype(np.uint8)
        name = f"scans/d{i // per_folder:02d}/{i:06d}.{'png' if i % 2 else 'jpg'}"
        data = (
            tf.io.encode_png(paper)
            if i % 2
            else tf.io.encode_jpeg(np.repeat(paper, 3, axis=-1), quality=90)
        ).numpy()
        os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        lines.append(f"{name},{''.join(str(int(d)) for d in test.labels[rows])}")
        if (i + 1) % per_folder == 0 or i + 1 == count:
            with open(os.path.join(folder, f"labels-{i + 1}.csv"), "w") as f:
                f.write("\n".join(lines) + "\n")


def pattern(folder: str, count: int, per_folder: int) -> str:
    folders = (count + per_folder - 1) // per_folder
    return os.path.join(folder, "scans", f"d0[0-{folders - 1}]" if folders <= 10 else "d*", "*")


def plain_loop(folder: str, count: int, out_path: str) -> float:
    """The baseline: one process, one file, no splits or buckets. Returns seconds."""
    import tensorflow as tf

    from digitseq.pipelines import images
    from digitseq.schemas import record

    started = time.perf_counter()
    with open(os.path.join(folder, f"labels-{count}.csv")) as f:
        rows = [line.rstrip("\n").split(",") for line in f][1:]
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(out_path, options=options) as writer:
        for name, label in rows:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            image = images.normalize_file(data)
            writer.write(
                record.to_example(
                    record_id=name,
                    image=image,
                    label=[int(c) for c in label],
                    source_index=None,
                    source_file=name,
                )
            )
    return time.perf_counter() - started


def beam_job(folder: str, count: int, per_folder: int, out_dir: str, workers: int) -> float:
    """The ingest job as users run it (local runner). Returns seconds."""
    from digitseq.cli.beam_options import pipeline_options
    from digitseq.pipelines.ingest import job as ingest

    started = time.perf_counter()
    metadata = ingest.ingest_dataset(
        ingest.IngestConfig(
            images=pattern(folder, count, per_folder),
            labels=os.path.join(folder, f"labels-{count}.csv"),
            out_dir=out_dir,
            overwrite=True,
        ),
        pipeline_options(common.local_runner_flags(workers)),
    )
    seconds = time.perf_counter() - started
    if metadata["ingest"]["records"] != count:
        raise SystemExit(f"expected {count} records, found {metadata['ingest']}")
    return seconds


def main() -> None:
    from digitseq.pipelines.render import mnist

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--mnist", default=None, help="default: $MNIST_DIR, else the sample")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--memory-counts", default="5000,20000")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted(int(v) for v in args.memory_counts.split(","))
    if args.memory_child:
        folder, count = args.memory_child.rsplit(",", 1)
        with tempfile.TemporaryDirectory() as tmp:
            beam_job(folder, int(count), sizes[0], os.path.join(tmp, "out"), args.workers)
        print(common.peak_rss_mb())
        return
    location = mnist.default_location(args.mnist)
    count = max(args.count, sizes[-1])
    with tempfile.TemporaryDirectory() as tmp:
        print(f"MNIST: {location}; {count} image files; {os.cpu_count()} cores", flush=True)
        started = time.perf_counter()
        write_images(location, count, tmp, sizes[0])
        print(
            f"wrote the files in {time.perf_counter() - started:.1f} s (not timed below)",
            flush=True,
        )
        loop_s = plain_loop(tmp, args.count, os.path.join(tmp, "loop.tfrecord.gz"))
        print(
            f"plain loop:        {args.count / loop_s:9,.0f} images/s ({loop_s:.1f} s)", flush=True
        )
        job_s = beam_job(tmp, args.count, sizes[0], os.path.join(tmp, "beam"), args.workers)
        print(
            f"Beam job ({args.workers} workers): {args.count / job_s:9,.0f} images/s "
            f"({job_s:.1f} s, includes pipeline start-up)"
        )
        print(f"ratio Beam/loop:   {loop_s / job_s:9.2f}  (target >= 0.5)", flush=True)
        peaks = {
            n: common.child_peak_mb(
                [
                    __file__,
                    "--memory-child",
                    f"{tmp},{n}",
                    "--workers",
                    str(args.workers),
                    "--memory-counts",
                    args.memory_counts,
                ]
            )
            for n in sizes
        }
    common.print_memory(peaks)


if __name__ == "__main__":
    main()
