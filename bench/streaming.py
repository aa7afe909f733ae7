"""The streaming prediction job against the batch job on the same files, measured in one run.

    .venv/bin/python bench/streaming.py --model DIR [--records 20000] [--windows 10] [--data DIR]

Takes the first `--records` records of a dataset (test split first, then validation and train;
rendered from `--mnist` when no
`--data` is given), writes them into `2 x --windows` TFRecord files, then:
  (a) the batch job (`digitseq predict --input`) over the files, on the local runner;
  (b) the streaming job (`pipelines.predict.streaming.stream_outputs`) on the Python direct runner
      in streaming mode, fed by a `TestStream` in which two files land per 60-second window;
and prints whether the rows (id, prediction, label, edits, file, record, model) and the metrics
(sequences, characters, character and string errors, scored, dead letters; the windows' documents
summed) are identical, and the records/s of both. No target for the throughput: the direct runner
is not a production streaming runner.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WINDOW = 60.0
BASE = 1_800_000_000


def write_files(data_dir: str, out_dir: str, records: int, files: int) -> list[str]:
    import numpy as np
    import tensorflow as tf

    shards = [
        path
        for split in ("test", "validation", "train")
        for path in sorted(glob.glob(os.path.join(data_dir, split, "*")))
    ]
    serialized = [
        r.numpy() for r in tf.data.TFRecordDataset(shards, compression_type="GZIP").take(records)
    ]
    if len(serialized) < records:
        raise SystemExit(f"{data_dir}: {len(serialized)} records, {records} asked")
    paths = []
    for i, part in enumerate(np.array_split(np.arange(records), files)):
        path = os.path.join(out_dir, f"part-{i:03d}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for k in part:
                writer.write(serialized[k])
        paths.append(path)
    return paths


def stream(paths: list[str], model: str, out_dir: str) -> float:
    import apache_beam as beam
    from apache_beam.io.filesystem import FileMetadata
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.test_stream import TestStream
    from apache_beam.transforms.window import TimestampedValue

    from digitseq.pipelines.predict import streaming
    from digitseq.pipelines.predict.config import PredictConfig

    events = TestStream()
    for i in range(0, len(paths), 2):
        window = i // 2
        events = events.add_elements(
            [
                TimestampedValue(
                    FileMetadata(p, os.path.getsize(p), os.path.getmtime(p)),
                    BASE + window * WINDOW + 1 + k,
                )
                for k, p in enumerate(paths[i : i + 2])
            ],
            tag="files",
        ).advance_watermark_to(BASE + (window + 1) * WINDOW, tag="files")
    events = events.advance_watermark_to_infinity(tag="files")
    config = PredictConfig(model_dir=model, watch="unused", out_dir=out_dir, window=WINDOW)
    started = time.perf_counter()
    with beam.Pipeline(
        options=PipelineOptions(runner="BundleBasedDirectRunner", streaming=True)
    ) as p:
        streaming.stream_outputs((p | events)["files"], config=config, height=28)
    return time.perf_counter() - started


def totals(documents: list[dict]) -> dict:
    keys = ("sequences", "characters", "scored", "reviewed", "unlabeled", "dead_letters")
    found = {k: sum(d[k] for d in documents) for k in keys}
    found["char_errors"] = round(sum(d["cer"] * d["characters"] for d in documents))
    found["string_errors"] = round(sum(d["ser"] * d["sequences"] for d in documents))
    return found


def rows(out_dir: str) -> list[dict]:
    from digitseq.schemas import prediction

    return sorted(
        ({k: v for k, v in r.items() if k != "confidence"} for r in prediction.read_rows(out_dir)),
        key=lambda r: (r["file"], r["record"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--data")
    parser.add_argument("--mnist", default=None, help="default: $MNIST_DIR, else the sample")
    args = parser.parse_args()
    from digitseq import cli
    from digitseq.schemas import prediction

    work = tempfile.mkdtemp(prefix="bench-streaming-")
    data = args.data
    if data is None:
        from bench.predict import render
        from digitseq.pipelines.render import mnist

        data = render(mnist.default_location(args.mnist), os.path.join(work, "data"), args.records)
    inbox = os.path.join(work, "inbox")
    os.makedirs(inbox)
    paths = write_files(data, inbox, args.records, 2 * args.windows)

    batch_out, stream_out = os.path.join(work, "batch"), os.path.join(work, "stream")
    started = time.perf_counter()
    assert (
        cli.run(
            [
                "predict",
                "--model",
                args.model,
                "--input",
                os.path.join(inbox, "*.tfrecord"),
                "--out",
                batch_out,
            ]
        )
        == 0
    )
    batch_seconds = time.perf_counter() - started
    stream_seconds = stream(paths, args.model, stream_out)

    windows = sorted(glob.glob(os.path.join(stream_out, f"{prediction.WINDOW_METRICS}-*")))
    streamed = [json.loads(open(p).read()) for p in windows]
    batch_metrics = totals([json.load(open(os.path.join(batch_out, prediction.METRICS)))])
    stream_metrics = totals(streamed)
    same_rows = rows(batch_out) == rows(stream_out)
    print(f"records {args.records} in {len(paths)} files; {len(windows)} window metrics files")
    print(f"rows identical: {same_rows}; metrics identical: {batch_metrics == stream_metrics}")
    print(f"  batch   {batch_metrics}")
    print(f"  stream  {stream_metrics}")
    print(
        f"(a) batch job      {batch_seconds:7.1f} s  {args.records / batch_seconds:7.0f} records/s"
    )
    print(
        f"(b) streaming job  {stream_seconds:7.1f} s  {args.records / stream_seconds:7.0f} "
        f"records/s  (b/a {batch_seconds / stream_seconds:.2f})"
    )


if __name__ == "__main__":
    main()
