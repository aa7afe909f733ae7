"""Parsing and decoding whole batches of v1 records into frames and labels, with checks.

One `parse_example` and one `decode_raw` per batch, no per-record map, no `py_function`. With
record names, every batch is checked against the contract by one cheap test; only a failing batch
builds the message naming the first bad record.
"""

from __future__ import annotations

import tensorflow as tf

from digitseq.schemas import batch, record


def error_reason(err: tf.errors.OpError) -> str:
    """TensorFlow's error message without the function, iterator and op noise around it."""
    text = err.message.split("\n")[0]
    for start in ("Name: ", "assertion failed: "):
        if start in text:
            return text[text.index(start) :].split(" [Op:")[0].strip()
    return text.split(" [Op:")[0].split("}}")[-1].strip()


def _first_bad(names, bad, found):
    index = tf.argmax(tf.cast(bad, tf.int32))
    return [names[index], "found", tf.gather(found, index)]


def check_records(
    names, *, heights, widths, sizes, label, height: int, boundary: int | tf.Tensor | None
):
    """One cheap test per batch; only a failing batch builds the message naming the record."""
    label_ok = tf.reduce_all((label >= 0) & (label < record.NUM_CLASSES), axis=1)
    checks = [  # (bad records, message, what was found there)
        (
            tf.not_equal(heights, height),
            f"record height differs from the dataset's {height}:",
            heights,
        ),
        (
            tf.not_equal(sizes, height * widths),
            "image size is not height x width (bytes found, then expected):",
            tf.stack([sizes, height * widths], axis=1),
        ),
        (tf.logical_not(label_ok), "label outside 0..9:", label.to_tensor(batch.LABEL_PAD)),
        (tf.equal(label.row_lengths(), 0), "label is empty:", label.row_lengths()),
    ]
    if boundary is not None:
        checks.append(
            (
                widths > boundary,
                "width beyond its bucket's boundary (found, then boundary):",
                tf.stack([widths, tf.broadcast_to(boundary, tf.shape(widths))], axis=1),
            )
        )

    def report():
        asserts = [
            tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(bad)),
                [message, *_first_bad(names, bad, found)],
                summarize=8,
            )
            for bad, message, found in checks
        ]
        with tf.control_dependencies(asserts):
            return tf.constant(False)

    any_bad = tf.reduce_any(tf.stack([tf.reduce_any(bad) for bad, _, _ in checks]))
    return tf.cond(any_bad, report, lambda: tf.constant(True))


def parse_batch(
    serialized,
    *,
    names=None,
    height: int,
    boundary: int | tf.Tensor | None,
    max_label: int | None,
    with_ids: bool,
):
    """Parses a batch of records; returns `(features, labels)`.

    With `names` (one per record) the batch is also checked against the contract and errors name
    the record; without, the records are trusted (already verified). An int `boundary` pads frames
    to that width; otherwise (None, or a per-record tensor that is only checked) frames are padded
    to the batch's widest record. `max_label` pads labels to that length (None: to the batch's
    longest label).
    """
    parsed = tf.io.parse_example(serialized, record.tf_feature_spec(), example_names=names)
    widths = tf.cast(parsed[record.WIDTH], tf.int32)
    images = parsed[record.IMAGE]
    label = tf.cast(parsed[record.LABEL], tf.int32)
    checks = (
        []
        if names is None
        else [
            check_records(
                names,
                heights=tf.cast(parsed[record.HEIGHT], tf.int32),
                widths=widths,
                sizes=tf.strings.length(images),
                label=label,
                height=height,
                boundary=boundary,
            )
        ]
    )
    with tf.control_dependencies(checks):
        pad_width = boundary if isinstance(boundary, int) else tf.reduce_max(widths)
        frames = columns(images, widths, height, pad_width)
    features = {batch.FRAMES: frames, batch.WIDTH: widths}
    if with_ids:
        features[batch.ID] = parsed[record.ID]
    labels = {
        batch.LABEL: label.to_tensor(batch.LABEL_PAD, shape=[None, max_label]),
        batch.LABEL_LENGTH: tf.cast(label.row_lengths(), tf.int32),
    }
    return features, labels


def columns(images, widths, height: int, pad_width):
    """Row-major images (bytes) -> time-major frames `uint8 [B, pad_width, height]`, zero-padded."""
    flat = tf.io.decode_raw(images, tf.uint8, fixed_length=height * pad_width)

    def all_full():
        return tf.transpose(tf.reshape(flat, [-1, height, pad_width]), [0, 2, 1])

    def gather():
        t = tf.range(pad_width)[None, :, None]
        r = tf.range(height)[None, None, :]
        w = widths[:, None, None]
        values = tf.gather(flat, r * w + tf.minimum(t, w - 1), batch_dims=1)
        return tf.where(t < w, values, tf.zeros_like(values))

    return tf.cond(tf.reduce_all(tf.equal(widths, pad_width)), all_full, gather)
