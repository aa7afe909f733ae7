"""Recognition quality and time to reach it on the full MNIST, measured in one run.

    MNIST_DIR=/path/to/mnist .venv/bin/python bench/quality.py [--work DIR] [--runs plain,...]
        [--recipe NAME=FLAGS ...] [--epochs N] [--tag SUFFIX]

Renders, with `digitseq render` (full MNIST; test digits from MNIST test only, variable length):

    plain      the course practical's layout, lengths 2..5 (50,000 / 5,000 / 10,000)
    plain68    the same layout, lengths 6..8 (test split only)
    touching   `--preset touching`, lengths 2..5 (50,000 / 5,000 / 10,000)
    overlap8   every pair of digits overlapping by exactly 8 columns (test split only)
    pan001     `--preset pan001` (fixed 15-column overlap), lengths 2..5 (50,000 / 5,000 / 10,000)

then for each run and each recipe trains one model with one `digitseq train` command (the
recipe's flags after `--epochs N`, so a recipe may give its own `--epochs`) and scores the exported
best model (chosen on validation CER) on test splits, greedy decoding:

    plain      trained on plain;    scored on plain and plain68
    touching   trained on touching; scored on overlap8 and plain
    pan001     trained on pan001;   scored on pan001

`--recipe NAME=FLAGS` may be repeated (default: the README's recommended crnn recipe, named
`crnn`); a value without `NAME=` is the flags of a recipe named `recipe`. Every recipe of a run
trains on the same rendered data.

Prints per run, recipe and test split: training minutes (wall clock of the whole command),
training examples/s, CER, SER and LER; then per run and recipe the minutes at which validation CER
first reached 1%, 0.7% and 0.5% (from the history in `config.json`: wall clock since training
started, epoch by epoch, validation included), and draws validation CER against those minutes,
one line per recipe, to `<work>/time-to-cer-<run><tag>.png`. Existing datasets and finished runs
under `--work` are reused.
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

from digitseq.recognizer.train import recipes  # noqa: E402

FULL = ["--train", "50000", "--validation", "5000", "--test", "10000"]
TEST_ONLY = ["--train", "1", "--validation", "0", "--test", "10000"]
DATASETS = {
    "plain": ["--mode", "variable", "--min-length", "2", "--max-length", "5", *FULL],
    "plain68": ["--mode", "variable", "--min-length", "6", "--max-length", "8", *TEST_ONLY],
    "touching": ["--preset", "touching", "--mode", "variable", *FULL],
    "overlap8": ["--overlap", "8,8", "--mode", "variable", *TEST_ONLY],
    "pan001": ["--preset", "pan001", "--mode", "variable", *FULL],
}
RUNS = {
    "plain": ("plain", ["plain", "plain68"]),
    "touching": ("touching", ["overlap8", "plain"]),
    "pan001": ("pan001", ["pan001"]),
}
RECIPE = recipes.FLOOR.flags
"""The crnn recipe of issue 10 (chosen on validation CER), the README's `floor` recipe."""
THRESHOLDS = (0.01, 0.007, 0.005)


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

    import digitseq.recognizer.model.layers  # noqa: F401  (registers the custom layers)
    from digitseq.recognizer.train.evaluation import Evaluator

    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"), safe_mode=True)
    summary, _ = Evaluator(model, data_dir, "test", batch_size=256)()
    return summary


def dataset(work: str, name: str, mnist: str, seed: int) -> str:
    data_dir = os.path.join(work, name)
    if not os.path.exists(os.path.join(data_dir, "COMPLETED")):
        digitseq(
            "render",
            "--out",
            data_dir,
            *DATASETS[name],
            "--mnist",
            mnist,
            "--seed",
            str(seed),
            "--overwrite",
        )
    return data_dir


def named_recipes(values: list[str]) -> dict[str, str]:
    """`NAME=FLAGS` values -> {name: flags}."""
    named = {}
    for value in values or [f"crnn={RECIPE}"]:
        name, flags = (
            value.split("=", 1) if not value.lstrip().startswith("-") else ("recipe", value)
        )
        named[name.strip()] = flags
    return named


