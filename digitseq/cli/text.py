"""The tables the commands print: datasets, prediction runs and the demo summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def dataset_table(out_dir: str, metadata: Mapping[str, Any], stats: Mapping[str, Any]) -> str:
    """Per split: sequences, shards, size, widths and the length histogram; then statistics."""
    params, source = metadata["params"], metadata["source"]
    origin = (
        f"ingested from {source['location']}, labels {source['labels']}"
        if source.get("kind") == "images"
        else f"{params['mode']}, seed {metadata['seed']}, MNIST from {source['location']}"
    )
    lines = [
        f"dataset {out_dir} ({origin})",
        f"{'split':<11}{'sequences':>10}{'shards':>8}{'MB':>8}  {'widths':<9}  sequences by length",
    ]
    for split, count in metadata["counts"].items():
        files = metadata["files"][split]
        lengths = metadata["length_histogram"][split]
        widths = sorted(int(k) for k in metadata["width_histogram"][split])
        megabytes = sum(f["bytes"] for f in files) / 1e6
        histogram = "  ".join(f"{n}:{lengths[n]}" for n in sorted(lengths, key=int))
        lines.append(
            f"{split:<11}{count:>10}{len(files):>8}{megabytes:>8.1f}  "
            f"{_span(widths):<9}  {histogram or '-'}"
        )
    lines.append(
        f"train statistics: {stats['count']} frames, pixel mean "
        f"{stats['global_mean']:.2f}, std {stats['global_std']:.2f} (per row: mean "
        f"{min(stats['mean']):.1f}..{max(stats['mean']):.1f}, std "
        f"{min(stats['std']):.1f}..{max(stats['std']):.1f})"
    )
    return "\n".join(lines)


def render_summary(
    out_dir: str, metadata: Mapping[str, Any], stats: Mapping[str, Any], seconds: float
) -> str:
    """The dataset's table and how fast it was written."""
    total = sum(metadata["counts"].values())
    return (
        f"{dataset_table(out_dir, metadata, stats)}\n{total} sequences in {seconds:.1f} s "
        f"({total / max(seconds, 1e-9):,.0f}/s)"
    )


def ingest_summary(
    out_dir: str, metadata: Mapping[str, Any], stats: Mapping[str, Any], seconds: float
) -> str:
    """The dataset's table, what was rejected and why, and how fast the files were ingested."""
    counts = metadata["ingest"]
    kinds = ", ".join(f"{kind} {n}" for kind, n in counts["rejected_by_kind"].items())
    return (
        f"{dataset_table(out_dir, metadata, stats)}\n{counts['inputs']} files: "
        f"{counts['records']} records, {counts['rejected']} rejected"
        f"{f' ({kinds}; see rejected.jsonl)' if kinds else ''}, in {seconds:.1f} s "
        f"({counts['inputs'] / max(seconds, 1e-9):,.0f} files/s)"
    )


def rates_table(rows: Sequence[tuple[str, Mapping[str, Any]]], *, first: str = "length") -> str:
    """Rows of `(name, rates)` with sequences, CER, WER and SER."""
    lines = [f"{first:<8}{'sequences':>10}{'CER':>9}{'WER':>9}{'SER':>9}"]
    for name, rates in rows:
        lines.append(
            f"{name:<8}{rates['sequences']:>10}{rates['cer']:>9.2%}"
            f"{rates['wer']:>9.2%}{rates['ser']:>9.2%}"
        )
    return "\n".join(lines)


def predict_summary(out_dir: str, result: Mapping[str, Any], seconds: float) -> str:
    """Counts, then error rates overall and by length (when labels were present)."""
    total = result["scored"] + result["dead_letters"]
    lines = [
        f"predictions {out_dir}: {result['scored']} scored ({result['unlabeled']} "
        f"unlabeled), {result['dead_letters']} dead letters, in {seconds:.1f} s "
        f"({total / max(seconds, 1e-9):,.0f} records/s)"
    ]
    if result["sequences"]:
        lines.append(rates_table([("all", result), *result["by_length"].items()]))
    return "\n".join(lines)


def demo_table(demo: Mapping[str, Any]) -> str:
    """The demo's training, then one block per dataset: overall and per-length rates, scoring
    speed (`demo` as `cli.workflow.run_demo` returns it)."""
    trained = demo["train"]
    lines = [
        f"model: {trained['model_dir']}, {trained['train_seconds']:.0f} s of training at "
        f"{trained['train_examples_per_second']:,.0f} examples/s",
        f"{'dataset':<10}{'length':>7}{'sequences':>10}{'CER':>8}{'WER':>8}{'SER':>8}"
        f"{'score seq/s':>12}",
    ]
    for row in demo["rows"]:
        m = row["metrics"]
        lines.append(
            f"{row['mode']:<10}{'all':>7}{m['sequences']:>10}{m['cer']:>8.2%}"
            f"{m['wer']:>8.2%}{m['ser']:>8.2%}{row['score_per_second']:>12,.0f}"
        )
        for length, r in m["by_length"].items():
            lines.append(
                f"{'':<10}{length:>7}{r['sequences']:>10}{r['cer']:>8.2%}"
                f"{r['wer']:>8.2%}{r['ser']:>8.2%}"
            )
    lines += [f"report: {row['report']}" for row in demo["rows"]]
    return "\n".join(lines)


def _span(values: list[int]) -> str:
    if not values:
        return "-"
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}..{values[-1]}"
