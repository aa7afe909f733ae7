"""PNG figures with matplotlib (Agg backend, no display needed).

- `report_figure`: a grid of sequences with label and prediction (wrong digits in red, missing
  ones as a red `_`), CER by sequence length as bars, and the digit confusion matrix.
- `confidence_figure`: the risk-coverage curve (SER and CER of the accepted rows against the
  share accepted, the table's points marked) and the reliability diagram (accuracy against mean
  confidence per bin, with the rows per bin and the ECE), from `metrics.json`.
- `contact_sheet`: sequences of a dataset with their labels.
- `write_sheet` and `write_report` draw them for a dataset directory and a prediction run.

Images are uint8 `[height, width]` arrays; figures have a fixed size (`FIGURE_INCHES` at `DPI`),
so their PNGs do too. `save_png` writes through `tf.io.gfile`, so `gs://` paths work.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import transforms  # noqa: E402

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
            cost[i, j] = min(
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
                cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]),
            )
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


def report_figure(
    samples: Sequence[tuple[np.ndarray, str, str]], metrics: Mapping, *, title: str = ""
) -> plt.Figure:
    """Samples `(image, label, prediction)` (at most 16 shown) and `metrics.json` content."""
    figure = plt.figure(figsize=FIGURE_INCHES, dpi=DPI)
    grid = figure.add_gridspec(6, 4, height_ratios=[1, 1, 1, 1, 0.25, 3.2], hspace=0.6)
    for k, (image, label, predicted) in enumerate(samples[:16]):
        ax = figure.add_subplot(grid[k // 4, k % 4])
        ax.imshow(image, cmap="gray", aspect="equal")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"label {label}", fontsize=10, loc="left", family="monospace")
        ax.text(
            0.0, -0.18, "read", transform=ax.transAxes, fontsize=10, family="monospace", va="top"
        )
        for i, (char, correct) in enumerate(align(label, predicted)):
            at = transforms.offset_copy(ax.transAxes, fig=figure, x=36 + 8 * i, units="points")
            ax.text(
                0.0,
                -0.18,
                char,
                transform=at,
                fontsize=11,
                family="monospace",
                va="top",
                weight="bold",
                color=OK if correct else WRONG,
            )

    bars = figure.add_subplot(grid[5, :2])
    lengths = [int(n) for n in metrics.get("by_length", {})]
    cers = [100 * metrics["by_length"][str(n)]["cer"] for n in lengths]
    bars.bar(lengths, cers, color="#4c72b0")
    bars.set_xticks(lengths)
    for x, value in zip(lengths, cers):
        bars.annotate(f"{value:.2f}%", (x, value), ha="center", va="bottom", fontsize=9)
    bars.set_xlabel("sequence length (digits)")
    bars.set_ylabel("CER (%)")
    bars.set_title(
        f"CER by length (all: {100 * metrics.get('cer', 0):.2f}%, SER "
        f"{100 * metrics.get('ser', 0):.2f}%, {metrics.get('sequences', 0)} sequences)"
    )

    matrix = np.zeros((10, 10), np.int64)
    for reference, row in metrics.get("confusion", {}).items():
        for hypothesis, n in row.items():
            matrix[int(reference), int(hypothesis)] = n
    confusion = figure.add_subplot(grid[5, 2:])
    confusion.imshow(np.log1p(matrix), cmap="Blues")
    for (r, h), n in np.ndenumerate(matrix):
        if n:
            confusion.text(
                h,
                r,
                str(n),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if r == h else WRONG,
            )
    confusion.set_xticks(range(10)), confusion.set_yticks(range(10))
    confusion.set_xlabel("predicted digit")
    confusion.set_ylabel("true digit")
    confusion.set_title("digit confusions (sequences read with the right length)")
    if title:
        figure.suptitle(title, fontsize=14)
    return figure


def confidence_figure(metrics: Mapping, *, title: str = "") -> plt.Figure:
    """Risk-coverage curve and reliability diagram of a run's `metrics.json`."""
    figure = plt.figure(figsize=(FIGURE_INCHES[0], FIGURE_INCHES[1] / 2), dpi=DPI)
    curve_ax, reliability_ax = figure.subplots(1, 2)
    curve = [e for e in metrics.get("risk_coverage_curve", []) if e["accepted"]]
    coverage = [100 * e["actual_coverage"] for e in curve]
    curve_ax.plot(coverage, [100 * e["ser"] for e in curve], color="#4c72b0", label="SER")
    curve_ax.plot(coverage, [100 * e["cer"] for e in curve], color="#dd8452", label="CER")
    for e in metrics.get("risk_coverage", []):
        if e["accepted"]:
            curve_ax.plot(100 * e["actual_coverage"], 100 * e["ser"], "o", color="#4c72b0")
            curve_ax.annotate(
                f"{100 * e['ser']:.2f}% at >= {e['threshold']:.3f}",
                (100 * e["actual_coverage"], 100 * e["ser"]),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
    curve_ax.set_xlabel("coverage: rows accepted (%)")
    curve_ax.set_ylabel("error rate of the accepted rows (%)")
    curve_ax.set_title("risk-coverage (most confident rows accepted first)")
    curve_ax.legend(loc="upper left")
    bins = metrics.get("reliability", [])
    filled = [b for b in bins if b["rows"]]
    width = (bins[0]["high"] - bins[0]["low"]) if bins else 0.1
    reliability_ax.bar(
        [b["low"] for b in filled],
        [b["accuracy"] for b in filled],
        width=width,
        align="edge",
        color="#4c72b0",
        edgecolor="white",
        label="share right",
    )
    reliability_ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    reliability_ax.plot(
        [b["confidence"] for b in filled],
        [b["accuracy"] for b in filled],
        "o",
        color=WRONG,
        label="mean confidence of the bin",
    )
    for b in filled:
        reliability_ax.annotate(
            str(b["rows"]),
            (b["low"] + width / 2, b["accuracy"]),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ece = metrics.get("ece", {})
    reliability_ax.set_xlim(0, 1), reliability_ax.set_ylim(0, 1.05)
    reliability_ax.set_xlabel("confidence")
    reliability_ax.set_ylabel("share of strings right")
    reliability_ax.set_title(
        f"reliability (ECE {100 * ece.get('value', 0):.2f}%, "
        f"{ece.get('bins', len(bins))} equal-width bins; rows per bin)"
    )
    reliability_ax.legend(loc="upper left")
    if title:
        figure.suptitle(title, fontsize=12)
    return figure


def contact_sheet(
    samples: Sequence[tuple[np.ndarray, str, str]], *, title: str = "", columns: int = 4
) -> plt.Figure:
    """Samples `(image, label, id)` in a grid (at most 8 rows)."""
    figure = plt.figure(figsize=FIGURE_INCHES, dpi=DPI)
    rows = 8
    for k, (image, label, record_id) in enumerate(samples[: rows * columns]):
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


def write_sheet(data_dir: str, split: str, out_path: str, *, count: int = 32) -> str:
    """A contact sheet of `count` records of a dataset split."""
    from digitseq.core.errors import ConfigError
    from digitseq.recognizer.data import records
    from digitseq.recognizer.serving import metrics

    if not 1 <= count <= 32:
        raise ConfigError("count", count, "expected 1..32")
    samples = [
        (r.image, metrics.label_string(r.label), r.record_id)
        for r in records.sample_records(data_dir, split, count)
    ]
    save_png(contact_sheet(samples, title=f"{data_dir}: {split}"), out_path)
    return out_path


def choose_rows(rows: Iterable[Mapping[str, Any]], count: int) -> list[Mapping[str, Any]]:
    """Up to `count` rows in file order: errors (half, if there are enough correct ones to fill
    the rest), then correct ones."""
    wrong, right = [], []
    for row in rows:
        is_wrong = "label" in row and row["label"] != row["prediction"]
        bucket = wrong if is_wrong else right
        if len(bucket) < count:
            bucket.append(row)
        if len(wrong) >= count and len(right) >= count:
            break
    errors = max(count // 2, count - len(right))
    chosen = wrong[:errors]
    return chosen + right[: count - len(chosen)]


def write_report(
    predictions_dir: str, out_path: str, *, count: int = 16, confidence_path: str | None = None
) -> str:
    """A report of a prediction run: chosen sequences (accepted and reviewed rows), CER by
    length, digit confusions; and, with `confidence_path`, `write_confidence` there."""
    import tensorflow as tf

    from digitseq.core import storage
    from digitseq.core.errors import ConfigError, InvalidInputError
    from digitseq.schemas import prediction

    if not 1 <= count <= 16:
        raise ConfigError("count", count, "expected 1..16")
    metrics_path = os.path.join(predictions_dir, prediction.METRICS)
    if not tf.io.gfile.exists(metrics_path):
        raise InvalidInputError(
            f"{predictions_dir}: no {prediction.METRICS}, expected the output "
            f"directory of a finished digitseq predict run"
        )
    metrics = storage.read_json(metrics_path)
    rows = choose_rows(
        itertools.chain(
            prediction.read_rows(predictions_dir),
            prediction.read_rows(predictions_dir, prediction.REVIEW),
        ),
        count,
    )
    images = _row_images(rows, predictions_dir)
    samples = [
        (
            images[(row[prediction.FILE], row[prediction.RECORD])],
            row.get(prediction.LABEL, "?"),
            row[prediction.PREDICTION],
        )
        for row in rows
    ]
    figure = report_figure(samples, metrics, title=f"digitseq predictions: {predictions_dir}")
    save_png(figure, out_path)
    if confidence_path:
        write_confidence(metrics, confidence_path, title=f"confidence: {predictions_dir}")
    return out_path


def write_confidence(metrics: Mapping, out_path: str, *, title: str = "") -> str | None:
    """The confidence figures of a run's `metrics.json` content; None (nothing written) for a
    run from before they were measured."""
    from digitseq.schemas import prediction

    if prediction.RELIABILITY not in metrics:
        return None
    save_png(confidence_figure(metrics, title=title), out_path)
    return out_path


def _row_images(rows, predictions_dir: str) -> dict:
    """`{(file, record): image}`: records read from their TFRecord files, image files normalised
    with the run's options (`run.json`)."""
    from digitseq.core import storage
    from digitseq.pipelines import images
    from digitseq.schemas import prediction

    places = [(row[prediction.FILE], row[prediction.RECORD]) for row in rows]
    found = prediction.read_images(p for p in places if not images.is_image(p[0]))
    files = [p for p in places if images.is_image(p[0])]
    if files:
        run = storage.read_json(os.path.join(predictions_dir, prediction.RUN))
        for path, number in files:
            found[(path, number)] = images.normalize_file(
                storage.read_bytes(path),
                invert=run.get("invert", "auto"),
                crop=run.get("crop", True),
                where=path,
            )
    return found
