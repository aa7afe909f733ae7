"""Actionable scores (issue 18), measured in one run on existing full-MNIST data and a model.

    .venv/bin/python bench/actionable.py --model MODEL --plain PLAIN --fixed FIXED5 [--images 20000]

MODEL: an exported model (calibrated on PLAIN's validation split when it has no calibration.json;
never on test). PLAIN: a variable-length (2..5) dataset; FIXED5: a dataset whose test split holds
5-digit strings. Prints, each from `digitseq predict` (`run_prediction`, local runner, 1 worker):
  1. plain 2..5 test, greedy decoding: SER of the accepted rows at 95% coverage (target <= 0.3%)
     and the ECE (target <= 2%), from metrics.json; the same for beam search; for beam search,
     which MNIST digits (records' `source_index`) the errors among the accepted rows misread:
     strings reuse digits, so one hard digit can make several confident string errors;
  2. FIXED5 test: SER and wall time of unconstrained beam search vs `--length 5` (targets: SER
     at least 25% lower, time <= 1.5x);
  3. `--images` PNG files of mixed widths (PLAIN's test strings, black on white, each scaled by a
     random factor 0.8..2.5, so normalised widths vary continuously; written first, not timed),
     scored with fixed batches of 128 (the batching before issue 18) and with width batching, in
     this order, each timed end to end: images/s and padding efficiency (target >= 0.9, and width
     batching at least as fast).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def predict(out_dir: str, **fields) -> tuple[dict, dict, float]:
    from digitseq.cli.beam_options import pipeline_options
    from digitseq.pipelines.predict import job
    from digitseq.pipelines.predict.config import PredictConfig

    config = PredictConfig(out_dir=out_dir, overwrite=True, **fields)
    started = time.perf_counter()
    metrics = job.run_prediction(config, pipeline_options([]))
    seconds = time.perf_counter() - started
    with open(os.path.join(out_dir, "run.json")) as f:
        return metrics, json.load(f), seconds


def at_coverage(metrics: dict, coverage: float) -> dict:
    return next(e for e in metrics["risk_coverage"] if e["coverage"] == coverage)


def accepted_errors_by_digit(out_dir: str, data_dir: str, threshold: float):
    """For the rows with confidence >= `threshold` whose prediction is wrong: (errors, length
    errors, Counter of the MNIST source digits at substituted positions)."""
    import collections
    import glob

    from digitseq.schemas import prediction
    from tests.records import read_split

    sources = {r["id"]: r["source_index"] for r in read_split(data_dir, "test")}
    errors, length_errors, digits = 0, 0, collections.Counter()
    for path in glob.glob(os.path.join(out_dir, prediction.PREDICTIONS + "-*")):
        for line in open(path):
            row = json.loads(line)
            truth, guess = row[prediction.LABEL], row[prediction.PREDICTION]
            if row[prediction.CONFIDENCE] < threshold or guess == truth:
                continue
            errors += 1
            if len(guess) != len(truth):
                length_errors += 1
                continue
            digits.update(
                sources[row[prediction.ID]][i] for i in range(len(truth)) if guess[i] != truth[i]
            )
    return errors, length_errors, digits


def draw_digits(indices: list[int], path: str) -> None:
    """The MNIST test digits `indices` side by side, 3x, white on black, as a PNG; prints their
    MNIST labels."""
    import numpy as np
    from PIL import Image

    from digitseq.pipelines.render import mnist

    test = mnist.load(mnist.default_location()).test
    print(
        f"   MNIST labels of those digits, in order: {[int(test.labels[i]) for i in indices]}; "
        f"figure: {path}"
    )
    strip = np.concatenate(
        [np.kron(test.images[i], np.ones((3, 3), np.uint8)) for i in indices], axis=1
    )
    Image.fromarray(strip).save(path)


def write_images(data_dir: str, folder: str, count: int, seed: int = 0) -> str:
    import numpy as np
    from PIL import Image

    from tests.records import read_split

    records = read_split(data_dir, "test")
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, "scans"), exist_ok=True)
    lines = ["file,label"]
    for i in range(count):
        rec = records[i % len(records)]
        scale = rng.uniform(0.8, 2.5)
        image = Image.fromarray(255 - rec["image"])
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(28 * scale))), Image.BILINEAR
        )
        name = f"scans/{i:06d}.png"
        image.save(os.path.join(folder, name))
        lines.append(f"{name},{''.join(map(str, rec['label']))}")
    labels = os.path.join(folder, "labels.csv")
    with open(labels, "w") as f:
        f.write("\n".join(lines) + "\n")
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--plain", required=True)
    parser.add_argument("--fixed", required=True)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--beam-width", type=int, default=8)
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument(
        "--figure",
        default=None,
        help="PNG of the MNIST digits behind the accepted beam errors (part 1)",
    )
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: 1,2,3")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = args.work or tempfile.mkdtemp(prefix="bench-actionable-")
    from digitseq.recognizer.serving import calibration
    from digitseq.recognizer.train import calibrate

    if calibration.read(args.model) is None:
        fitted = calibrate.calibrate_model(
            calibrate.CalibrateConfig(
                model_dir=args.model, data_dir=args.plain, beam_width=args.beam_width
            )
        )
        print("calibrated on", args.plain, "validation:", json.dumps(fitted.to_json()))
    print("calibration:", json.dumps(calibration.read(args.model).to_json()))
    plain_test = os.path.join(args.plain, "test", "*")
    fixed_test = os.path.join(args.fixed, "test", "*")

    if "1" not in skip:
        for decoder in ("greedy", "beam"):
            metrics, run, seconds = predict(
                os.path.join(work, f"plain-{decoder}"),
                model_dir=args.model,
                input_pattern=plain_test,
                decoder=decoder,
                beam_width=args.beam_width,
            )
            entry = at_coverage(metrics, 0.95)
            print(
                f"1. plain 2..5 test, {decoder}: {metrics['sequences']} sequences, SER (all) "
                f"{metrics['ser']:.4%}; at 95% coverage: threshold {entry['threshold']:.6f}, "
                f"accepted {entry['accepted']} ({entry['actual_coverage']:.2%}), SER "
                f"{entry['ser']:.4%}, CER {entry['cer']:.4%}; ECE {metrics['ece']['value']:.4%}"
                f" (target SER <= 0.3%, ECE <= 2%); calibrated {run['calibrated']}; "
                f"{seconds:.1f} s"
            )
            for e in metrics["risk_coverage"]:
                print(
                    f"   coverage {e['coverage']:.0%}: threshold {e['threshold']:.6f}, "
                    f"SER {e['ser']:.4%}, CER {e['cer']:.4%}"
                )
            if decoder == "beam":
                errors, lengths, digits = accepted_errors_by_digit(
                    os.path.join(work, "plain-beam"), args.plain, entry["threshold"]
                )
                top = digits.most_common()
                print(
                    f"   accepted at 95%: {errors} wrong strings ({lengths} of the wrong length);"
                    f" substituted digits come from {len(digits)} MNIST test digits, the 5 "
                    f"most frequent cause {sum(c for _, c in top[:5])} of {sum(digits.values())}"
                    f" substitutions: " + ", ".join(f"#{d} x{c}" for d, c in top[:10])
                )
                if args.figure:
                    draw_digits([d for d, _ in top[:10]], args.figure)

    if "2" not in skip:
        found = {}
        for name, extra in (("beam", {}), ("beam --length 5", {"length": 5})):
            metrics, run, seconds = predict(
                os.path.join(work, "fixed-" + name.replace(" ", "")),
                model_dir=args.model,
                input_pattern=fixed_test,
                decoder="beam",
                beam_width=args.beam_width,
                **extra,
            )
            found[name] = (metrics["ser"], seconds, metrics["reviewed"])
            print(
                f"2. fixed 5 test, {name}: SER {metrics['ser']:.4%}, reviewed "
                f"{metrics['reviewed']}, {seconds:.1f} s ({metrics['sequences'] / seconds:,.0f}"
                f"/s)"
            )
        (ser_b, t_b, _), (ser_c, t_c, _) = found["beam"], found["beam --length 5"]
        print(
            f"   SER reduction {1 - ser_c / ser_b:.1%} (target >= 25%), cost "
            f"{t_c / t_b:.2f}x (target <= 1.5x)"
        )

    if "3" not in skip:
        folder = os.path.join(work, "images")
        labels = os.path.join(folder, "labels.csv")
        if not os.path.exists(labels):
            labels = write_images(args.plain, folder, args.images)
        rates = {}
        for batching in ("fixed", "width"):
            metrics, run, seconds = predict(
                os.path.join(work, f"images-{batching}"),
                model_dir=args.model,
                input_pattern=os.path.join(folder, "scans", "*.png"),
                labels=labels,
                batching=batching,
            )
            rates[batching] = metrics["scored"] / seconds
            print(
                f"3. {args.images} image files, {batching} batching: {rates[batching]:,.0f} "
                f"images/s ({seconds:.1f} s), padding efficiency "
                f"{run['batching']['padding_efficiency']:.3f}, batches "
                f"{run['counters']['batches']}, SER {metrics['ser']:.4%}, dead letters "
                f"{metrics['dead_letters']}"
            )
        print(
            f"   width / fixed throughput: {rates['width'] / rates['fixed']:.2f}x (target >= 1.0)"
        )


if __name__ == "__main__":
    main()
