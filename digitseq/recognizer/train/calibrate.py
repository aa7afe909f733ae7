"""Calibrating a Keras recognizer or an exported model on a labeled split: decode the split with
both decoders, fit each decoder's map (`serving.calibration`) and report, per decoder, the SER,
the expected calibration error before and after and a risk-coverage table on that split; for an
exported model, write the serving signatures again with it, in place or into a new directory."""

from __future__ import annotations

import logging

import editdistance
import numpy as np

from digitseq.core.errors import ConfigError
from digitseq.recognizer.config import CalibrateConfig
from digitseq.recognizer.serving import decoding
from digitseq.recognizer.serving.calibration import (
    MIN_STRINGS,
    REPORT_COVERAGES,
    Calibration,
    ConfidenceCounts,
    Platt,
    ece,
    fit_platt,
)
from digitseq.recognizer.train.evaluation import SplitDecoder

log = logging.getLogger(__name__)


def decoded_split(
    model,
    data_dir: str,
    split: str = "validation",
    *,
    beam_width: int = 8,
    batch_size: int = 256,
    verified: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`{decoder: (raw confidence, character edits, reference characters)}` per string of a Keras
    recognizer on a split, greedy and beam; `verified`: the split was read and checked already in
    this process."""

    decoder = SplitDecoder(
        model,
        data_dir,
        split,
        methods=(decoding.GREEDY, decoding.BEAM),
        beam_width=beam_width,
        batch_size=batch_size,
        verified=verified,
    )
    found: dict[str, tuple[list, list, list]] = {m: ([], [], []) for m in decoder.methods}
    for _, truth, decoded in decoder:
        for method, (strings, confidence) in decoded.items():
            found[method][0].extend(confidence.tolist())
            found[method][1].extend(editdistance.eval(h, t) for h, t in zip(strings, truth))
            found[method][2].extend(len(t) for t in truth)
    return {name: tuple(np.array(column) for column in columns) for name, columns in found.items()}


def report(confidence, edits, characters) -> dict:
    """SER, ECE and the risk-coverage table (`REPORT_COVERAGES`) of strings with these
    confidences, character edits and reference characters."""
    counts = ConfidenceCounts()
    for c, e, n in zip(confidence, edits, characters):
        counts.add(float(c), errors=int(e > 0), edits=int(e), characters=int(n))
    return {
        "ser": float(np.mean(np.asarray(edits) > 0)),
        "ece": counts.ece(),
        "risk_coverage": counts.risk_coverage(REPORT_COVERAGES),
    }


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
    sequences = int(decoded["greedy"][0].size)
    if sequences < MIN_STRINGS:
        log.warning(
            "calibrating on %d strings of %s %s; a calibration needs at least %d",
            sequences,
            data_dir,
            split,
            MIN_STRINGS,
        )
    fitted = {"data": data_dir, "split": split, "sequences": sequences}
    for name, (raw, edits, characters) in decoded.items():
        maps[name] = fit_platt(raw, edits == 0)
        calibrated = report(maps[name].apply(raw), edits, characters)
        fitted[name] = {
            "ser": calibrated["ser"],
            "ece_raw": ece(raw, edits == 0),
            "ece_calibrated": calibrated["ece"],
            "risk_coverage": calibrated["risk_coverage"],
        }
    return Calibration(
        greedy=maps["greedy"], beam=maps["beam"], beam_width=beam_width, fitted=fitted
    )


def calibrate_model(config: CalibrateConfig) -> Calibration:
    """Fits the calibration of an exported model and writes its serving signatures with it: in
    place, or into the new directory `config.out` (a copy of the model's contract files; the
    source, a shipped model too, is left untouched).

    Raises:
      ConfigError: the model directory fails `open_model`'s checks or is a shipped model without
        `out`, `out` exists, the data holds images of another height, or the split has fewer
        than `MIN_STRINGS` labeled strings.
    """
    import tensorflow as tf

    from digitseq.core import storage
    from digitseq.recognizer.serving import builtin, export, exported_model
    from digitseq.schemas import dataset, exported

    source = builtin.resolve(config.model_dir, field="model_dir")
    if config.out is None and builtin.is_name(config.model_dir):
        raise ConfigError(
            "model_dir",
            config.model_dir,
            "is a shipped model; expected --out, a new directory for the calibrated copy",
        )
    if config.out is not None and tf.io.gfile.exists(config.out):
        raise ConfigError("out", config.out, "exists; expected a new directory")
    opened = exported_model.open_model(source, field="model_dir", keras=True)
    metadata = dataset.load_metadata(config.data_dir)
    opened.check_height(int(metadata["height"]), data=config.data_dir)
    found = int(metadata["counts"].get(config.split) or 0)
    if found < MIN_STRINGS:
        raise ConfigError(
            "split",
            config.split,
            f"has {found} labeled strings in {config.data_dir}; a calibration needs at least "
            f"{MIN_STRINGS}",
        )
    model = opened.load_keras()
    calibration = fit_model(
        model,
        config.data_dir,
        config.split,
        beam_width=config.beam_width,
        batch_size=config.batch_size,
    )
    if config.out is None:
        export.write_serving(model, source, height=opened.height, calibration=calibration)
        return calibration
    with storage.atomic_directory(config.out) as staging:
        exported_model.copy_contract(source, staging, skip=(exported.SERVING, exported.CALIBRATION))
        export.write_serving(model, staging, height=opened.height, calibration=calibration)
    return calibration
