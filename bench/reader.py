"""Reader throughput vs the limit and the textbook pipeline, and padding efficiency, in one run.

    .venv/bin/python bench/reader.py [--data DIR] [--count 50000] [--mnist DIR]

Without `--data`, renders a variable-length (2..5) train split of `--count` sequences first.
Prints examples/s (best of `--epochs` full passes, batch 256) for
  (a) the limit: TFRecordDataset -> batch -> parse_example -> one decode, no bucketing;
  (b) the textbook pipeline: per-example parse_single_example + decode, bucket_by_sequence_length;
  each of (a) and (b) with and without `num_parallel_reads=AUTOTUNE`, the faster one counting;
  (c) recognizer.data.reader.make_dataset (evaluation order, and training order with shuffling; both
      with the default one-off verification, timed apart; and with verify=False for reference);
the ratios c/a (target >= 0.6) and c/b (target >= 5), and padding efficiency, real frames /
padded frames, for (c) (target >= 0.95) and for padding every batch to the widest record.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from digitseq.recognizer.config import ReaderConfig  # noqa: E402
from digitseq.recognizer.data import layout
from digitseq.recognizer.data import reader as data  # noqa: E402
from digitseq.schemas import batch, dataset, record  # noqa: E402

BATCH = 256


def read(files, parallel: bool):
    return tf.data.TFRecordDataset(
        files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE if parallel else None
    )


def limit(files, height, max_width, parallel):
    def parse(serialized):
        parsed = tf.io.parse_example(serialized, record.tf_feature_spec())
        frames = tf.io.decode_raw(parsed[record.IMAGE], tf.uint8, fixed_length=height * max_width)
        return frames, parsed[record.WIDTH]

    return (
        read(files, parallel)
        .batch(BATCH)
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def textbook(files, height, boundaries, parallel):
    spec = record.tf_feature_spec()

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        width = tf.cast(parsed[record.WIDTH], tf.int32)
        image = tf.reshape(tf.io.decode_raw(parsed[record.IMAGE], tf.uint8), [height, width])
        return tf.transpose(image), parsed[record.LABEL]

    return (
        read(files, parallel)
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .bucket_by_sequence_length(
            lambda frames, label: tf.shape(frames)[0],
            boundaries,
            [BATCH] * (len(boundaries) + 1),
            padded_shapes=([None, height], [None]),
            padding_values=(tf.constant(0, tf.uint8), tf.constant(-1, tf.int64)),
        )
        .prefetch(tf.data.AUTOTUNE)
    )


def rate(ds, count_fn, epochs):
    best = 0.0
    for _ in range(epochs):
        started, n = time.perf_counter(), 0
        for element in ds:
            n += count_fn(element)
        best = max(best, n / (time.perf_counter() - started))
    return best, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="a rendered dataset directory")
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data
        if not data_dir:
            from digitseq.cli.beam_options import pipeline_options
            from digitseq.pipelines.render import mnist, render, render_params

            data_dir = os.path.join(tmp, "data")
            render.render_dataset(
                render.RenderConfig(
                    out_dir=data_dir,
                    mnist=mnist.default_location(args.mnist),
                    params=render_params.RenderParams(mode="variable"),
                    train=args.count,
                    validation=0,
                    test=0,
                    seed=0,
                    shards=4,
                ),
                pipeline_options([]),
            )
        info = layout.split_info(data_dir, "train")
        files = [f for b in info.buckets for f in b.files]
        boundaries = [b.boundary + 1 for b in info.buckets]
        print(
            f"{info.records} train records in {len(files)} GZIP files, buckets "
            f"{[b.boundary for b in info.buckets]}; batch {BATCH}; {os.cpu_count()} cores"
        )

        # Each baseline in its faster form: with and without parallel reads.
        a_runs = {
            p: rate(
                limit(files, info.height, info.max_width, p),
                lambda e: int(e[1].shape[0]),
                args.epochs,
            )[0]
            for p in (True, False)
        }
        b_runs = {
            p: rate(
                textbook(files, info.height, boundaries, p),
                lambda e: int(e[0].shape[0]),
                args.epochs,
            )[0]
            for p in (True, False)
        }
        a, b = max(a_runs.values()), max(b_runs.values())
        started = time.perf_counter()
        evaluation = data.make_dataset(data_dir, "train", BATCH)
        verify_s = time.perf_counter() - started
        c, _ = rate(evaluation, lambda e: int(e[0][batch.WIDTH].shape[0]), args.epochs)
        c_train, _ = rate(
            data.make_dataset(data_dir, "train", BATCH, training=True, seed=0),
            lambda e: int(e[0][batch.WIDTH].shape[0]),
            args.epochs,
        )
        c_checked, _ = rate(
            data.make_dataset(data_dir, "train", BATCH, config=ReaderConfig(verify=False)),
            lambda e: int(e[0][batch.WIDTH].shape[0]),
            args.epochs,
        )

        real = padded = 0
        for features, _ in evaluation:
            real += int(tf.reduce_sum(features[batch.WIDTH]))
            padded += int(features[batch.FRAMES].shape[0] * features[batch.FRAMES].shape[1])
        widest = sum(
            int(w) * n
            for w, n in dataset.load_metadata(data_dir)["width_histogram"]["train"].items()
        ) / (info.records * info.max_width)

    for name, runs in (
        ("(a) limit, no bucketing:          ", a_runs),
        ("(b) textbook per-example + bucket:", b_runs),
    ):
        print(
            f"{name}  {max(runs.values()):10,.0f} examples/s (parallel reads "
            f"{runs[True]:,.0f}, one reader {runs[False]:,.0f})"
        )
    print(
        f"(c) make_dataset, evaluation order: {c:10,.0f} examples/s "
        f"(+ {verify_s:.1f} s one-off file verification)"
    )
    print(f"(c) make_dataset, training order:   {c_train:10,.0f} examples/s")
    print(f"(c) verify=False (checks per batch): {c_checked:9,.0f} examples/s, evaluation order")
    print(
        f"c/a = {c / a:.2f} (target >= 0.6), c/b = {c / b:.1f} (target >= 5); training: "
        f"c/a = {c_train / a:.2f}, c/b = {c_train / b:.1f}"
    )
    print(
        f"padding efficiency: {real / padded:.3f} (target >= 0.95); padding every batch to "
        f"the widest record: {widest:.3f}"
    )


if __name__ == "__main__":
    main()
