"""Digit strings that are not MNIST: image files from other sources, and how models read them.

    .venv/bin/pip install -e '.[bench]'      # scikit-learn, for its bundled UCI digits
    .venv/bin/python bench/elsewhere.py build [--out DIR] [--evaluation 1000] [--finetune 1000]
    .venv/bin/python bench/elsewhere.py score --model NAME=DIR [--model ...] [--out DIR]
    .venv/bin/python bench/elsewhere.py finetune --model [NAME=]DIR [--sizes 100,300,1000] [--epochs 10]
    .venv/bin/python bench/elsewhere.py plot [--figure PNG]

Two sources, neither of them MNIST, so a figure here measures generalisation (no digitseq model is
ever trained on them, except the fine-tuning runs below, which train on the `finetune` pool and are
scored on the disjoint `evaluation` pool):

    uci     handwritten digits of the UCI optical-recognition set as scikit-learn bundles it (1,797
            digits, 8x8 pixels at 17 grey levels, written by other people on other forms and
            scanned another way), upscaled, strung together with spacing from touching to apart
    fonts   digits typeset in the fonts matplotlib ships (DejaVu Sans, Serif and Mono in their
            weights and slants, STIX, Computer Modern), a printed-form look

Each string (2..5 digits) is put on paper: dark ink on a light background with random grey
levels, sensor noise, a random height of 20..80 pixels, written as PNG or JPEG (quality 60..95).
The digit images of a source are split in two disjoint halves before any string is drawn: the
`evaluation` strings use one half, the `finetune` strings the other, so no digit image is both
trained on and scored.

Layout: `<out>/<source>/<pool>/NNNNN.png|jpg` and `<out>/<source>/<pool>/labels.csv` (the ingest
job's format). `score` runs `digitseq predict --input ... --labels ...` for each model and prints
CER and SER per source; `finetune` ingests the first N `finetune` strings, trains
`digitseq train --data SCANS --model-dir M --init-from MODEL --epochs E` (nothing else) and scores
the `evaluation` strings of that source. Both add their figures to `<out>/results.json`
(`{model: {source: {"cer", "ser"}}}`, a fine-tuned model named `NAME+N`), and `plot` draws them:
CER per source for each model trained on renders only, and the fine-tuned models' CER against
the number of scans.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SOURCES = ("uci", "fonts")
POOLS = ("evaluation", "finetune")
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
         "DejaVuSans-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
         "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
         "STIXGeneral.ttf", "STIXGeneralItalic.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf")


def uci_digits(rng: np.random.Generator):
    """Per pool, (images uint8 [n, 32, 32] white ink on black, labels): the UCI digits upscaled."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = rng.permutation(len(digits.target))
    big = np.stack([np.asarray(Image.fromarray((image * 255 / 16).astype(np.uint8)).resize(
        (32, 32), Image.BICUBIC)) for image in digits.images])
    half = len(order) // 2
    return {"evaluation": (big[order[:half]], digits.target[order[:half]]),
            "finetune": (big[order[half:]], digits.target[order[half:]])}


def font_digit(digit: int, font_path: str, rng: np.random.Generator) -> np.ndarray:
    """One digit typeset in `font_path`, white on black, cropped to its ink, height ~32."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_path, 40)
    canvas = Image.new("L", (64, 64))
    ImageDraw.Draw(canvas).text((12, 4), str(digit), fill=255, font=font)
    canvas = canvas.rotate(float(rng.uniform(-6, 6)), resample=Image.BILINEAR)
    array = np.asarray(canvas)
    rows, cols = np.flatnonzero(array.max(1) > 40), np.flatnonzero(array.max(0) > 40)
    crop = array[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height = int(rng.integers(26, 33))
    width = max(4, round(crop.shape[1] * height / crop.shape[0]))
    resized = np.asarray(Image.fromarray(crop).resize((width, height), Image.BILINEAR))
    out = np.zeros((32, width + 4), np.uint8)
    top = (32 - height) // 2
    out[top:top + height, 2:2 + width] = resized
    return out


def compose(pieces: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Digit images (white on black, height 32) side by side, spacing -3..+6 columns each."""
    gaps = rng.integers(-3, 7, size=len(pieces) - 1)
    width = sum(p.shape[1] for p in pieces) + int(gaps.sum()) + 8
    canvas = np.zeros((40, max(width, 8)), np.uint8)
    left = 4
    for i, piece in enumerate(pieces):
        top = 4 + int(rng.integers(-2, 3))
        box = canvas[top:top + 32, left:left + piece.shape[1]]
        np.maximum(box, piece[:, :box.shape[1]], out=box)
        left += piece.shape[1] + (int(gaps[i]) if i < len(gaps) else 0)
    return canvas


