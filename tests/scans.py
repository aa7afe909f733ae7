"""Scans for the ingest tests: PNG strips of the bundled MNIST test digits with their labels."""

from __future__ import annotations

import pathlib

import numpy as np


def write_scans(folder: pathlib.Path) -> None:
    """Twelve PNG strips of bundled MNIST test digits, dark on light, with labels.csv."""
    import tensorflow as tf

    from digitseq.pipelines.render import mnist

    test = mnist.load(mnist.SAMPLE).test
    rng = np.random.default_rng(5)
    (folder / "scans").mkdir(parents=True)
    lines = ["file,label"]
    for i in range(12):
        rows = rng.choice(len(test.images), int(rng.integers(2, 5)), replace=False)
        strip = 255 - np.concatenate([test.images[r] for r in rows], axis=1)
        name = f"scans/s{i:02d}.png"
        (folder / name).write_bytes(tf.io.encode_png(strip[..., None]).numpy())
        lines.append(f"{name},{''.join(str(int(test.labels[r])) for r in rows)}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
