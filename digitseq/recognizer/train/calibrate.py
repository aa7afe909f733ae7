"""Calibrating a Keras recognizer or an exported model on a labeled split: decode the split with
both decoders, fit each decoder's map (`serving.calibration`) and, for an exported model, write
the serving signatures again with it."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from digitseq.core.errors import ConfigError
from digitseq.core.options import check_finite, option
from digitseq.recognizer.serving.calibration import Calibration, Platt, ece, fit_platt
from digitseq.schemas import exported


def decoded_validation(model, data_dir: str, split: str = "validation", *, beam_width: int = 8,
                       batch_size: int = 256) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`{decoder: (raw confidence, correct)}` of a Keras recognizer on a split, greedy and beam."""
    from digitseq.recognizer.serving import decoding
    from digitseq.recognizer.train.evaluation import SplitDecoder

    decoder = SplitDecoder(model, data_dir, split, methods=(decoding.GREEDY, decoding.BEAM),
                           beam_width=beam_width, batch_size=batch_size)
    found: dict[str, tuple[list, list]] = {method: ([], []) for method in decoder.methods}
    for _, truth, decoded in decoder:
        for method, (strings, confidence) in decoded.items():
            found[method][0].extend(confidence.tolist())
            found[method][1].extend(h == t for h, t in zip(strings, truth))
    return {name: (np.array(raw), np.array(ok)) for name, (raw, ok) in found.items()}


def fit_model(model, data_dir: str, split: str = "validation", *, beam_width: int = 8,
              batch_size: int = 256) -> Calibration:
    """Fits both decoders' maps on `split` of `data_dir` (the validation split at export)."""
    decoded = decoded_validation(model, data_dir, split, beam_width=beam_width,
                                 batch_size=batch_size)
    maps: dict[str, Platt] = {}
    fitted = {"data": data_dir, "split": split, "sequences": int(decoded["greedy"][0].size)}
    for name, (raw, ok) in decoded.items():
        maps[name] = fit_platt(raw, ok)
        fitted[name] = {"ser": float(1 - ok.mean()), "ece_raw": ece(raw, ok),
                        "ece_calibrated": ece(maps[name].apply(raw), ok)}
    return Calibration(greedy=maps["greedy"], beam=maps["beam"], beam_width=beam_width,
                       fitted=fitted)


@dataclasses.dataclass(frozen=True)
class CalibrateConfig:
    """Calibrating an exported model on a labeled split.

    Attributes:
      model_dir: exported model directory (digitseq train); its serving signature is rewritten
        with the calibrated confidence and calibration.json written beside it.
      data_dir: a rendered or ingested dataset directory with the split.
      split: the split fitted on (validation: never fit on test).
      beam_width: beams of the beam decoder whose confidences are fitted.
      batch_size: sequences per batch while decoding the split.
    """

    model_dir: str = option(flag="--model")
    data_dir: str = option(flag="--data")
    split: str = "validation"
    beam_width: int = 8
    batch_size: int = 256

    def __post_init__(self):
        check_finite(self)
        for name in ("beam_width", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")


def calibrate_model(config: CalibrateConfig) -> Calibration:
    """Fits the calibration of an exported model and re-exports its serving signatures with it.

    Raises:
      ConfigError: the model directory has no model file, or the split has no records.
    """
    import keras
    import tensorflow as tf

    from digitseq.recognizer.model import layers  # noqa: F401  (registers the layers the model file names)
    from digitseq.recognizer.serving import export
    from digitseq.schemas import dataset
    from digitseq.core import storage

    path = os.path.join(config.model_dir, exported.MODEL)
    if not tf.io.gfile.exists(path):
        raise ConfigError("model_dir", config.model_dir, f"no {exported.MODEL}, expected an "
                          f"exported model directory (digitseq train writes one)")
    if not dataset.load_metadata(config.data_dir)["counts"].get(config.split):
        raise ConfigError("split", config.split, f"has no records in {config.data_dir}; expected "
                          f"a labeled split of that dataset")
    model = keras.models.load_model(path, safe_mode=True)
    calibration = fit_model(model, config.data_dir, config.split, beam_width=config.beam_width,
                            batch_size=config.batch_size)
    height = int(storage.read_json(os.path.join(config.model_dir, exported.CONFIG))["height"])
    export.write_serving(model, config.model_dir, height=height, calibration=calibration)
    return calibration
