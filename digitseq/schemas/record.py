"""The sequence record, schema version 1: one `tf.train.Example` per digit sequence.

| feature        | kind  | values      | meaning                                                  |
| -------------- | ----- | ----------- | -------------------------------------------------------- |
| `id`           | bytes | exactly 1   | unique key within the dataset, e.g. `train/00001234`     |
| `image`        | bytes | exactly 1   | raw uint8 pixels, row-major, shape `[height, width]`     |
| `height`       | int64 | exactly 1   | image rows (28 for MNIST)                                |
| `width`        | int64 | exactly 1   | image columns = number of frames for the recognizer      |
| `label`        | int64 | 1 or more   | the digits left to right, each in 0..9                   |
| `source_index` | int64 | = `label`   | optional: index of each digit in its MNIST split         |
| `digit_left`   | int64 | = `label`   | optional: left column of each digit's 28-column box      |
| `source_file`  | bytes | 1           | optional: the image file an ingested record came from    |
| `source_size`  | int64 | 2           | optional: that file's height and width in pixels         |

Optional features may be absent from a record; readers that do not use them never see them (they
are left out of `tf_feature_spec()` unless asked for). `digit_left`, `source_file` and
`source_size` were added to version 1 as optional features, so records written before them still
follow the contract. Rendered records of MNIST digits carry `source_index` (strings written in a
font, `pipelines.render.fonts`, have neither it nor `digit_left`); records ingested from image files
(`digitseq ingest`) carry `source_file` and `source_size` instead.

`FEATURES` below drives the tf.io parsing spec used by the tf.data reader, `parse_record` used
where records are checked one at a time (batch prediction, tests), and the TensorFlow Metadata
schema text `schema.pbtxt`; `to_example`, used by the Beam writers, sets each feature by name
from its arguments, and a test keeps what it writes and `FEATURES` identical.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence

import numpy as np

from digitseq.core.errors import InvalidInputError

SCHEMA_VERSION = 1

ID = "id"
IMAGE = "image"
HEIGHT = "height"
WIDTH = "width"
LABEL = "label"
SOURCE_INDEX = "source_index"
DIGIT_LEFT = "digit_left"
SOURCE_FILE = "source_file"
SOURCE_SIZE = "source_size"

NUM_CLASSES = 10
"""Digits 0..9; a recognizer adds its blank class on top."""

BYTES = "bytes"
INT64 = "int64"


@dataclasses.dataclass(frozen=True)
class FeatureDef:
    """One feature of the record.

    Attributes:
      name: feature key in the `tf.train.Example`.
      kind: `BYTES` or `INT64`.
      scalar: exactly one value when true, one or more values otherwise.
      min_value: smallest allowed integer value, if bounded below.
      max_value: largest allowed integer value, if bounded above.
      description: what the feature means, copied into the TFMD schema.
      required: every record has it; an optional feature (always a list) may be absent, but
        when present follows the same rules.
    """

    name: str
    kind: str
    scalar: bool
    min_value: int | None = None
    max_value: int | None = None
    description: str = ""
    required: bool = True


FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef(ID, BYTES, True, description="unique key within the dataset"),
    FeatureDef(IMAGE, BYTES, True, description="raw uint8 pixels, row-major [height, width]"),
    FeatureDef(HEIGHT, INT64, True, min_value=1, description="image rows"),
    FeatureDef(WIDTH, INT64, True, min_value=1, description="image columns (frames)"),
    FeatureDef(
        LABEL,
        INT64,
        False,
        min_value=0,
        max_value=NUM_CLASSES - 1,
        description="digits left to right",
    ),
    FeatureDef(
        SOURCE_INDEX,
        INT64,
        False,
        min_value=0,
        required=False,
        description="index of each digit in its MNIST split",
    ),
    FeatureDef(
        DIGIT_LEFT,
        INT64,
        False,
        min_value=0,
        required=False,
        description="left column of each digit's 28-column box",
    ),
    FeatureDef(
        SOURCE_FILE,
        BYTES,
        False,
        required=False,
        description="the image file an ingested record came from",
    ),
    FeatureDef(
        SOURCE_SIZE,
        INT64,
        False,
        min_value=1,
        required=False,
        description="height and width of that image file in pixels",
    ),
)

PER_DIGIT = {SOURCE_INDEX: "source indices", DIGIT_LEFT: "digit left columns"}
"""Features with one value per digit (as many as `label`), and how errors count them."""

SCHEMA_PBTXT_PATH = pathlib.Path(__file__).with_name("schema.pbtxt")


def tf_feature_spec(*, optional: bool = False) -> dict:
    """The `tf.io.parse_example` spec: scalars as `FixedLenFeature`, lists as `RaggedFeature`.

    Args:
      optional: also parse the optional features (an absent one parses as an empty list).
    """
    import tensorflow as tf

    dtypes = {BYTES: tf.string, INT64: tf.int64}
    spec = {}
    for feature in FEATURES:
        if not (feature.required or optional):
            continue
        if feature.scalar:
            spec[feature.name] = tf.io.FixedLenFeature([], dtypes[feature.kind])
        else:
            spec[feature.name] = tf.io.RaggedFeature(
                dtypes[feature.kind], row_splits_dtype=tf.int32
            )
    return spec


def to_example(
    *,
    record_id: str,
    image: np.ndarray,
    label: Sequence[int],
    source_index: Sequence[int] | None,
    digit_left: Sequence[int] | None = None,
    source_file: str | None = None,
    source_size: tuple[int, int] | None = None,
) -> bytes:
    """Serializes one sequence as a v1 `tf.train.Example`.

    Args:
      record_id: the record's `id`.
      image: uint8 array `[height, width]`.
      label: the digits, left to right.
      source_index: MNIST index of each digit, same length as `label`; None (records not
        rendered from MNIST) leaves the optional feature out.
      digit_left: left column of each digit's box, same length as `label`; None leaves the
        optional feature out.
      source_file: the image file the record came from; None leaves it out.
      source_size: that file's `(height, width)`; None leaves it out.
    """
    from tensorflow.core.example import example_pb2

    if image.dtype != np.uint8 or image.ndim != 2:
        raise InvalidInputError(
            f"record {record_id}: image must be uint8 [height, width], found {image.dtype} "
            f"{list(image.shape)}"
        )
    for name, values in ((SOURCE_INDEX, source_index), (DIGIT_LEFT, digit_left)):
        if values is not None and len(values) != len(label):
            raise InvalidInputError(
                f"record {record_id}: {len(label)} labels but {len(values)} {PER_DIGIT[name]}"
            )
    example = example_pb2.Example()
    feature = example.features.feature
    feature[ID].bytes_list.value.append(record_id.encode())
    feature[IMAGE].bytes_list.value.append(np.ascontiguousarray(image).tobytes())
    feature[HEIGHT].int64_list.value.append(image.shape[0])
    feature[WIDTH].int64_list.value.append(image.shape[1])
    feature[LABEL].int64_list.value.extend(int(v) for v in label)
    if source_index is not None:
        feature[SOURCE_INDEX].int64_list.value.extend(int(v) for v in source_index)
    if digit_left is not None:
        feature[DIGIT_LEFT].int64_list.value.extend(int(v) for v in digit_left)
    if source_file is not None:
        feature[SOURCE_FILE].bytes_list.value.append(source_file.encode())
    if source_size is not None:
        feature[SOURCE_SIZE].int64_list.value.extend(int(v) for v in source_size)
    return example.SerializeToString()


@dataclasses.dataclass(frozen=True)
class Record:
    """A parsed and checked v1 record."""

    record_id: str
    image: np.ndarray
    label: tuple[int, ...] | None
    source_index: tuple[int, ...] | None
    digit_left: tuple[int, ...] | None = None
    source_file: str | None = None
    source_size: tuple[int, ...] | None = None

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


LABEL_FEATURES = (LABEL, SOURCE_INDEX)
"""What unlabeled records (accepted with `require_label=False`) leave out."""


def parse_record(serialized: bytes, *, where: str = "record", require_label: bool = True) -> Record:
    """Parses one serialized record and checks it against the contract.

    Args:
      serialized: bytes of a `tf.train.Example`.
      where: how to name the record in errors, e.g. `"data/train-00000.tfrecord.gz record 17"`.
      require_label: when false, a record without `label` and `source_index` (or with both empty)
        is accepted as unlabeled: its `label` and `source_index` are None.

    An optional feature the record lacks is None in the result.

    Raises:
      InvalidInputError: not an Example, a feature missing or of the wrong kind or count, a label
        out of range, or an image whose size is not height x width.
    """
    from google.protobuf import message
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    try:
        example.ParseFromString(serialized)
    except message.DecodeError as err:
        raise InvalidInputError(f"{where}: not a tf.train.Example ({err})") from None
    values = {}
    unlabeled = not require_label and not any(
        _value_count(example.features.feature, name) for name in LABEL_FEATURES
    )
    for feature in FEATURES:
        if unlabeled and feature.name in LABEL_FEATURES:
            values[feature.name] = None
            continue
        if feature.name not in example.features.feature and not feature.required:
            values[feature.name] = None
            continue
        if feature.name not in example.features.feature:
            raise InvalidInputError(f"{where}: feature '{feature.name}' is missing")
        proto = example.features.feature[feature.name]
        kind = proto.WhichOneof("kind")
        expected_kind = {BYTES: "bytes_list", INT64: "int64_list"}[feature.kind]
        if kind != expected_kind:
            raise InvalidInputError(
                f"{where}: feature '{feature.name}' is {kind or 'empty'}, expected {expected_kind}"
            )
        got = list(getattr(proto, kind).value)
        if feature.scalar and len(got) != 1:
            raise InvalidInputError(
                f"{where}: feature '{feature.name}' has {len(got)} values, expected 1"
            )
        if not feature.scalar and not got:
            raise InvalidInputError(
                f"{where}: feature '{feature.name}' is empty, expected 1 or more"
            )
        for value in got if feature.kind == INT64 else ():
            if (feature.min_value is not None and value < feature.min_value) or (
                feature.max_value is not None and value > feature.max_value
            ):
                raise InvalidInputError(
                    f"{where}: feature '{feature.name}' has value {value}, expected "
                    f"{feature.min_value}..{'' if feature.max_value is None else feature.max_value}"
                )
        values[feature.name] = got[0] if feature.scalar else tuple(got)
    record_id = values[ID].decode("utf-8", errors="replace")
    height, width, image = values[HEIGHT], values[WIDTH], values[IMAGE]
    if len(image) != height * width:
        raise InvalidInputError(
            f"{where} (id {record_id}): image has {len(image)} bytes, expected height x width = "
            f"{height} x {width} = {height * width}"
        )
    for name, noun in PER_DIGIT.items():
        if not unlabeled and values[name] is not None and len(values[LABEL]) != len(values[name]):
            raise InvalidInputError(
                f"{where} (id {record_id}): {len(values[LABEL])} labels but "
                f"{len(values[name])} {noun}, expected the same number"
            )
    return Record(
        record_id=record_id,
        image=np.frombuffer(image, np.uint8).reshape(height, width),
        label=values[LABEL],
        source_index=values[SOURCE_INDEX],
        digit_left=values[DIGIT_LEFT],
        source_file=(
            values[SOURCE_FILE][0].decode("utf-8", errors="replace")
            if values[SOURCE_FILE]
            else None
        ),
        source_size=values[SOURCE_SIZE],
    )


def _value_count(features, name: str) -> int:
    if name not in features:
        return 0
    kind = features[name].WhichOneof("kind")
    return len(getattr(features[name], kind).value) if kind else 0


def schema_text() -> str:
    """The TensorFlow Metadata `Schema` (text format) equivalent to `FEATURES`."""
    lines = [
        "# TensorFlow Metadata Schema for digitseq sequence records, schema version "
        f"{SCHEMA_VERSION}.",
        "# Generated from digitseq/schemas/record.py (schema_text); a test keeps the two identical.",
    ]
    for feature in FEATURES:
        lines.append("feature {")
        lines.append(f'  name: "{feature.name}"')
        lines.append(f"  type: {'BYTES' if feature.kind == BYTES else 'INT'}")
        if feature.min_value is not None or feature.max_value is not None:
            lines.append("  int_domain {")
            if feature.min_value is not None:
                lines.append(f"    min: {feature.min_value}")
            if feature.max_value is not None:
                lines.append(f"    max: {feature.max_value}")
            lines.append("  }")
        lines.append("  presence {")
        if feature.required:
            lines += ["    min_fraction: 1.0", "    min_count: 1"]
        else:
            lines.append("    min_fraction: 0.0")
        lines.append("  }")
        if feature.scalar:
            lines += ["  shape {", "    dim {", "      size: 1", "    }", "  }"]
        else:
            lines += ["  value_count {", "    min: 1", "  }"]
        lines.append(f'  annotation {{ comment: "{feature.description}" }}')
        lines.append("}")
    return "\n".join(lines) + "\n"
