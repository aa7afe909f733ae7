"""Your own scans: fine-tuning on a few hundred of them and calibrating on a hundred, measured on
other scans of the same hand, in one run.

    .venv/bin/python bench/finetune.py [--fonts DIR] [--families A,B] [--model general]
        [--work DIR] [--scans 300] [--calibration 100] [--evaluation 1000] [--seed 37] [--peers]

The user's source: handwriting font families (default: herr-von-muellerhoff and liu-jian-mao-cao,
two of the test families, which the shipped model reads worst), drawn by
`bench/handwriting_strings.py` from one seeded stream; each string goes to the pool its label
hashes to, so the pools never share a string: `scans` (ingested with
`--validation-fraction 0.1 --test-fraction 0`, fine-tuned on), `calibration` (calibrated on) and
`evaluation` (scored only). Every figure is computed here from `digitseq predict`'s rows on the
evaluation pool: CER, SER, ECE (15 equal-width bins) and the SER of the rows accepted at 80%
coverage (the ceil(0.8 n) most confident).

1. the model as shipped;
2. the documented fine-tuning, `digitseq train --init-from MODEL --epochs 10`;
3. the fine-tuning recipe (`FINETUNE`: more epochs, cosine schedule with warm-up, augmentation),
   with its training time;
4. `digitseq calibrate --model MODEL --data CAL --out DIR`: the shipped model calibrated on the
   calibration scans;
5. with `--peers`: what a user would pick instead, PP-OCRv6 and PP-OCRv5's recognizers with no
   training, on the same evaluation scans (`bench/peers.py score`; CER and SER only).

Targets: fine-tuned CER <= 2% and SER <= 6% in under 5 minutes of training; calibrated on 100
scans ECE <= 3% and SER <= 2% at 80% coverage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench import handwriting_strings as hs  # noqa: E402
from bench.elsewhere import default_fonts, digitseq  # noqa: E402

FAMILIES = "herr-von-muellerhoff,liu-jian-mao-cao"
DOCUMENTED = ["--epochs", "10"]
FINETUNE = ["--epochs", "100", "--schedule", "cosine", "--warmup-epochs", "2", "--augment"]
POOLS = ("scans", "calibration", "evaluation")


def draw_pools(out: str, fonts: str, families: str, sizes: dict[str, int], seed: int) -> None:
    """Writes `<out>/<pool>/NNNNN.png|jpg` and `labels.csv` for every pool (see the docstring)."""
    if all(os.path.exists(os.path.join(out, pool, "labels.csv")) for pool in POOLS):
        return
    by_family = {}
    for name in families.split(","):
        folder = os.path.join(fonts, name)
        by_family[name] = sorted(
            os.path.join(folder, f)
            for f in os.listdir(folder)
            if f.lower().endswith(hs.FONT_SUFFIXES)
        )
    writer = hs.Writer(by_family)
    rng = np.random.default_rng([seed, 37])
    edges = np.cumsum([sizes[p] / sum(sizes.values()) for p in POOLS])
    rows: dict[str, list] = {pool: [] for pool in POOLS}
    while any(len(rows[p]) < sizes[p] for p in POOLS):
        ink, label, _ = writer.write(rng)
        share = int(hashlib.sha256(label.encode()).hexdigest()[:8], 16) / 2**32
        pool = POOLS[int(np.searchsorted(edges, share, side="right"))]
        if len(rows[pool]) < sizes[pool]:
            rows[pool].append((*hs.scan(ink, rng), label))
    for pool, found in rows.items():
        folder = os.path.join(out, pool)
        os.makedirs(folder, exist_ok=True)
        lines = ["file,label,split"]
        for i, (data, suffix, label) in enumerate(found):
            with open(os.path.join(folder, f"{i:05d}{suffix}"), "wb") as f:
                f.write(data)
            lines.append(f"{i:05d}{suffix},{label},{'validation' if pool == 'calibration' else ''}")
        with open(os.path.join(folder, "labels.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")


def ingest(pool: str, out: str) -> None:
    digitseq("ingest", "--images", os.path.join(pool, "*.*g"), "--labels",
             os.path.join(pool, "labels.csv"), "--out", out, "--validation-fraction", "0.1",
             "--test-fraction", "0", "--overwrite")  # fmt: skip


def figures(model: str, pool: str, work: str) -> dict:
    """CER, SER, ECE and SER at 80% coverage of `model` on the pool, from predict's rows."""
    import editdistance

    out = os.path.join(work, "predictions")
    digitseq("predict", "--model", model, "--input", os.path.join(pool, "*.*g"), "--labels",
             os.path.join(pool, "labels.csv"), "--out", out, "--overwrite")  # fmt: skip
    rows = []
    for name in sorted(os.listdir(out)):
        if name.startswith(("predictions-", "review-")):
            with open(os.path.join(out, name)) as f:
                rows += [json.loads(line) for line in f]
    confidence = np.array([r["confidence"] for r in rows])
    label = [str(r["label"]) for r in rows]
    found = [str(r["prediction"] or "") for r in rows]
    right = np.array([a == b for a, b in zip(label, found)])
    edits = sum(editdistance.eval(a, b) for a, b in zip(label, found))
    bins = np.minimum((confidence * 15).astype(int), 14)
    ece = sum(abs(right[bins == k].sum() - confidence[bins == k].sum()) for k in range(15))
    accepted = np.argsort(-confidence, kind="stable")[: math.ceil(0.8 * len(rows) - 1e-9)]
    return {"strings": len(rows), "cer": edits / sum(map(len, label)), "ser": 1 - right.mean(),
            "ece": ece / len(rows), "ser_at_80": 1 - right[accepted].mean()}  # fmt: skip


