"""PNG figures with matplotlib (Agg backend, no display needed).

- `report_figure`: a grid of sequences with label and prediction (wrong digits in red, missing
  ones as a red `_`), CER by sequence length as bars, and the digit confusion matrix.
- `contact_sheet`: sequences of a dataset with their labels.

Images are uint8 `[height, width]` arrays; figures have a fixed size (`FIGURE_INCHES` at `DPI`),
so their PNGs do too. `save_png` writes through `tf.io.gfile`, so `gs://` paths work.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import transforms  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100
FIGURE_INCHES = (16, 12)
OK, WRONG = "#1a7f37", "#d1242f"


def align(reference: str, hypothesis: str) -> list[tuple[str, bool]]:
    """The hypothesis as `(character, correct)` pairs along a minimal edit path.

    A reference digit the hypothesis misses appears as `("_", False)` where it was expected.
    """
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    cost = np.zeros((rows, cols), np.int32)
    cost[:, 0], cost[0, :] = np.arange(rows), np.arange(cols)
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1,
                             cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]))
    path, i, j = [], rows - 1, cols - 1
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            path.append((hypothesis[j - 1], reference[i - 1] == hypothesis[j - 1]))
            i, j = i - 1, j - 1
        elif j and cost[i, j] == cost[i, j - 1] + 1:
            path.append((hypothesis[j - 1], False))
            j -= 1
        else:
            path.append(("_", False))
            i -= 1
    return path[::-1]


def report_figure(samples: Sequence[tuple[np.ndarray, str, str]], metrics: Mapping,
                  *, title: str = "") -> plt.Figure:
    """Samples `(image, label, prediction)` (at most 16 shown) and `metrics.json` content."""
    figure = plt.figure(figsize=FIGURE_INCHES, dpi=DPI)
    grid = figure.add_gridspec(6, 4, height_ratios=[1, 1, 1, 1, 0.25, 3.2], hspace=0.6)
    for k, (image, label, predicted) in enumerate(samples[:16]):
        ax = figure.add_subplot(grid[k // 4, k % 4])
        ax.imshow(image, cmap="gray", aspect="equal")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"label {label}", fontsize=10, loc="left", family="monospace")
        ax.text(0.0, -0.18, "read", transform=ax.transAxes, fontsize=10, family="monospace",
                va="top")
        for i, (char, correct) in enumerate(align(label, predicted)):
            at = transforms.offset_copy(ax.transAxes, fig=figure, x=36 + 8 * i, units="points")
            ax.text(0.0, -0.18, char, transform=at, fontsize=11, family="monospace", va="top",
                    weight="bold", color=OK if correct else WRONG)

    bars = figure.add_subplot(grid[5, :2])
    lengths = [int(n) for n in metrics.get("by_length", {})]
    cers = [100 * metrics["by_length"][str(n)]["cer"] for n in lengths]
    bars.bar(lengths, cers, color="#4c72b0")
    bars.set_xticks(lengths)
    for x, value in zip(lengths, cers):
        bars.annotate(f"{value:.2f}%", (x, value), ha="center", va="bottom", fontsize=9)
    bars.set_xlabel("sequence length (digits)")
    bars.set_ylabel("CER (%)")
    bars.set_title(f"CER by length (all: {100 * metrics.get('cer', 0):.2f}%, SER "
                   f"{100 * metrics.get('ser', 0):.2f}%, {metrics.get('sequences', 0)} sequences)")

    matrix = np.zeros((10, 10), np.int64)
    for reference, row in metrics.get("confusion", {}).items():
        for hypothesis, n in row.items():
            matrix[int(reference), int(hypothesis)] = n
    confusion = figure.add_subplot(grid[5, 2:])
    confusion.imshow(np.log1p(matrix), cmap="Blues")
    for (r, h), n in np.ndenumerate(matrix):
        if n:
            confusion.text(h, r, str(n), ha="center", va="center", fontsize=7,
                           color="white" if r == h else WRONG)
    confusion.set_xticks(range(10)), confusion.set_yticks(range(10))
    confusion.set_xlabel("predicted digit")
    confusion.set_ylabel("true digit")
    confusion.set_title("digit confusions (sequences read with the right length)")
    if title:
        figure.suptitle(title, fontsize=14)
    return figure


def contact_sheet(samples: Sequence[tuple[np.ndarray, str, str]], *,
                  title: str = "", columns: int = 4) -> plt.Figure:
    """Samples `(image, label, id)` in a grid (at most 8 rows)."""
    figure = plt.figure(figsize=FIGURE_INCHES, dpi=DPI)
    rows = 8
    for k, (image, label, record_id) in enumerate(samples[:rows * columns]):
        ax = figure.add_subplot(rows, columns, k + 1)
        ax.imshow(image, cmap="gray", aspect="equal")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"{label}   ({record_id})", fontsize=9, family="monospace")
    if title:
        figure.suptitle(title, fontsize=14)
    return figure


def save_png(figure: plt.Figure, path: str) -> None:
    import tensorflow as tf

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())
