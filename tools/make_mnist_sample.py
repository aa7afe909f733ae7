"""Makes pipelines/render/data/mnist_sample.npz, the small real MNIST sample bundled with digitseq.

A seeded random subset of the full MNIST IDX files, in Keras's `mnist.npz` layout plus the original
indices (`train_index`, `test_index`), so rendered records keep true provenance. The provenance
(source checksums, seed, counts, how to rebuild) goes to mnist_sample.json beside it.

    python tools/make_mnist_sample.py --mnist $MNIST_DIR
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from digitseq.pipelines.render import mnist  # noqa: E402

# Train-pool, validation-pool and test counts; the render job takes train digits from MNIST train
# indices < 55000 and validation digits from 55000..59999.
COUNTS = {"train": 7000, "validation": 1000, "test": 2000}
SEED = 20261123


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", required=True, help="directory with the four MNIST IDX files")
    parser.add_argument("--out", default=str(mnist.SAMPLE_PATH))
    args = parser.parse_args()

    source = mnist.load(args.mnist)
    rng = np.random.default_rng(SEED)
    train_index = np.sort(
        np.concatenate(
            [
                rng.choice(55000, COUNTS["train"], replace=False),
                55000 + rng.choice(len(source.train) - 55000, COUNTS["validation"], replace=False),
            ]
        )
    )
    test_index = np.sort(rng.choice(len(source.test), COUNTS["test"], replace=False))
    np.savez_compressed(
        args.out,
        x_train=source.train.images[train_index],
        y_train=source.train.labels[train_index],
        train_index=train_index,
        x_test=source.test.images[test_index],
        y_test=source.test.labels[test_index],
        test_index=test_index,
    )
    provenance = {
        "what": "seeded random subset of MNIST (Y. LeCun, C. Cortes, C. J. C. Burges), "
        "Keras mnist.npz layout plus original indices train_index/test_index",
        "made_by": "python tools/make_mnist_sample.py --mnist <dir with the IDX files>",
        "seed": SEED,
        "counts": {
            "train_below_55000": COUNTS["train"],
            "train_55000_and_above": COUNTS["validation"],
            "test": COUNTS["test"],
        },
        "source_sha256": source.sha256,
        "sample_sha256": mnist.load(args.out).sha256,
    }
    pathlib.Path(args.out).with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {args.out} ({pathlib.Path(args.out).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