def peers(work: str, strings: int) -> dict:
    """PP-OCR's CER and SER on the evaluation pool (`<work>/pools/evaluation`), via peers.py."""
    subprocess.run(
        [sys.executable, os.path.join(HERE, "peers.py"), "score", "--data", work,
         "--sources", "pools", "--engines", "ppocr6,ppocr5"],
        check=True, capture_output=True,
    )  # fmt: skip
    with open(os.path.join(work, "results.json")) as f:
        found = json.load(f)
    return {engine: {"strings": strings, "cer": found[engine]["pools"]["cer"],
                     "ser": found[engine]["pools"]["ser"]} for engine in ("ppocr6", "ppocr5")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fonts", default=None, help="default: bench/elsewhere.py's")
    parser.add_argument("--families", default=FAMILIES)
    parser.add_argument("--model", default="general")
    parser.add_argument("--work", default=None)
    parser.add_argument("--seed", type=int, default=37)
    parser.add_argument("--peers", action="store_true", help="also score PP-OCR (bench/peers.py)")
    for pool, size in zip(POOLS, (300, 100, 1000)):
        parser.add_argument(f"--{pool}", type=int, default=size)
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="bench-finetune-")
    pools = os.path.join(work, "pools")
    sizes = {pool: getattr(args, pool) for pool in POOLS}
    draw_pools(pools, args.fonts or default_fonts(), args.families, sizes, args.seed)
    evaluation = os.path.join(pools, "evaluation")
    ingest(os.path.join(pools, "scans"), os.path.join(work, "scans"))
    ingest(os.path.join(pools, "calibration"), os.path.join(work, "calibration"))

    results = {"shipped": figures(args.model, evaluation, work)}
    for name, flags in (("documented", DOCUMENTED), ("recipe", FINETUNE)):
        model = os.path.join(work, f"model-{name}")
        seconds = digitseq("train", "--data", os.path.join(work, "scans"), "--model-dir", model,
                           "--init-from", args.model, *flags)  # fmt: skip
        with open(os.path.join(model, "config.json")) as f:
            trained = json.load(f)["result"]["train_seconds"]
        results[name] = {**figures(model, evaluation, work), "wall_s": seconds, "train_s": trained}
    calibrated = os.path.join(work, "model-calibrated")
    if os.path.exists(calibrated):
        import shutil

        shutil.rmtree(calibrated)
    digitseq("calibrate", "--model", args.model, "--data", os.path.join(work, "calibration"),
             "--out", calibrated)  # fmt: skip
    results["calibrated"] = figures(calibrated, evaluation, work)
    if args.peers:
        results.update(peers(work, sizes["evaluation"]))

    print(f"source: {args.families}; {sizes} strings; model {args.model}; work {work}")
    print(
        f"{'model':12} {'strings':>7} {'CER':>7} {'SER':>7} {'ECE':>7} {'SER@80':>7} {'train s':>8}"
    )
    for name, found in results.items():
        train = f"{found['train_s']:8.0f}" if "train_s" in found else f"{'-':>8}"
        calibration = (f"{found['ece']:>7.2%} {found['ser_at_80']:>7.2%}" if "ece" in found
                       else f"{'-':>7} {'-':>7}")  # fmt: skip
        print(f"{name:12} {found['strings']:>7} {found['cer']:>7.2%} "
              f"{found['ser']:>7.2%} {calibration} {train}")  # fmt: skip
    tuned, calib = results["recipe"], results["calibrated"]
    print(f"fine-tuned: CER {tuned['cer']:.2%} (target <= 2%), SER {tuned['ser']:.2%} (<= 6%), "
          f"training {tuned['train_s']:.0f} s (< 300 s)")  # fmt: skip
    print(f"calibrated on {sizes['calibration']} scans: ECE {calib['ece']:.2%} (target <= 3%), "
          f"SER at 80% coverage {calib['ser_at_80']:.2%} (<= 2%)")  # fmt: skip
    with open(os.path.join(work, "finetune.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
