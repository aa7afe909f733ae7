"""Recognition quality and training speed on the full MNIST, measured in one run.

    MNIST_DIR=/path/to/mnist .venv/bin/python bench/quality.py [--work DIR] [--runs plain,...]
        [--recipe "FLAGS"] [--epochs N]

Renders, with `digitseq render` (full MNIST; test digits from MNIST test only, variable length):

    plain      the course practical's layout, lengths 2..5 (50,000 / 5,000 / 10,000)
    plain68    the same layout, lengths 6..8 (test split only)
    touching   `--preset touching`, lengths 2..5 (50,000 / 5,000 / 10,000)
    overlap8   every pair of digits overlapping by exactly 8 columns (test split only)
    pan001     `--preset pan001` (fixed 15-column overlap), lengths 2..5 (50,000 / 5,000 / 10,000)

then for each run trains one model with one `digitseq train` command (the recipe's flags) and
scores the exported best model (chosen on validation CER) on test splits, greedy decoding:

    plain      trained on plain;    scored on plain and plain68
    touching   trained on touching; scored on overlap8 and plain
    pan001     trained on pan001;   scored on pan001

Prints per run and test split: training minutes (wall clock of the whole command), training
examples/s, CER, SER and LER. Targets (issue 10): plain CER <= 0.5% and SER <= 1.8% within 30
minutes, plain68 CER <= 1.2 x plain CER; touching: overlap8 and plain CER <= 0.6%; pan001 LER
<= 1.0%. Existing datasets and finished runs under `--work` are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FULL = ["--train", "50000", "--validation", "5000", "--test", "10000"]
TEST_ONLY = ["--train", "1", "--validation", "0", "--test", "10000"]
DATASETS = {
    "plain": ["--mode", "variable", "--min-length", "2", "--max-length", "5", *FULL],
    "plain68": ["--mode", "variable", "--min-length", "6", "--max-length", "8", *TEST_ONLY],
    "touching": ["--preset", "touching", "--mode", "variable", *FULL],
    "overlap8": ["--overlap", "8,8", "--mode", "variable", *TEST_ONLY],
    "pan001": ["--preset", "pan001", "--mode", "variable", *FULL],
}
RUNS = {"plain": ("plain", ["plain", "plain68"]),
        "touching": ("touching", ["overlap8", "plain"]),
        "pan001": ("pan001", ["pan001"])}
RECIPE = ("--batch-norm --conv-blocks 3 --schedule cosine --learning-rate 2e-3 "
          "--warmup-epochs 1 --augment")
"""The recommended recipe (README): chosen on validation CER."""


def digitseq(*args: str) -> float:
    """Runs the CLI in a fresh process (as users do); returns wall-clock seconds."""
    command = [sys.executable, "-m", "digitseq", *args]
    print("$ digitseq", " ".join(shlex.quote(a) for a in args), flush=True)
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


def dataset(work: str, name: str, mnist: str, seed: int) -> str:
    data_dir = os.path.join(work, name)
    if not os.path.exists(os.path.join(data_dir, "COMPLETED")):
        digitseq("render", "--out", data_dir, *DATASETS[name], "--mnist", mnist,
                 "--seed", str(seed), "--overwrite")
    return data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/digitseq-quality")
    parser.add_argument("--mnist", default=os.environ.get("MNIST_DIR"))
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--recipe", default=RECIPE, help="digitseq train flags")
    parser.add_argument("--epochs", default="14")
    parser.add_argument("--tag", default="", help="suffix of the model directories")
    args = parser.parse_args()
    if not args.mnist:
        parser.error("set --mnist or $MNIST_DIR to the directory of the four MNIST IDX files")

    rows = []
    for run in args.runs.split(","):
        train_on, test_on = RUNS[run]
        data_dir = dataset(args.work, train_on, args.mnist, seed=0)
        model_dir = os.path.join(args.work, f"model-{run}{args.tag}")
        result_path = os.path.join(model_dir, "bench.json")
        if not os.path.exists(result_path):
            seconds = digitseq("train", "--data", data_dir, "--model-dir", model_dir,
                               "--epochs", args.epochs, *shlex.split(args.recipe))
            with open(os.path.join(model_dir, "config.json")) as f:
                history = json.load(f)["result"]["history"]
            tests = {name: score(model_dir, dataset(args.work, name, args.mnist, seed=1))
                     for name in test_on}
            result = {"run": run, "recipe": args.recipe, "epochs": args.epochs,
                      "minutes": seconds / 60,
                      "examples_per_second": sum(h["examples_per_second"] for h in history)
                      / len(history), "tests": tests}
            with open(result_path, "w") as f:
                json.dump(result, f, indent=2)
        with open(result_path) as f:
            rows.append(json.load(f))

    print("\n| run | test split | training minutes | train examples/s | CER | SER | LER |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        for name, test in row["tests"].items():
            print(f"| {row['run']} | {name} | {row['minutes']:.1f} | "
                  f"{row['examples_per_second']:,.0f} | {test['cer']:.2%} | {test['ser']:.2%} | "
                  f"{test['ler']:.2%} |")


if __name__ == "__main__":
    main()
