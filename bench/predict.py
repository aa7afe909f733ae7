"""Batch prediction job throughput vs an in-process loop, and its memory, measured in one run.

    .venv/bin/python bench/predict.py [--count 20000] [--model DIR] [--workers 1] [--mnist DIR]

Renders a variable-length (2..5) test split of `--count` sequences; without `--model`, trains the
default `crnn` for one epoch on a small train split (weights do not change the cost). Then, with
the same exported model, prints sequences/s for
  (a) the loop: load the SavedModel, feed `recognizer.data.reader.make_dataset` batches (bucketed, 128)
      to `serving_default`, decode to strings, in this process;
  (b) `digitseq predict` (`pipelines.predict.job.run_prediction`) on the local runner with
      `--workers` processes, writing JSON Lines, dead letters and metrics.json;
the ratio b/a (target >= 0.7); and the job's peak memory (largest process of its tree, fresh
interpreter) at the `--memory-counts` input sizes with their ratio (flat: close to 1).
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

BATCH = 128


def render(location: str, out_dir: str, count: int) -> str:
    from digitseq.cli.beam_options import pipeline_options
    from digitseq.pipelines.render import job as render_lib
    from digitseq.pipelines.render import params as render_params

    if not os.path.exists(os.path.join(out_dir, "COMPLETED")):
        render_lib.render_dataset(
            render_lib.RenderConfig(
                out_dir=out_dir,
                mnist=location,
                params=render_params.RenderParams(mode="variable"),
                train=2000,
                validation=200,
                test=count,
                seed=1,
                shards=4,
                overwrite=True,
            ),
            pipeline_options([]),
        )
    return out_dir


def train_model(data_dir: str, model_dir: str) -> str:
    from digitseq.recognizer.config import TrainConfig
    from digitseq.recognizer.train import trainer as train

    train.train(TrainConfig(data_dir=data_dir, model_dir=model_dir, epochs=1), progress=False)
    return model_dir


def loop(model_dir: str, data_dir: str) -> tuple[float, int]:
    """The in-process baseline. Returns (seconds, sequences)."""
    import tensorflow as tf

    from digitseq.recognizer.data import reader as data
    from digitseq.recognizer.serving import decoding
    from digitseq.schemas import batch

    started = time.perf_counter()
    serve = tf.saved_model.load(os.path.join(model_dir, "serving")).signatures["serving_default"]
    count = 0
    for features, _ in data.make_dataset(data_dir, "test", BATCH):
        out = serve(
            images=tf.transpose(features[batch.FRAMES], [0, 2, 1]), widths=features[batch.WIDTH]
        )
        count += len(decoding.to_strings(out["digits"], out["lengths"]))
    return time.perf_counter() - started, count


def job(model_dir: str, data_dir: str, out_dir: str, workers: int) -> tuple[float, int]:
    """The Beam job as users run it (local runner). Returns (seconds, sequences scored)."""
    from digitseq.cli.beam_options import pipeline_options
    from digitseq.pipelines.predict import job as predict

    started = time.perf_counter()
    result = predict.run_prediction(
        predict.PredictConfig(
            model_dir=model_dir,
            input_pattern=os.path.join(data_dir, "test", "*"),
            out_dir=out_dir,
            batch_size=BATCH,
            overwrite=True,
        ),
        pipeline_options(common.local_runner_flags(workers)),
    )
    return time.perf_counter() - started, result["scored"]


def peak_memory_mb(model_dir: str, data_dir: str, workers: int) -> float:
    return common.child_peak_mb(
        [__file__, "--memory-child", data_dir, "--model", model_dir, "--workers", str(workers)]
    )


def main() -> None:
    from digitseq.pipelines.render import mnist

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--model", default=None, help="exported model (default: train one)")
    parser.add_argument("--mnist", default=None, help="default: $MNIST_DIR, else the sample")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--memory-counts", default="10000,40000")
    parser.add_argument("--work", default=None, help="keep datasets and model here")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_child:
        with tempfile.TemporaryDirectory() as tmp:
            job(args.model, args.memory_child, tmp, args.workers)
        print(common.peak_rss_mb())
        return

    location = mnist.default_location(args.mnist)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or tmp
        data_dir = render(location, os.path.join(work, f"data-{args.count}"), args.count)
        model_dir = args.model or os.path.join(work, "model")
        if not args.model and not os.path.exists(os.path.join(model_dir, "serving")):
            train_model(data_dir, model_dir)
        print(
            f"MNIST: {location}; {args.count} variable-length test sequences; model "
            f"{model_dir}; {os.cpu_count()} cores",
            flush=True,
        )
        loop_s, loop_n = loop(model_dir, data_dir)
        print(
            f"in-process loop:   {loop_n / loop_s:9,.0f} sequences/s ({loop_s:.1f} s, "
            f"includes loading the model)",
            flush=True,
        )
        job_s, job_n = job(model_dir, data_dir, os.path.join(tmp, "scored"), args.workers)
        assert job_n == loop_n == args.count, (job_n, loop_n)
        print(
            f"Beam job ({args.workers} worker{'s' if args.workers > 1 else ''}): "
            f"{job_n / job_s:9,.0f} sequences/s ({job_s:.1f} s, includes pipeline start-up "
            f"and writing outputs)"
        )
        print(f"ratio job/loop:    {loop_s / job_s:9.2f}  (target >= 0.7)", flush=True)

        sizes = [int(v) for v in args.memory_counts.split(",")]
        peaks = {
            n: peak_memory_mb(
                model_dir, render(location, os.path.join(work, f"data-{n}"), n), args.workers
            )
            for n in sizes
        }
    common.print_memory(peaks, target="flat, <= 1.3")


if __name__ == "__main__":
    main()
