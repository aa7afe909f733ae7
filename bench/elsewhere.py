"""Digit strings that are not MNIST: image files from other sources, and how models read them.

    .venv/bin/pip install -e '.[bench]'      # scikit-learn, for its bundled UCI digits
    .venv/bin/python bench/elsewhere.py build [--out DIR] [--fonts DIR] [--evaluation 1000]
        [--finetune 1000] [--seed 0] [--source hand ...]
    .venv/bin/python bench/elsewhere.py score --model NAME=DIR [--model ...] [--out DIR]
        [--source hand ...]
    .venv/bin/python bench/elsewhere.py finetune --model [NAME=]DIR [--sizes 100,300,1000]
        [--epochs 10] [--source hand ...]
    .venv/bin/python bench/elsewhere.py plot [--figure PNG]

A model is a directory (`digitseq train`'s export) or the name of a model that ships with digitseq
(`--model general-v3=general-v3`: `digitseq predict --model` resolves it). Three sources, none of
them MNIST, so a figure here measures generalisation: no digitseq model is ever trained on them
(nor are recipes chosen on them), except the fine-tuning runs below, which train on the
`finetune` pool and are scored on the disjoint `evaluation` pool:

    hand     the headline: handwriting fonts (Google Fonts families as npm's @fontsource ships
             them, `--fonts DIR`, one folder per family, filled by `tools/fetch_fonts.py`), ONLY
             the families `pipelines.render.fonts.family_split` puts in the `test` split (today
             handlee, herr-von-muellerhoff, kalam, liu-jian-mao-cao, nanum-brush-script,
             permanent-marker, short-stack); training renders use the `train` families and
             recipes are chosen on the `validation` ones, so these writers are never seen. The
             strings are drawn by this benchmark's own code (`bench/handwriting_strings.py`),
             deliberately not the training renderer's (which fits each glyph into MNIST's 28x28
             box and warps it): one family per string (one writer, any weight), a font size per
             string (36..96 px), each glyph at its real advance width with a size jitter
             (+-10%), a rotation (-8..8 degrees) and a baseline jitter, spacing per string from
             touching and overlapping (-0.12 em, about 40% of strings tight) to apart (+0.45
             em) plus a jitter per pair, 15% of strings made to hold a doubled digit ("11")
             besides those uniform digits give; then random margins, a height of 20..80 px,
             dark ink with uneven pressure on textured, unevenly lit paper, blur 0..1.2 px,
             sensor noise, PNG or JPEG (quality 55..95). The `evaluation` and `finetune` pools
             are drawn from different seeds (different images; short labels can recur, there
             are only 100 two-digit strings)
    uci      real writers: handwritten digits of the UCI optical-recognition set as scikit-learn
             bundles it (1,797 digits, 8x8 pixels at 17 grey levels, written by other people on
             other forms and scanned another way), upscaled, strung together with spacing from
             touching to apart
    printed  printed digits: typeset in the fonts matplotlib ships (DejaVu Sans, Serif and Mono
             in their weights and slants, STIX, Computer Modern), a printed-form look (this was
             the `fonts` source before `hand` existed; same images)

For `uci` and `printed` each string (2..5 digits) is put on paper: dark ink on a light background
with random grey levels, sensor noise, a random height of 20..80 pixels, written as PNG or JPEG
(quality 60..95). Their digit images (UCI) or fonts (printed) are split in two disjoint halves
before any string is drawn: the `evaluation` strings use one half, the `finetune` strings the
other, so no digit image is both trained on and scored.

Layout: `<out>/<source>/<pool>/NNNNN.png|jpg` and `<out>/<source>/<pool>/labels.csv` (the ingest
job's format). `score` runs `digitseq predict --input ... --labels ...` for each model and prints
per source the CER and SER, the edits broken down into substitutions, deletions and insertions
(from a Levenshtein backtrace of each labeled prediction row, predictions and review alike), the
deletions' share of the edits, and the SER on the strings holding a doubled adjacent digit;
`finetune` ingests the first N `finetune` strings, trains
`digitseq train --data SCANS --model-dir M --init-from MODEL --epochs E` (nothing else) and scores
the `evaluation` strings of that source. Both add their figures to `<out>/results.json`
(`{model: {source: {"cer", "ser", "substitutions", "deletions", "insertions", "deletion_share",
"doubled_strings", "doubled_ser", "strings", "characters"}}}`, a fine-tuned model named `NAME+N`),
and `plot` draws them: CER per source for each model trained on renders only, and the fine-tuned
models' CER against the number of scans.
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

try:
    from bench import handwriting_strings as handwriting
except ImportError:  # run as a script without the repository on the path
    import handwriting_strings as handwriting

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SOURCES = ("hand", "uci", "printed")
"""`hand` first: the headline."""
POOLS = ("evaluation", "finetune")
SEED_KEYS = {"uci": 0, "printed": 1, "hand": 2}
"""Each source's generator is seeded with `[seed, key]` (`hand`: `[seed, key, pool]`); uci and
printed keep the keys they had as the first two sources, so their images did not change."""
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


def default_fonts() -> str:
    """The handwriting font directory: `$DIGITSEQ_FONTS`, else `fonts/` in the repository."""
    return os.environ.get("DIGITSEQ_FONTS") or os.path.normpath(os.path.join(ROOT, "fonts"))


def clear(folder: str) -> None:
    """Removes a previous build's images and labels from `folder` (a pool rebuilt smaller must
    not keep stale files the `*.*g` pattern would still pick up)."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name == "labels.csv" or name.endswith((".png", ".jpg")):
                os.remove(os.path.join(folder, name))


