"""Recognition quality and training speed on the full MNIST, measured in one run.

    MNIST_DIR=../shared/data/mnist .venv/bin/python bench/quality.py [--work DIR]
        [--runs variable:crnn:15,fixed:crnn:12,variable:rnn:3,variable:brnn:1]

Renders a variable-length (2..5) and a fixed-length (5) dataset with `digitseq render` (50,000
train, 5,000 validation, 10,000 test sequences; test digits from MNIST test only), then for each
`dataset:arch:epochs` run trains with `digitseq train` (default strategy, global batch 64) exactly
as a user would, and scores the exported best model on the test split with greedy decoding.
Prints per run: wall-clock training minutes, training examples/s, test CER, SER and LER.
Targets: variable `crnn` CER <= 1.0% and SER <= 3.0% within 30 minutes; fixed `crnn` SER <= 4.0%.
Existing datasets and finished runs under `--work` are reused, so an interrupted run can continue.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATASETS = {"variable": ["--mode", "variable", "--min-length", "2", "--max-length", "5"],
            "fixed": ["--mode", "fixed", "--length", "5"]}
COUNTS = ["--train", "50000", "--validation", "5000", "--test", "10000"]


def digitseq(*args: str) -> float:
    """Runs the CLI in a fresh process (as users do); returns wall-clock seconds."""
    command = [sys.executable, "-m", "digitseq", *args]
    print("$", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return time.perf_counter() - started


def score(model_dir: str, data_dir: str) -> dict:
    """Test-split error rates of the exported model (greedy decoding)."""
    import keras

    import recognizer.layers  # noqa: F401  (registers the custom layers)
    from recognizer.evaluation import Evaluator

    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"), safe_mode=True)
    summary, _ = Evaluator(model, data_dir, "test", batch_size=256)()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/digitseq-quality")
    parser.add_argument("--mnist", default=os.environ.get("MNIST_DIR",
                                                          os.path.join(ROOT, "..", "shared",
                                                                       "data", "mnist")))
    parser.add_argument("--runs", default="variable:crnn:15,fixed:crnn:12,variable:rnn:3,"
                                          "variable:brnn:1")
    parser.add_argument("--batch-size", default="64")
    args = parser.parse_args()

    rows = []
    for run in args.runs.split(","):
        name, arch, epochs = run.split(":")
        data_dir = os.path.join(args.work, name)
        if not os.path.exists(os.path.join(data_dir, "COMPLETED")):
            digitseq("render", "--out", data_dir, *DATASETS[name], *COUNTS,
                     "--mnist", args.mnist, "--overwrite")
        model_dir = os.path.join(args.work, f"{name}-{arch}-{epochs}")
        result_path = os.path.join(model_dir, "bench.json")
        if not os.path.exists(result_path):
            seconds = digitseq("train", "--data", data_dir, "--model-dir", model_dir,
                               "--arch", arch, "--epochs", epochs,
                               "--batch-size", args.batch_size)
            with open(os.path.join(model_dir, "config.json")) as f:
                history = json.load(f)["result"]["history"]
            result = {"run": run, "minutes": seconds / 60,
                      "examples_per_second": sum(h["examples_per_second"] for h in history)
                      / len(history),
                      "test": score(model_dir, data_dir)}
            with open(result_path, "w") as f:
                json.dump(result, f, indent=2)
        with open(result_path) as f:
            rows.append(json.load(f))

    print("\n| run | training minutes | train examples/s | test CER | test SER | test LER |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        test = row["test"]
        print(f"| {row['run']} | {row['minutes']:.1f} | {row['examples_per_second']:,.0f} | "
              f"{test['cer']:.2%} | {test['ser']:.2%} | {test['ler']:.2%} |")


if __name__ == "__main__":
    main()
