"""What the prediction tests share: records the job must refuse and what their dead letters say,
running `digitseq predict` in-process, and reading back the rows it wrote."""

from __future__ import annotations

import os

import numpy as np

from digitseq import cli
from digitseq.schemas import prediction, record

BAD = {  # record number in bad.tfrecord -> what its dead letter must say
    0: "not a tf.train.Example",
    1: "feature 'image' is missing",
    2: "image has 27 bytes, expected height x width = 28 x 56 = 1568",
    3: "feature 'label' has value 42, expected 0..9",
}
UNLABELED_ID = "user/unlabeled"


def make_example(**changes) -> bytes:
    """A valid serialized record (28 x 56 image, label 12) with features replaced (`None`:
    removed; bytes: a bytes feature; else an int64 list)."""
    from tensorflow.core.example import example_pb2

    rng = np.random.default_rng(0)
    serialized = record.to_example(
        record_id=changes.pop("record_id", "user/x"),
        image=rng.integers(0, 255, (28, 56), dtype=np.uint8),
        label=[1, 2],
        source_index=[3, 4],
    )
    example = example_pb2.Example.FromString(serialized)
    features = example.features.feature
    for name, value in changes.items():
        if value is None:
            del features[name]
        elif isinstance(value, bytes):
            features[name].bytes_list.value[:] = [value]
        else:
            features[name].int64_list.value[:] = value
    return example.SerializeToString()


def bad_records() -> list[bytes]:
    """The records of `BAD`, in order, then a valid unlabeled one (`UNLABELED_ID`)."""
    return [
        b"\x00 not a proto \xff",
        make_example(image=None),
        make_example(image=b"\x00" * 27),
        make_example(label=[4, 42]),
        make_example(record_id=UNLABELED_ID, label=None, source_index=None),
    ]


def run_predict(model, input_dir, out, *flags: str) -> int:
    """`digitseq predict` on every file of `input_dir`, in-process; its exit code."""
    return cli.run(
        [
            "predict",
            "--model",
            str(model),
            "--input",
            os.path.join(str(input_dir), "*"),
            "--out",
            str(out),
            *flags,
        ]
    )


def rows_of(out, name: str = prediction.PREDICTIONS) -> list[dict]:
    """The rows of one output (`predictions`, `review`, `dead_letter`) of a job's `out`."""
    return list(prediction.read_rows(str(out), name))


def read_test_split(data_dir: str) -> list[dict]:
    """The test split of a rendered dataset, read with tf.data alone."""
    from tests.records import read_split

    return read_split(data_dir, "test")