def on_paper(ink: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """White-on-black `ink` as a scan: dark ink on light paper, noise, a random height, PNG or
    JPEG; returns the file's bytes and its suffix."""
    from PIL import Image

    paper, pen = float(rng.uniform(190, 250)), float(rng.uniform(0, 90))
    grey = paper + (pen - paper) * (ink.astype(np.float32) / 255.0)
    grey += rng.normal(0, rng.uniform(0, 8), size=grey.shape)
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    height = int(rng.integers(20, 81))
    image = image.resize((max(1, round(image.width * height / image.height)), height),
                         Image.BICUBIC)
    buffer = io.BytesIO()
    if rng.random() < 0.5:
        image.save(buffer, format="PNG")
        return buffer.getvalue(), ".png"
    image.save(buffer, format="JPEG", quality=int(rng.integers(60, 96)))
    return buffer.getvalue(), ".jpg"


def build(out: str, counts: dict[str, int], seed: int = 0) -> None:
    import matplotlib

    fonts_dir = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    for source_index, source in enumerate(SOURCES):
        rng = np.random.default_rng([seed, source_index])
        pools = uci_digits(rng) if source == "uci" else None
        fonts = {"evaluation": FONTS[::2], "finetune": FONTS[1::2]}
        for pool in POOLS:
            folder = os.path.join(out, source, pool)
            os.makedirs(folder, exist_ok=True)
            lines = ["file,label"]
            for i in range(counts[pool]):
                length = int(rng.integers(2, 6))
                if source == "uci":
                    images, labels = pools[pool]
                    picks = rng.integers(0, len(labels), size=length)
                    pieces = [images[k] for k in picks]
                    label = "".join(str(int(labels[k])) for k in picks)
                else:
                    digits = rng.integers(0, 10, size=length)
                    font = os.path.join(fonts_dir, str(rng.choice(fonts[pool])))
                    pieces = [font_digit(int(d), font, rng) for d in digits]
                    label = "".join(str(int(d)) for d in digits)
                data, suffix = on_paper(compose(pieces, rng), rng)
                name = f"{i:05d}{suffix}"
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(data)
                lines.append(f"{name},{label}")
            with open(os.path.join(folder, "labels.csv"), "w") as f:
                f.write("\n".join(lines) + "\n")
        print(f"{source}: {counts['evaluation']} evaluation and {counts['finetune']} fine-tuning "
              f"strings under {os.path.join(out, source)}")


def digitseq(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "digitseq", *args], check=True, cwd=ROOT,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT},
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def score(model_dir: str, out: str, source: str, work: str) -> dict:
    folder = os.path.join(out, source, "evaluation")
    predictions = os.path.join(work, "predictions")
    digitseq("predict", "--model", model_dir, "--input", os.path.join(folder, "*.*g"),
             "--labels", os.path.join(folder, "labels.csv"), "--out", predictions, "--overwrite")
    with open(os.path.join(predictions, "metrics.json")) as f:
        return json.load(f)