def minutes_to(history: list[dict], threshold: float) -> float | None:
    """Minutes since training started at the end of the first epoch with val_cer <= threshold."""
    for record in history:
        if record.get("val_cer", 1.0) <= threshold:
            return record["elapsed_seconds"] / 60
    return None


def plot(rows: list[dict], path: str) -> None:
    """Validation CER against wall-clock minutes, one line per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        history = row["history"]
        axes.plot(
            [h["elapsed_seconds"] / 60 for h in history],
            [100 * h["val_cer"] for h in history],
            marker="o",
            label=row["recipe_name"],
        )
    for threshold in THRESHOLDS:
        axes.axhline(100 * threshold, color="grey", linewidth=0.6, linestyle=":")
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2g"))
    axes.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.2g"))
    axes.set_xlabel("wall-clock minutes since training started")
    axes.set_ylabel("validation CER (%)")
    axes.set_title(f"time to CER, {rows[0]['run']}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/digitseq-quality")
    parser.add_argument("--mnist", default=os.environ.get("MNIST_DIR"))
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument(
        "--recipe",
        action="append",
        default=[],
        help="NAME=FLAGS: digitseq train flags (repeatable)",
    )
    parser.add_argument("--epochs", default="14")
    parser.add_argument("--tag", default="", help="suffix of the model directories")
    args = parser.parse_args()
    if not args.mnist:
        parser.error("set --mnist or $MNIST_DIR to the directory of the four MNIST IDX files")

    rows = []
    for run in args.runs.split(","):
        train_on, test_on = RUNS[run]
        data_dir = dataset(args.work, train_on, args.mnist, seed=0)
        run_rows = []
        for name, flags in named_recipes(args.recipe).items():
            model_dir = os.path.join(args.work, f"model-{run}-{name}{args.tag}")
            result_path = os.path.join(model_dir, "bench.json")
            if not os.path.exists(result_path):
                seconds = digitseq(
                    "train",
                    "--data",
                    data_dir,
                    "--model-dir",
                    model_dir,
                    "--epochs",
                    args.epochs,
                    *shlex.split(flags),
                )
                with open(os.path.join(model_dir, "config.json")) as f:
                    config = json.load(f)
                history = config["result"]["history"]
                tests = {
                    test: score(model_dir, dataset(args.work, test, args.mnist, seed=1))
                    for test in test_on
                }
                result = {
                    "run": run,
                    "recipe_name": name,
                    "recipe": flags,
                    "epochs": config["epochs"],
                    "minutes": seconds / 60,
                    "examples_per_second": sum(h["examples_per_second"] for h in history)
                    / len(history),
                    "load": os.getloadavg(),
                    "history": history,
                    "tests": tests,
                }
                with open(result_path, "w") as f:
                    json.dump(result, f, indent=2)
            with open(result_path) as f:
                run_rows.append(json.load(f))
        plot(run_rows, os.path.join(args.work, f"time-to-cer-{run}{args.tag}.png"))
        rows += run_rows

    print(
        "\n| run | recipe | test split | epochs | training minutes | train examples/s | CER | "
        "SER | LER |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        for test_name, test in row["tests"].items():
            print(
                f"| {row['run']} | {row['recipe_name']} | {test_name} | {row['epochs']} | "
                f"{row['minutes']:.1f} | {row['examples_per_second']:,.0f} | "
                f"{test['cer']:.2%} | {test['ser']:.2%} | {test['ler']:.2%} |"
            )
    print(
        "\n| run | recipe | "
        + " | ".join(f"minutes to val CER {t:.1%}" for t in THRESHOLDS)
        + " | best val CER | test CER | test SER |"
    )
    print("| --- | --- | " + "--- | " * len(THRESHOLDS) + "--- | --- | --- |")
    for row in rows:
        reached = [minutes_to(row["history"], t) for t in THRESHOLDS]
        first = next(iter(row["tests"].values()))
        print(
            f"| {row['run']} | {row['recipe_name']} | "
            + " | ".join("not reached" if m is None else f"{m:.1f}" for m in reached)
            + f" | {min(h['val_cer'] for h in row['history']):.2%} | {first['cer']:.2%} | "
            f"{first['ser']:.2%} |"
        )


if __name__ == "__main__":
    main()
