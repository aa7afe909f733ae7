"""The contract between the tf.data reader, the recognizer and its training and export code.

A batch from `recognizer.data.reader` is `(features, labels)`:

    features = {FRAMES: uint8 [B, T, height], WIDTH: int32 [B]}   (+ ID: string [B] on request)
    labels   = {LABEL: int32 [B, L] padded with LABEL_PAD, LABEL_LENGTH: int32 [B]}

Frames are image columns (time-major), zero beyond each sequence's width. A recognizer takes
`features` and returns `{LOGITS: float32 [B, T', classes], LENGTHS: int32 [B]}`, where LENGTHS
are the real output frames of each sequence.
"""

FRAMES = "frames"
WIDTH = "width"
ID = "id"
LABEL = "label"
LABEL_LENGTH = "label_length"
LABEL_PAD = -1

LOGITS = "logits"
LENGTHS = "lengths"