def record(out: str, model: str, source: str, metrics: dict) -> None:
    """Adds one model's CER and SER on one source to `<out>/results.json`."""
    from schemas.storage import write_json

    path = os.path.join(out, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    results.setdefault(model, {})[source] = {"cer": metrics["cer"], "ser": metrics["ser"]}
    write_json(path, results)


def finetune(name: str, model_dir: str, out: str, sizes: list[int], epochs: int,
             work: str) -> None:
    print(f"{'source':8} {'scans':>6} {'CER':>8} {'SER':>8} {'train s':>8}")
    for source in SOURCES:
        pool = os.path.join(out, source, "finetune")
        rows = open(os.path.join(pool, "labels.csv")).read().splitlines()
        for size in sizes:
            run = os.path.join(work, f"{name}+{size}", source)
            os.makedirs(run, exist_ok=True)
            with open(os.path.join(run, "labels.csv"), "w") as f:
                f.write("\n".join(f"{os.path.join(pool, r.split(',')[0])},{r.split(',')[1]}"
                                  if i else r for i, r in enumerate(rows[:size + 1])) + "\n")
            digitseq("ingest", "--images", os.path.join(pool, "*.*g"), "--labels",
                     os.path.join(run, "labels.csv"), "--out", os.path.join(run, "scans"),
                     "--test-fraction", "0", "--max-rejected", "1", "--overwrite")
            seconds = digitseq("train", "--data", os.path.join(run, "scans"), "--model-dir",
                               os.path.join(run, "model"), "--init-from", model_dir,
                               "--epochs", str(epochs))
            metrics = score(os.path.join(run, "model"), out, source, run)
            record(out, f"{name}+{size}", source, metrics)
            print(f"{source:8} {size:>6} {metrics['cer']:>8.2%} {metrics['ser']:>8.2%} "
                  f"{seconds:>8.0f}")


def plot(out: str, figure_path: str) -> None:
    """Two panels from `<out>/results.json`: renders-only models' CER per source (bars), and
    fine-tuned models' CER against the number of scans (one line per base model and source)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    bases = [name for name in results if "+" not in name]
    figure, (bars, lines) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(SOURCES)
    for i, source in enumerate(SOURCES):
        cers = [100 * results[name].get(source, {}).get("cer", np.nan) for name in bases]
        bars.bar(np.arange(len(bases)) + (i - (len(SOURCES) - 1) / 2) * width, cers, width,
                 label=source)
    bars.set_xticks(np.arange(len(bases)), bases, rotation=20, ha="right")
    bars.set_yscale("log")
    bars.set_ylabel("CER (%), log scale")
    bars.set_title("trained on renders only")
    bars.legend()
    for base in bases:
        sizes = sorted(int(name.split("+")[1]) for name in results if name.startswith(base + "+"))
        for source in SOURCES if sizes else ():
            cers = [100 * results[base][source]["cer"]] + [
                100 * results[f"{base}+{size}"][source]["cer"] for size in sizes]
            lines.plot([0] + sizes, cers, marker="o", label=f"{base}, {source}")
    lines.set_xscale("symlog", linthresh=100)
    lines.set_yscale("log")
    lines.set_xlabel("labeled scans of the source (fine-tuning, 10 epochs)")
    lines.set_ylabel("CER on disjoint scans (%), log scale")
    lines.set_title("fine-tuned on scans of the source")
    lines.legend(fontsize="small")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(figure_path)), exist_ok=True)
    figure.savefig(figure_path, dpi=120)
    print(f"figure: {figure_path}")


def named(item: str) -> tuple[str, str]:
    """`NAME=DIR` -> (NAME, DIR); a bare `DIR` is named by its last component."""
    name, equals, model_dir = item.partition("=")
    return (name, model_dir) if equals else (os.path.basename(os.path.normpath(item)), item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("build", "score", "finetune", "plot"))
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "elsewhere"))
    parser.add_argument("--evaluation", type=int, default=1000)
    parser.add_argument("--finetune", type=int, default=1000)
    parser.add_argument("--model", action="append", default=[],
                        help="[NAME=]DIR, a model (several for score)")
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--figure", default=os.path.join(ROOT, "bench", "figures",
                                                         "elsewhere.png"))
    args = parser.parse_args()
    work = os.path.join(args.out, "work")
    if args.action == "build":
        build(args.out, {"evaluation": args.evaluation, "finetune": args.finetune})
    elif args.action == "score":
        print(f"{'model':24} {'source':8} {'strings':>8} {'CER':>8} {'SER':>8}")
        for item in args.model:
            name, model_dir = named(item)
            for source in SOURCES:
                metrics = score(model_dir, args.out, source, os.path.join(work, name, source))
                record(args.out, name, source, metrics)
                print(f"{name:24} {source:8} {metrics['sequences']:>8} {metrics['cer']:>8.2%} "
                      f"{metrics['ser']:>8.2%}")
    elif args.action == "finetune":
        name, model_dir = named(args.model[0])
        finetune(name, model_dir, args.out, [int(s) for s in args.sizes.split(",")],
                 args.epochs, work)
    else:
        plot(args.out, args.figure)


if __name__ == "__main__":
    main()
