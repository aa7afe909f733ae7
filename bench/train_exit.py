"""How long `digitseq train` takes to exit after its last line of output.

Renders a small dataset once (the bundled MNIST sample), then runs the console script `--runs`
times, each training a small model for one epoch into a new directory, and reads its output as
it comes: the time from the last line (stdout or stderr) to the process's exit, per run.

    .venv/bin/python bench/train_exit.py [--runs 20] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import selectors
import subprocess
import sys
import tempfile
import time

TARGET_SECONDS = 2.0
SMALL = ["--arch", "convctc", "--conv-blocks", "2", "--conv-filters", "8", "--layers", "1"]


def digitseq() -> str:
    return os.path.join(os.path.dirname(sys.executable), "digitseq")


def last_line_to_exit(argv: list[str]) -> tuple[float, int]:
    """Runs `argv`; returns the seconds from its last output line to its exit, and its status."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    selector = selectors.DefaultSelector()
    for stream in (process.stdout, process.stderr):
        selector.register(stream, selectors.EVENT_READ)
    last, open_streams = time.perf_counter(), 2
    while open_streams:
        for key, _ in selector.select():
            if key.fileobj.readline():
                last = time.perf_counter()
            else:
                selector.unregister(key.fileobj)
                open_streams -= 1
    status = process.wait()
    return time.perf_counter() - last, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="bench-train-exit-")
    data = os.path.join(work, "data")
    if not os.path.exists(os.path.join(data, "COMPLETED")):
        subprocess.run(
            [digitseq(), "render", "--out", data, "--mnist", "sample", "--train", "256",
             "--validation", "64", "--test", "0", "--overwrite"],
            check=True,
        )  # fmt: skip
    waits = []
    for run in range(args.runs):
        model = os.path.join(work, f"model-{run}")
        wait, status = last_line_to_exit(
            [digitseq(), "train", "--data", data, "--model-dir", model, "--epochs", "1", *SMALL]
        )
        if status:
            raise SystemExit(f"run {run}: digitseq train exited {status}")
        waits.append(wait)
        print(f"run {run + 1:2d}: {wait:5.2f} s from the last line to exit", flush=True)
    within = sum(w <= TARGET_SECONDS for w in waits)
    print(
        f"within {TARGET_SECONDS:.0f} s: {within} of {len(waits)} runs; "
        f"max {max(waits):.2f} s, median {sorted(waits)[len(waits) // 2]:.2f} s"
    )


if __name__ == "__main__":
    main()
