"""digitseq datasets in your own tf.data and Keras code.

    import digitseq.data

    train = digitseq.data.make_dataset("mydata", "train", 64, training=True, seed=0)
    for features, labels in train.take(1):
        features["frames"]   # uint8 [B, width bucket, 28]: pixel columns, zero-padded
        features["width"]    # int32 [B]: the real columns of each string
        labels["label"]      # int32 [B, longest label]: digits 0..9, padded with -1
        labels["label_length"]

A dataset directory is what `digitseq render` and `digitseq ingest` write (`metadata.json`,
`stats.json`, `train/`, `validation/`, `test/` of sharded GZIP TFRecords, `COMPLETED`; docs/
DESIGN.md has the contract). `load_metadata` and `load_stats` read it (the statistics are the
per-row mean and standard deviation of the training images, for standardizing the frames);
`FEATURES` and `LABELS` name the batch keys. TFRecord files of the same record schema that are
not a dataset directory go through `make_dataset_from_files`.
"""

from __future__ import annotations

from digitseq.recognizer.config import Augmentation, ReaderConfig
from digitseq.recognizer.data.files import make_dataset_from_files
from digitseq.recognizer.data.reader import epoch_batches, make_dataset, make_training_mix
from digitseq.schemas import batch
from digitseq.schemas.dataset import SPLITS, load_metadata, load_stats

FEATURES = (batch.FRAMES, batch.WIDTH)
"""The keys of a batch's features (and `id` with `with_ids=True`)."""
LABELS = (batch.LABEL, batch.LABEL_LENGTH)
"""The keys of a batch's labels."""

__all__ = [
    "FEATURES",
    "LABELS",
    "SPLITS",
    "Augmentation",
    "ReaderConfig",
    "epoch_batches",
    "load_metadata",
    "load_stats",
    "make_dataset",
    "make_dataset_from_files",
    "make_training_mix",
]
