"""The record contract: schema.pbtxt agrees with the code spec; parse_record checks records."""

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_metadata.proto.v0 import schema_pb2

from digitseq.core.errors import InvalidInputError
from digitseq.schemas import record


def test_schema_pbtxt_is_generated_from_the_code_spec():
    assert record.SCHEMA_PBTXT_PATH.read_text() == record.schema_text()


def test_schema_pbtxt_parses_as_tfmd_schema_matching_features():
    schema = text_format.Parse(record.SCHEMA_PBTXT_PATH.read_text(), schema_pb2.Schema())
    by_name = {f.name: f for f in schema.feature}
    assert list(by_name) == [f.name for f in record.FEATURES]
    for feature in record.FEATURES:
        proto = by_name[feature.name]
        assert proto.type == (schema_pb2.BYTES if feature.kind == record.BYTES else schema_pb2.INT)
        assert proto.presence.min_fraction == (1.0 if feature.required else 0.0)
        if feature.scalar:
            assert [d.size for d in proto.shape.dim] == [1]
        else:
            assert proto.value_count.min == 1
    assert (by_name[record.LABEL].int_domain.min, by_name[record.LABEL].int_domain.max) == (0, 9)
    assert not next(f for f in record.FEATURES if f.name == record.DIGIT_LEFT).required


def _example(*, lefts=(0, 1), **overrides) -> bytes:
    image = np.arange(28 * 3, dtype=np.uint8).reshape(28, 3)
    data = record.to_example(
        record_id="train/00000001",
        image=image,
        label=[1, 2],
        source_index=[10, 20],
        digit_left=lefts,
    )
    example = example_pb2.Example.FromString(data)
    for name, value in overrides.items():
        if value is None:
            del example.features.feature[name]
        else:
            example.features.feature[name].CopyFrom(value)
    return example.SerializeToString()


def test_parse_record_round_trip():
    parsed = record.parse_record(_example())
    assert parsed.record_id == "train/00000001"
    assert parsed.label == (1, 2) and parsed.source_index == (10, 20)
    assert parsed.digit_left == (0, 1)
    np.testing.assert_array_equal(parsed.image, np.arange(84, dtype=np.uint8).reshape(28, 3))


def test_optional_digit_left_may_be_absent():
    parsed = record.parse_record(_example(lefts=None))
    assert parsed.digit_left is None and parsed.label == (1, 2)
    assert record.parse_record(_example(digit_left=None)).digit_left is None
    unlabeled = record.parse_record(_example(label=None, source_index=None), require_label=False)
    assert unlabeled.label is None and unlabeled.digit_left == (0, 1)


def test_tf_feature_spec_leaves_optional_features_out_unless_asked():
    import tensorflow as tf

    assert record.DIGIT_LEFT not in record.tf_feature_spec()
    serialized = tf.constant([_example(), _example(lefts=None)])
    parsed = tf.io.parse_example(serialized, record.tf_feature_spec(optional=True))
    assert parsed[record.DIGIT_LEFT].to_list() == [[0, 1], []]
    assert parsed[record.LABEL].to_list() == [[1, 2], [1, 2]]


def _int_feature(*values):
    feature = feature_pb2.Feature()
    feature.int64_list.value.extend(values)
    return feature


def _bytes_feature(value: bytes):
    feature = feature_pb2.Feature()
    feature.bytes_list.value.append(value)
    return feature


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\xff\x00not a proto", "not a tf.train.Example"),
        (_example(image=None), "feature 'image' is missing"),
        (_example(label=_int_feature(1, 42)), "feature 'label' has value 42, expected 0..9"),
        (
            _example(image=_bytes_feature(b"\x00" * 10)),
            "image has 10 bytes, expected height x width",
        ),
        (
            _example(width=_bytes_feature(b"3")),
            "feature 'width' is bytes_list, expected int64_list",
        ),
        (_example(source_index=_int_feature(1)), "2 labels but 1 source indices"),
        (_example(digit_left=_int_feature(0, 1, 2)), "2 labels but 3 digit left columns"),
        (
            _example(digit_left=_int_feature(0, -3)),
            "feature 'digit_left' has value -3, expected 0..",
        ),
        (
            _example(digit_left=_bytes_feature(b"0")),
            "feature 'digit_left' is bytes_list, expected int64_list",
        ),
    ],
)
def test_parse_record_names_what_is_wrong(data, message):
    with pytest.raises(InvalidInputError, match=message) as info:
        record.parse_record(data, where="f.tfrecord.gz record 3")
    assert str(info.value).startswith("f.tfrecord.gz record 3")


def test_to_example_refuses_a_digit_left_per_digit_mismatch():
    with pytest.raises(InvalidInputError, match="2 labels but 1 digit left columns"):
        record.to_example(
            record_id="x",
            image=np.zeros((28, 3), np.uint8),
            label=[1, 2],
            source_index=[1, 2],
            digit_left=[0],
        )


def test_to_example_writes_exactly_the_declared_features():
    data = record.to_example(
        record_id="x",
        image=np.zeros((28, 3), np.uint8),
        label=[1, 2],
        source_index=[10, 20],
        digit_left=[0, 1],
        source_file="a.png",
        source_size=(40, 60),
    )
    written = set(example_pb2.Example.FromString(data).features.feature)
    assert written == {feature.name for feature in record.FEATURES}
