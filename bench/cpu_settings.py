"""CPU training speed of one `digitseq train` step under different settings, measured in one run.

    .venv/bin/python bench/cpu_settings.py --data DIR [--steps 120] [--warmup 40] [--rounds 1]
        [--setting NAME=FLAGS ...]

Each setting runs in a fresh process (oneDNN and the thread pools are fixed when TensorFlow
starts): it builds the model and optimizer as `digitseq train` would from the same flags, runs
`--warmup` steps of the training loop's step function (`recognizer.train.trainer.make_train_step`, every
width bucket traced and, with XLA, compiled), then times `--steps` steps over the training split
(reading, augmentation when the recipe asks for it, forward, CTC loss, backward, update).
Validation, checkpoints and start-up are not timed. With `--rounds N` every setting runs N times,
the settings interleaved round by round, so a change in the machine's load affects them alike.
Prints the median examples/s per setting, its ratio to the first setting of the same family (the
name's first word) and to the very first setting, and the load average seen.

Settings are `digitseq train` flags plus three of this script's own: `--threads INTRA,INTER`
(`tf.config.threading`; 0 is TensorFlow's choice), and the environment `ONEDNN=0|1`
(`TF_ENABLE_ONEDNN_OPTS`), given as a setting's `env:` prefix, e.g.
`crnn-no-onednn=env:TF_ENABLE_ONEDNN_OPTS=0 --batch-norm`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CRNN = (
    "--batch-norm --conv-blocks 3 --schedule cosine --learning-rate 2e-3 --warmup-epochs 1 "
    "--augment"
)
CONV = "--arch convctc --conv-blocks 3 --conv-filters 16 --layers 3 --augment"
SETTINGS = [
    ("crnn recipe", CRNN),
    ("crnn recipe, oneDNN off", "env:TF_ENABLE_ONEDNN_OPTS=0 " + CRNN),
    ("convctc", CONV),
    ("convctc, XLA", CONV + " --jit-compile"),
    ("convctc, oneDNN off", "env:TF_ENABLE_ONEDNN_OPTS=0 " + CONV),
    ("convctc, threads 1,1", CONV + " --threads 1,1"),
    ("convctc, threads 2,1", CONV + " --threads 2,1"),
    ("convctc, threads 1,2", CONV + " --threads 1,2"),
    ("convctc, batch 32", CONV + " --batch-size 32"),
    ("convctc, batch 128", CONV + " --batch-size 128"),
    ("convctc, constant frames", CONV + " --constant-frames"),
    ("convctc, 32 filters", CONV + " --conv-filters 32"),
]


def measure(data_dir: str, flags: list[str], *, steps: int, warmup: int) -> dict:
    """Examples/s of the training step for `digitseq train` flags (runs in the child)."""
    threads = None
    if "--threads" in flags:
        i = flags.index("--threads")
        threads = [int(v) for v in flags[i + 1].split(",")]
        del flags[i : i + 2]
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(threads[1])
    import keras

    from digitseq import cli
    from digitseq.recognizer.config import TrainConfig
    from digitseq.recognizer.data import reader as data
    from digitseq.recognizer.data.layout import split_info
    from digitseq.recognizer.model import architectures as models
    from digitseq.recognizer.train import distribution
    from digitseq.recognizer.train import trainer as train
    from digitseq.schemas import dataset

    args, _ = cli.build_parser().parse_known_args(
        ["train", "--data", data_dir, "--model-dir", "unused", *flags]
    )
    config = args.flags.build(TrainConfig, args)
    stats = dataset.load_stats(data_dir)
    strategy = distribution.make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    steps_per_epoch = split_info(data_dir, "train").records // config.batch_size
    with strategy.scope():
        model = models.build(config.model, mean=stats["mean"], std=stats["std"])
        optimizer = train.OPTIMIZERS[config.optimizer](
            learning_rate=train.learning_rate_schedule(config, steps_per_epoch=steps_per_epoch)
        )
        optimizer.build(model.trainable_variables)
    batches = strategy.distribute_datasets_from_function(
        lambda ctx: data.make_dataset(
            data_dir,
            "train",
            config.batch_size,
            training=True,
            input_context=ctx,
            seed=config.seed,
            config=config.reader,
        ).repeat()
    )
    step = train.make_train_step(model, optimizer, strategy, jit_compile=config.jit_compile)
    iterator = iter(batches)
    for _ in range(warmup):
        step(iterator)
    examples, started = 0, time.perf_counter()
    for _ in range(steps):
        loss, n = step(iterator)
        examples += int(n)
    seconds = time.perf_counter() - started
    return {
        "examples_per_second": examples / seconds,
        "loss": float(loss),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a rendered dataset (its train split)")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        help="NAME=FLAGS (repeatable; default: the built-in list)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(
            json.dumps(
                measure(args.data, shlex.split(args.child), steps=args.steps, warmup=args.warmup)
            )
        )
        return
    settings = [tuple(s.split("=", 1)) for s in args.setting] or SETTINGS
    measured: dict[str, list[dict]] = {name: [] for name, _ in settings}
    for _ in range(args.rounds):
        for name, flags in settings:
            words = shlex.split(flags)
            env = dict(os.environ)
            while words and words[0].startswith("env:"):
                key, value = words.pop(0)[4:].split("=", 1)
                env[key] = value
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--data",
                    args.data,
                    "--steps",
                    str(args.steps),
                    "--warmup",
                    str(args.warmup),
                    "--child",
                    shlex.join(words),
                ],
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
            )
            if child.returncode:
                print(f"{name}: failed\n{child.stderr[-2000:]}", file=sys.stderr)
                continue
            result = json.loads(child.stdout.strip().splitlines()[-1])
            measured[name].append(result)
            print(
                f"{name}: {result['examples_per_second']:,.0f} examples/s "
                f"(load {result['load']:.1f})",
                flush=True,
            )
    print(
        "\n| setting | flags | examples/s (median) | ratio to family's first | ratio to first "
        "| load |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    firsts: dict[str, float] = {}
    for name, flags in settings:
        if not measured[name]:
            continue
        rate = statistics.median(r["examples_per_second"] for r in measured[name])
        load = statistics.mean(r["load"] for r in measured[name])
        base = firsts.setdefault(name.split()[0].rstrip(","), rate)
        first = next(iter(firsts.values()))
        print(
            f"| {name} | `{flags}` | {rate:,.0f} | {rate / base:.2f} | {rate / first:.2f} | "
            f"{load:.1f} |"
        )


if __name__ == "__main__":
    main()
