"""Reading images in-process (`digitseq read`, `digitseq.Reader`) against the alternatives.

    .venv/bin/python bench/read.py --images DIR [--model general] [--repeats 5] [--peers]

DIR holds image files and a `labels.csv` (bench/elsewhere.py's `<source>/evaluation` pools: 1,000
held-out handwriting strings). In one run:

1. One image: the wall time of `digitseq read ONE` (the console script, a fresh process) against a
   fresh `python -c` that imports TensorFlow and loads the model's SavedModel once, the least any
   reader of one image must do; `--repeats` alternating runs of each, medians compared.
2. Many images: images/s of `Reader.read` on every image of DIR (the model loaded beforehand)
   against `digitseq predict --direct_num_workers 1` on the same files (in-process, from the call
   to its return: the Beam job as a user runs it), on all cores and with TensorFlow held to one
   thread (`--threads 1`, in a fresh process) for the per-core comparison.
3. With `--peers`: PP-OCRv6 and PP-OCRv5's recognizers on the same images, one thread each
   (`bench/peers.py score`, whose images/s is per core).
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

BIN = os.path.dirname(sys.executable)
HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_ONE_IMAGE = 1.2


def image_files(folder: str) -> list[str]:
    with open(os.path.join(folder, "labels.csv")) as f:
        rows = f.read().splitlines()[1:]
    return [os.path.join(folder, row.split(",")[0]) for row in rows]


def timed(argv: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started


def one_image(model: str, image: str, repeats: int) -> dict:
    from digitseq.recognizer.serving import builtin

    serving = os.path.join(builtin.resolve(model, field="model"), "serving")
    load = f"import tensorflow as tf; tf.saved_model.load({serving!r})"
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    read, floor = [], []
    for _ in range(repeats):
        read.append(timed([os.path.join(BIN, "digitseq"), "read", "--model", model, image]))
        floor.append(timed([sys.executable, "-c", load], quiet))
    return {"read_s": statistics.median(read), "floor_s": statistics.median(floor)}


def many_images(model: str, files: list[str], threads: int | None) -> dict:
    """Reader and predict images/s, in this process (call with threads in a fresh one)."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import digitseq
    from digitseq import cli

    reader = digitseq.Reader(model=model)
    reader.read(files[:8])  # traces the serving function for a few widths
    started = time.perf_counter()
    readings = reader.read(files)
    reader_s = time.perf_counter() - started
    assert all(r.error is None for r in readings)
    out = tempfile.mkdtemp(prefix="bench-read-predict-")
    pattern = os.path.join(os.path.dirname(files[0]), "*.*g")
    started = time.perf_counter()
    argv = ["predict", "--model", model, "--input", pattern, "--out", out, "--overwrite"]
    assert cli.run([*argv, "--direct_num_workers", "1"]) == 0
    predict_s = time.perf_counter() - started
    return {"images": len(files), "reader_per_s": len(files) / reader_s,
            "predict_per_s": len(files) / predict_s}  # fmt: skip


def peers(images: str) -> dict:
    """PP-OCR's images/s (one thread) on the same evaluation pool, via bench/peers.py."""
    source_dir = os.path.dirname(images.rstrip("/"))
    data, source = os.path.dirname(source_dir), os.path.basename(source_dir)
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "peers.py"), "score", "--data", data,
         "--engines", "ppocr6,ppocr5", "--sources", source],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    with open(os.path.join(data, "results.json")) as f:
        results = json.load(f)
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
    return {e: results[e][source]["images_per_second"] for e in ("ppocr6", "ppocr5")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--model", default="general")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peers", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    files = image_files(args.images)
    if args.threads:  # the per-core measurement, in a fresh process
        print(json.dumps(many_images(args.model, files, args.threads)))
        return
    one = one_image(args.model, files[0], args.repeats)
    ratio = one["read_s"] / one["floor_s"]
    print(f"one image: digitseq read {one['read_s']:.2f} s, import tensorflow + SavedModel load "
          f"{one['floor_s']:.2f} s: {ratio:.2f}x (target <= {TARGET_ONE_IMAGE}x)")  # fmt: skip
    one_core = subprocess.run(
        [sys.executable, __file__, "--images", args.images, "--model", args.model,
         "--threads", "1"], check=True, capture_output=True, text=True,
    )  # fmt: skip
    per_core = json.loads(one_core.stdout.strip().splitlines()[-1])
    cores = many_images(args.model, files, None)
    for name, found in (("all cores", cores), ("one thread", per_core)):
        print(f"{found['images']} images, {name}: Reader.read {found['reader_per_s']:.1f}/s, "
              f"digitseq predict (one worker) {found['predict_per_s']:.1f}/s: "
              f"{found['reader_per_s'] / found['predict_per_s']:.2f}x")  # fmt: skip
    if args.peers:
        for engine, rate in peers(args.images).items():
            print(f"{engine} one thread {rate:.1f}/s; Reader one thread "
                  f"{per_core['reader_per_s'] / rate:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
