"""Ships an exported model inside the package: recognizer/builtin/<name>/, its model card and its
checksums in recognizer/builtin/models.json (`recognizer.serving.builtin.install`).

    python tools/ship_model.py --model MODEL_DIR --name NAME --command "digitseq train ..." \
        [--render "digitseq render ..."] [--metrics metrics.json] [--alias general]

The card records the training command (and the render command of its data), the data and
architecture from the model's config.json, its validation figures, and the figures in
`--metrics` (a JSON object, e.g. `{"plain 2..5 test CER": 0.0058}`) as measured, with their
commands, in bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from digitseq.recognizer.serving import builtin  # noqa: E402
from digitseq.schemas import exported  # noqa: E402


def card(
    model_dir: str, name: str, *, command: str, render: str | None, metrics: dict
) -> tuple[dict, str]:
    config = json.loads((pathlib.Path(model_dir) / exported.CONFIG).read_text())
    result = config.get("result", {})
    data = config.get("data", {})
    facts = {
        "name": name,
        "shipped": datetime.date.today().isoformat(),
        "render": render,
        "command": command,
        "data": {
            "params": data.get("params"),
            "seed": data.get("seed"),
            "counts": data.get("counts"),
            "source": (data.get("source") or {}).get("kind"),
            "mnist_sha256": (data.get("source") or {}).get("sha256"),
        },
        "architecture": config.get("run", {}).get("model"),
        "height": config.get("height"),
        "epochs": config.get("epochs"),
        "validation": {"criterion": result.get("criterion"), "best": result.get("best")},
        "metrics": metrics,
    }
    lines = [
        f"# Model card: {name}",
        "",
        "An exported digitseq model (`digitseq/schemas/exported.py`) that ships inside the package: "
        f"`digitseq predict --model {name}` or `digitseq train --init-from {name}`.",
        "",
        "## How it was made",
        "",
    ]
    if render:
        lines += ["Data:", "", "```sh", render, "```", ""]
    lines += [
        "Training:",
        "",
        "```sh",
        command,
        "```",
        "",
        f"Architecture: `{json.dumps(facts['architecture'])}`, input height "
        f"{facts['height']}, {facts['epochs']} epochs; best validation "
        f"{facts['validation']['criterion']} {facts['validation']['best']}.",
        "",
        "## Metrics",
        "",
        "| figure | value |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in metrics.items()]
    lines += [
        "",
        "Measured as bench/README.md describes (commands and dates there). Chosen on "
        "validation figures only.",
        "",
    ]
    return facts, "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--render")
    parser.add_argument("--metrics")
    parser.add_argument(
        "--alias",
        help="an alias that names this model from now on, e.g. general (the recommended model)",
    )
    args = parser.parse_args()
    metrics = json.loads(pathlib.Path(args.metrics).read_text()) if args.metrics else {}
    facts, text = card(
        args.model, args.name, command=args.command, render=args.render, metrics=metrics
    )
    print(builtin.install(args.model, args.name, card=facts, card_text=text, alias=args.alias))


if __name__ == "__main__":
    main()
