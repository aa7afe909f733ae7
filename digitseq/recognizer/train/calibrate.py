"""Calibrating a Keras recognizer or an exported model on a labeled split: decode the split with
both decoders, fit each decoder's map (`serving.calibration`) and, for an exported model, write
the serving signatures again with it."""

from __future__ import annotations

import numpy as np

from digitseq.core.errors import ConfigError
from digitseq.recognizer.config import CalibrateConfig
from digitseq.recognizer.serving import decoding
from digitseq.recognizer.serving.calibration import Calibration, Platt, ece, fit_platt
from digitseq.recognizer.train.evaluation import SplitDecoder


def decoded_split(
    model,
    data_dir: str,
    split: str = "validation",
    *,
    beam_width: int = 8,
    batch_size: int = 256,
    verified: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`{decoder: (raw confidence, correct)}` of a Keras recognizer on a split, greedy and beam;
    `verified`: the split was read and checked already in this process."""

    decoder = SplitDecoder(
        model,
        data_dir,
        split,
        methods=(decoding.GREEDY, decoding.BEAM),
        beam_width=beam_width,
        batch_size=batch_size,
        verified=verified,
    )
    found: dict[str, tuple[list, list]] = {method: ([], []) for method in decoder.methods}
    for _, truth, decoded in decoder:
        for method, (strings, confidence) in decoded.items():
            found[method][0].extend(confidence.tolist())
            found[method][1].extend(h == t for h, t in zip(strings, truth))
    return {name: (np.array(raw), np.array(ok)) for name, (raw, ok) in found.items()}


def fit_model(
    model,
    data_dir: str,
    split: str = "validation",
    *,
    beam_width: int = 8,
    batch_size: int = 256,
    verified: bool = False,
) -> Calibration:
    """Fits both decoders' maps on `split` of `data_dir` (the validation split at export)."""
    decoded = decoded_split(
        model, data_dir, split, beam_width=beam_width, batch_size=batch_size, verified=verified
    )
    maps: dict[str, Platt] = {}
    fitted = {"data": data_dir, "split": split, "sequences": int(decoded["greedy"][0].size)}
    for name, (raw, ok) in decoded.items():
        maps[name] = fit_platt(raw, ok)
        fitted[name] = {
            "ser": float(1 - ok.mean()),
            "ece_raw": ece(raw, ok),
            "ece_calibrated": ece(maps[name].apply(raw), ok),
        }
    return Calibration(
        greedy=maps["greedy"], beam=maps["beam"], beam_width=beam_width, fitted=fitted
    )


def calibrate_model(config: CalibrateConfig) -> Calibration:
    """Fits the calibration of an exported model and re-exports its serving signatures with it.

    Raises:
      ConfigError: the model directory fails `open_model`'s checks, the data holds images of
        another height, or the split has no records.
    """
    from digitseq.recognizer.serving import export, exported_model
    from digitseq.schemas import dataset

    opened = exported_model.open_model(config.model_dir, keras=True)
    metadata = dataset.load_metadata(config.data_dir)
    opened.check_height(int(metadata["height"]), data=config.data_dir)
    if not metadata["counts"].get(config.split):
        raise ConfigError(
            "split",
            config.split,
            f"has no records in {config.data_dir}; expected a labeled split of that dataset",
        )
    model = opened.load_keras()
    calibration = fit_model(
        model,
        config.data_dir,
        config.split,
        beam_width=config.beam_width,
        batch_size=config.batch_size,
    )
    export.write_serving(model, config.model_dir, height=opened.height, calibration=calibration)
    return calibration