def build_hand(out: str, counts: dict[str, int], seed: int, writer) -> None:
    """The `hand` source: each pool from its own generator, so the pools are disjoint draws."""
    for pool_index, pool in enumerate(POOLS):
        rng = np.random.default_rng([seed, SEED_KEYS["hand"], pool_index])
        folder = os.path.join(out, "hand", pool)
        os.makedirs(folder, exist_ok=True)
        clear(folder)
        lines = ["file,label"]
        for i in range(counts[pool]):
            ink, label, _ = writer.write(rng)
            data, suffix = handwriting.scan(ink, rng)
            name = f"{i:05d}{suffix}"
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            lines.append(f"{name},{label}")
        with open(os.path.join(folder, "labels.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")


def build(out: str, counts: dict[str, int], seed: int = 0, fonts_dir: str | None = None,
          sources: tuple[str, ...] = SOURCES) -> None:
    import matplotlib

    if "hand" in sources:
        fonts_dir = fonts_dir or default_fonts()
        families = handwriting.test_families(fonts_dir)
        if not families:
            sys.exit(f"elsewhere.py build: no test-split handwriting font family in {fonts_dir} "
                     f"(--fonts DIR or $DIGITSEQ_FONTS; tools/fetch_fonts.py fills one)")
    printed_dir = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    for source in sources:
        if source == "hand":
            build_hand(out, counts, seed, handwriting.Writer(families))
            print(f"hand: {counts['evaluation']} evaluation and {counts['finetune']} fine-tuning "
                  f"strings under {os.path.join(out, source)}, test families "
                  f"{', '.join(families)} from {fonts_dir}")
            continue
        rng = np.random.default_rng([seed, SEED_KEYS[source]])
        pools = uci_digits(rng) if source == "uci" else None
        fonts = {"evaluation": FONTS[::2], "finetune": FONTS[1::2]}
        for pool in POOLS:
            folder = os.path.join(out, source, pool)
            os.makedirs(folder, exist_ok=True)
            clear(folder)
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
                    font = os.path.join(printed_dir, str(rng.choice(fonts[pool])))
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


def edit_counts(label: str, prediction: str) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) of one minimal alignment of `prediction` to
    `label`: a Levenshtein table and its backtrace, preferring a match or substitution, then a
    deletion (a label character the prediction lacks), then an insertion."""
    n, m = len(label), len(prediction)
    table = np.zeros((n + 1, m + 1), np.int32)
    table[:, 0], table[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            table[i, j] = min(table[i - 1, j - 1] + (label[i - 1] != prediction[j - 1]),
                              table[i - 1, j] + 1, table[i, j - 1] + 1)
    substitutions = deletions = insertions = 0
    i, j = n, m
    while i or j:
        if i and j and table[i, j] == table[i - 1, j - 1] + (label[i - 1] != prediction[j - 1]):
            substitutions += label[i - 1] != prediction[j - 1]
            i, j = i - 1, j - 1
        elif i and table[i, j] == table[i - 1, j] + 1:
            deletions += 1
            i -= 1
        else:
            insertions += 1
            j -= 1
    return substitutions, deletions, insertions


def has_doubled(label: str) -> bool:
    """Whether `label` holds a digit twice in a row ("11", "00")."""
    return any(a == b for a, b in zip(label, label[1:]))


def breakdown(predictions: str) -> dict:
    """The edits of the labeled rows a `digitseq predict` run wrote (predictions and review,
    the rows its metrics count), broken down, and the SER on strings with a doubled digit."""
    import glob

    import editdistance

    from schemas import prediction as contract

    rows = []
    for name in (contract.PREDICTIONS, contract.REVIEW):
        for path in sorted(glob.glob(os.path.join(predictions, f"{name}-*{contract.JSONL}"))):
            with open(path) as f:
                rows += [row for row in map(json.loads, f) if row.get(contract.LABEL)
                         is not None]
    totals = np.zeros(3, np.int64)
    characters = edits = doubled = doubled_wrong = 0
    for row in rows:
        label, predicted = str(row[contract.LABEL]), str(row[contract.PREDICTION] or "")
        counts = edit_counts(label, predicted)
        distance = editdistance.eval(label, predicted)
        assert sum(counts) == distance, (label, predicted, counts, distance)
        totals += counts
        edits += distance
        characters += len(label)
        if has_doubled(label):
            doubled += 1
            doubled_wrong += predicted != label
    substitutions, deletions, insertions = (int(t) for t in totals)
    return {"strings": len(rows), "characters": characters, "edits": edits,
            "substitutions": substitutions, "deletions": deletions, "insertions": insertions,
            "deletion_share": deletions / edits if edits else 0.0,
            "doubled_strings": doubled,
            "doubled_ser": doubled_wrong / doubled if doubled else None}


def score(model_dir: str, out: str, source: str, work: str) -> dict:
    """`digitseq predict`'s metrics on a source's evaluation strings, plus `breakdown`'s."""
    folder = os.path.join(out, source, "evaluation")
    predictions = os.path.join(work, "predictions")
    digitseq("predict", "--model", model_dir, "--input", os.path.join(folder, "*.*g"),
             "--labels", os.path.join(folder, "labels.csv"), "--out", predictions, "--overwrite")
    with open(os.path.join(predictions, "metrics.json")) as f:
        metrics = json.load(f)
    return {**metrics, **breakdown(predictions)}


