"""The exported model directory: file names and the serving signatures' inputs and outputs.

    <model>/model.keras   Keras 3 native file (loads with safe_mode=True)
    <model>/serving/      SavedModel with two signatures on raw uint8 images:
                          serving_default(images [B, height, W], widths [B]) ->
                              digits int32 [B, L] (padded -1), lengths int32 [B],
                              confidence float32 [B]   (greedy CTC decoding)
                          logits(images, widths) -> logits float32 [B, T', 11], lengths int32 [B]
    <model>/stats.json    the statistics it was trained with
    <model>/config.json   architecture, training parameters and results, the data's metadata
    <model>/calibration.json   optional (a model exported without a validation split has none): maps from the
                          decoders' raw confidence to P(string right), fitted on validation:
                          {"method": "platt-logit",
                           "decoders": {"greedy": {"a", "b"}, "beam": {"a", "b", "beam_width"}},
                           "fitted": {"data", "split", "sequences", per decoder {"ser",
                                      "ece_raw", "ece_calibrated"}}}
                          calibrated = sigmoid(a * logit(raw) + b); when present,
                          serving_default's confidence is already calibrated (greedy map) and
                          users of the logits signature apply the beam map after beam search

A training run keeps more beside these (`best.keras`, `backup/`, `logs/`); the files above are the
contract batch prediction and other users rely on.
"""

MODEL = "model.keras"
BEST = "best.keras"
SERVING = "serving"
SAVED_MODEL = "saved_model.pb"
STATS = "stats.json"
CONFIG = "config.json"
CALIBRATION = "calibration.json"
CALIBRATION_METHOD = "method"
CALIBRATION_DECODERS = "decoders"
CALIBRATION_FITTED = "fitted"

SERVING_DEFAULT = "serving_default"
LOGITS_SIGNATURE = "logits"

IMAGES = "images"
WIDTHS = "widths"
DIGITS = "digits"
LENGTHS = "lengths"
CONFIDENCE = "confidence"
LOGITS = "logits"
