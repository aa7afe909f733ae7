"""Renders written as scans and scored through the image path, against the same strings scored as
renders, measured in one run.

    .venv/bin/python bench/scans.py --model DIR [--count 2000] [--preset scanned] [--mnist DIR]

Renders a `--preset` test split of `--count` variable-length strings with `digitseq render`
(one shard, seed 11), draws the same strings again in this process (`drawing.render_shard` on the
job's plan) and writes each string's paper image (`RenderedSequence.scan`) as a PNG file with a
labels file; then scores the records (`digitseq predict --input 'test/*'`) and the PNG files
(`digitseq predict --input '*.png' --labels`) with the same model and prints both CERs and their
ratio (issue 16: within 1.1x). For presets without `--scan` the PNG is the render itself,
inverted to dark ink on light paper.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SEED = 11


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--preset", default="scanned")
    parser.add_argument("--mnist", default=None, help="default: $MNIST_DIR, else the sample")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import tensorflow as tf

    from digitseq import cli
    from digitseq.pipelines.render import drawing, mnist, planning
    from digitseq.pipelines.render import params as render_params

    location = mnist.default_location(args.mnist)
    out = args.out or tempfile.mkdtemp(prefix="bench-scans-")
    data = os.path.join(out, "data")
    assert (
        cli.run(
            [
                "render",
                "--out",
                data,
                "--preset",
                args.preset,
                "--mode",
                "variable",
                "--train",
                "50",
                "--validation",
                "0",
                "--test",
                str(args.count),
                "--shards",
                "1",
                "--seed",
                str(SEED),
                "--mnist",
                location,
                "--overwrite",
            ]
        )
        == 0
    )

    params = render_params.preset_params(args.preset, mode="variable")
    source = mnist.load(location).test
    pool = planning.digit_pool(source, "test")
    scans = os.path.join(out, "scans")
    os.makedirs(scans, exist_ok=True)
    rows = ["file,label"]
    for plan in planning.plan_shards(params, {"test": args.count}, seed=SEED, shards=1):
        for rendered in drawing.render_shard(
            plan, params, seed=SEED, pool=pool, mnist_split=source
        ):
            picture = rendered.scan if rendered.scan is not None else 255 - rendered.image
            name = rendered.record_id.replace("/", "-") + ".png"
            tf.io.write_file(os.path.join(scans, name), tf.io.encode_png(picture[..., None]))
            rows.append(f"{name},{''.join(str(d) for d in rendered.label)}")
    with open(os.path.join(scans, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")

    results = {}
    for kind, flags in (
        ("records", ["--input", os.path.join(data, "test", "*")]),
        (
            "image files",
            [
                "--input",
                os.path.join(scans, "*.png"),
                "--labels",
                os.path.join(scans, "labels.csv"),
            ],
        ),
    ):
        scored = os.path.join(out, f"scored-{kind.replace(' ', '-')}")
        assert (
            cli.run(["predict", "--model", args.model, *flags, "--out", scored, "--overwrite"]) == 0
        )
        with open(os.path.join(scored, "metrics.json")) as f:
            results[kind] = json.load(f)
    records, files = results["records"], results["image files"]
    print(
        f"preset {args.preset}, {records['sequences']} strings as records, "
        f"{files['sequences']} as PNG files"
    )
    print(
        f"CER as records {records['cer']:.2%}, as image files {files['cer']:.2%}: "
        f"ratio {files['cer'] / max(records['cer'], 1e-12):.2f} (target <= 1.1)"
    )


if __name__ == "__main__":
    main()
