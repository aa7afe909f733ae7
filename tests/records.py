"""Reading a rendered split back with nothing but tf.data and the schema (no digitseq reader).

Optional features come back as lists, empty where a record lacks them.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import tensorflow as tf

from digitseq.schemas import dataset, record


def read_split(data_dir: str, split: str) -> list[dict]:
    """Every record of `split` as numpy values, in file order."""
    files = sorted(glob.glob(os.path.join(data_dir, split, "*" + dataset.SHARD_SUFFIX)))
    records = []
    ds = tf.data.TFRecordDataset(files, compression_type=dataset.COMPRESSION)
    spec = record.tf_feature_spec(optional=True)
    for batch in ds.batch(256).map(lambda s: tf.io.parse_example(s, spec)):
        for i in range(len(batch[record.ID])):
            height = int(batch[record.HEIGHT][i])
            width = int(batch[record.WIDTH][i])
            records.append(
                {
                    "id": batch[record.ID][i].numpy().decode(),
                    "image": np.frombuffer(batch[record.IMAGE][i].numpy(), np.uint8).reshape(
                        height, width
                    ),
                    "label": batch[record.LABEL][i].numpy().tolist(),
                    "source_index": batch[record.SOURCE_INDEX][i].numpy().tolist(),
                    "digit_left": batch[record.DIGIT_LEFT][i].numpy().tolist(),
                }
            )
    return records
