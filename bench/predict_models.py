"""The prediction job with several models on the same records: sequences/s, CER, and each model's
ratio to the first, measured in one run.

    .venv/bin/python bench/predict_models.py --input 'plain/test/*' [--more 'plain50k/test/*']
        --model floor=DIR --model deep=DIR [--model deep-bf16=DIR@bfloat16 ...] [--rounds 2]

Each round runs `pipelines.predict.job.run_prediction` (the job `digitseq predict` runs: local
runner, one worker, greedy decoding, JSON Lines) once per model, each in a fresh process, the
models in the order given; `DIR@PRECISION` runs the model in that `--precision`. The job's time
is what `digitseq predict` reports: checking the model, building and running the pipeline,
writing every output. Printed per model, the medians over the rounds:

  job seq/s      sequences scored per second of the whole job on `--input`, and its ratio to the
                 first model's;
  CER, SER       on `--input` (they do not change between rounds);
  after start-up with `--more` (an input with more records): (records of `--more` - records of
                 `--input`) / (seconds on `--more` - seconds on `--input`), the rate once the
                 job has started (loading the model, building the pipeline and the first
                 call of each signature cost the same whatever the input's size), and its ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def child(model: str, pattern: str) -> None:
    """Runs one job (`model` is `DIR` or `DIR@PRECISION`); prints `{"seconds", "scored", "cer",
    "ser"}` as JSON."""
    from digitseq.pipelines.predict import job as predict

    model_dir, _, precision = model.partition("@")
    with tempfile.TemporaryDirectory() as out_dir:
        started = time.perf_counter()
        result = predict.run_prediction(
            predict.PredictConfig(
                model_dir=model_dir,
                input_pattern=pattern,
                out_dir=out_dir,
                overwrite=True,
                precision=precision or predict.PredictConfig.precision,
            )
        )
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "scored": result["scored"],
                "cer": result["cer"],
                "ser": result["ser"],
            }
        )
    )


def run_job(model_dir: str, pattern: str) -> dict:
    found = subprocess.run(
        [sys.executable, __file__, "--child", model_dir, "--input", pattern],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(found.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="TFRecord pattern to score")
    parser.add_argument(
        "--more", default=None, help="a pattern with more records, for the rate after start-up"
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=DIR[@PRECISION]",
        help="repeatable; ratios are to the first",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.input)
        return
    if len(args.model) < 2 or not all("=" in m for m in args.model):
        parser.error("give two or more --model NAME=DIR")
    models = dict(m.split("=", 1) for m in args.model)
    patterns = [args.input] + ([args.more] if args.more else [])
    runs: dict[tuple[str, str], list[dict]] = {}
    for round_ in range(args.rounds):
        for pattern in patterns:
            for name, model_dir in models.items():
                found = run_job(model_dir, pattern)
                runs.setdefault((name, pattern), []).append(found)
                print(
                    f"round {round_ + 1}: {name} on {pattern}: {found['scored']} in "
                    f"{found['seconds']:.2f} s ({found['scored'] / found['seconds']:,.0f} seq/s)",
                    flush=True,
                )

    def rate(name: str) -> float:
        return statistics.median(r["scored"] / r["seconds"] for r in runs[name, args.input])

    def after_start(name: str) -> float:
        small = statistics.median(r["seconds"] for r in runs[name, args.input])
        large = statistics.median(r["seconds"] for r in runs[name, args.more])
        extra = runs[name, args.more][0]["scored"] - runs[name, args.input][0]["scored"]
        return extra / (large - small)

    first = next(iter(models))
    header = f"{'model':<12}{'job seq/s':>10}{'ratio':>7}{'CER':>8}{'SER':>8}"
    if args.more:
        header += f"{'after start-up':>16}{'ratio':>7}"
    print(header)
    for name in models:
        scored = runs[name, args.input][0]
        line = (
            f"{name:<12}{rate(name):>10,.0f}{rate(name) / rate(first):>7.2f}"
            f"{scored['cer']:>8.2%}{scored['ser']:>8.2%}"
        )
        if args.more:
            line += f"{after_start(name):>16,.0f}{after_start(name) / after_start(first):>7.2f}"
        print(line)


if __name__ == "__main__":
    main()