RECORDED = ("cer", "ser", "strings", "characters", "substitutions", "deletions", "insertions",
            "deletion_share", "doubled_strings", "doubled_ser")


def record(out: str, model: str, source: str, metrics: dict) -> None:
    """Adds one model's figures on one source (`RECORDED`) to `<out>/results.json`."""
    from schemas.storage import write_json

    path = os.path.join(out, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    results.setdefault(model, {})[source] = {key: metrics[key] for key in RECORDED}
    write_json(path, results)


HEADER = (f"{'model':24} {'source':8} {'strings':>8} {'CER':>7} {'SER':>7} {'subst':>6} "
          f"{'del':>6} {'ins':>6} {'del %':>6} {'doubled':>8} {'SER dbl':>8}")


def table_row(name: str, source: str, metrics: dict) -> str:
    doubled = "-" if metrics["doubled_ser"] is None else f"{metrics['doubled_ser']:.2%}"
    return (f"{name:24} {source:8} {metrics['sequences']:>8} {metrics['cer']:>7.2%} "
            f"{metrics['ser']:>7.2%} {metrics['substitutions']:>6} {metrics['deletions']:>6} "
            f"{metrics['insertions']:>6} {metrics['deletion_share']:>6.1%} "
            f"{metrics['doubled_strings']:>8} {doubled:>8}")


def finetune(name: str, model_dir: str, out: str, sizes: list[int], epochs: int,
             work: str, sources: tuple[str, ...] = SOURCES) -> None:
    print(f"{'source':8} {'scans':>6} {'CER':>8} {'SER':>8} {'del %':>6} {'train s':>8}")
    for source in sources:
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
                  f"{metrics['deletion_share']:>6.1%} {seconds:>8.0f}")


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
            cers = [100 * results[base].get(source, {}).get("cer", np.nan)] + [
                100 * results[f"{base}+{size}"].get(source, {}).get("cer", np.nan)
                for size in sizes]
            lines.plot([0] + sizes, cers, marker="o", label=f"{base}, {source}")
    lines.set_xscale("symlog", linthresh=100)
    lines.set_yscale("log")
    lines.set_xlabel("labeled scans of the source (fine-tuning, 10 epochs)")
    lines.set_ylabel("CER on disjoint scans (%), log scale")
    lines.set_title("fine-tuned on scans of the source")
    if lines.get_legend_handles_labels()[0]:
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fonts", default=None,
                        help="handwriting font directory, one folder per family (default: "
                             "$DIGITSEQ_FONTS, else fonts/ in the repository)")
    parser.add_argument("--source", action="append", choices=SOURCES, default=[],
                        help="only these sources (build, score, finetune; default: all)")
    parser.add_argument("--model", action="append", default=[],
                        help="[NAME=]DIR, a model (several for score)")
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--figure", default=os.path.join(ROOT, "bench", "figures",
                                                         "elsewhere.png"))
    args = parser.parse_args()
    work = os.path.join(args.out, "work")
    sources = tuple(s for s in SOURCES if s in args.source) if args.source else SOURCES
    if args.action == "build":
        build(args.out, {"evaluation": args.evaluation, "finetune": args.finetune}, args.seed,
              args.fonts, sources)
    elif args.action == "score":
        print(HEADER)
        for item in args.model:
            name, model_dir = named(item)
            for source in sources:
                metrics = score(model_dir, args.out, source, os.path.join(work, name, source))
                record(args.out, name, source, metrics)
                print(table_row(name, source, metrics), flush=True)
    elif args.action == "finetune":
        name, model_dir = named(args.model[0])
        finetune(name, model_dir, args.out, [int(s) for s in args.sizes.split(",")],
                 args.epochs, work, sources)
    else:
        plot(args.out, args.figure)


if __name__ == "__main__":
    main()
