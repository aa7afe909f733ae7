"""Helpers the benchmark scripts share: local runner flags and peak memory of a fresh process."""

from __future__ import annotations

import resource
import subprocess
import sys


def local_runner_flags(workers: int) -> list[str]:
    """Beam flags for the local runner with `workers` processes (in-process when 1)."""
    flags = [f"--direct_num_workers={workers}"]
    if workers > 1:
        flags.append("--direct_running_mode=multi_processing")
    return flags


def peak_rss_mb() -> float:
    """Peak resident memory of this process or its largest child so far, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def child_peak_mb(argv: list[str]) -> float:
    """Runs `python argv...` (which must print `peak_rss_mb()` last) and returns that figure."""
    child = subprocess.run([sys.executable, *argv], check=True, capture_output=True, text=True)
    return float(child.stdout.strip().splitlines()[-1])


def print_memory(peaks: dict[int, float], *, target: str = "<= 1.3") -> None:
    """Peak memory per input size, and the ratio of the largest size's to the smallest's."""
    for n, peak in sorted(peaks.items()):
        print(f"peak memory at {n:>7} sequences: {peak:7.0f} MB")
    low, high = min(peaks), max(peaks)
    print(f"memory ratio {high}/{low}: {peaks[high] / peaks[low]:.2f}  (target {target})")
