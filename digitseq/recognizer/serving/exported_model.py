"""An exported model directory, opened and checked in one place.

Every user of a model directory goes through `open_model`: fine-tuning (`--init-from`), the
teacher of distillation, calibration, prediction (the run's model and streaming updates) and
shipping a model into the package. It checks what the user needs and names the first problem in
one line (`ConfigError` naming the user's flag and the directory):

    files         config.json and stats.json always; model.keras for training and calibration
                  (`keras=True`); serving/saved_model.pb for prediction (`serving=True`)
    config.json   readable JSON with the input height and the architecture (`ModelConfig`)
    model.keras   a whole Keras archive: every member passes its CRC check (a truncated or
                  tampered file is refused before anything of the run is written)
    serving/      loads as a SavedModel serving both signatures on images and widths
    calibration   calibration.json, when present, parses (`serving.calibration`)

The loaded SavedModel is kept on the result (`ExportedModel.serving`), so a caller that checked
it does not load it again.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Mapping
from typing import Any

from digitseq.core import storage
from digitseq.core.errors import ConfigError, InvalidInputError
from digitseq.recognizer.config import ModelConfig
from digitseq.recognizer.serving import calibration as calibration_lib
from digitseq.schemas import exported

EXPECTED = "expected an exported model directory (digitseq train writes one)"


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """An exported model directory that passed `open_model`'s checks.

    Attributes:
      directory: the model directory.
      field: the option that named it (errors about it name this option).
      config: its config.json as written (architecture, training run, the data's metadata).
      model: the architecture (`ModelConfig`).
      height: the image height it takes.
      stats: its stats.json (the standardization statistics it was trained with).
      calibration: its calibration.json, or None (raw confidences).
      serving: the loaded SavedModel when opened with `serving=True`, else None.
    """

    directory: str
    field: str
    config: Mapping[str, Any]
    model: ModelConfig
    height: int
    stats: Mapping[str, Any]
    calibration: calibration_lib.Calibration | None
    serving: Any = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def keras_path(self) -> str:
        return os.path.join(self.directory, exported.MODEL)

    def check_height(self, height: int, *, data: str) -> None:
        """Raises `ConfigError` naming the model's option unless `data` (a dataset directory or
        another model) holds images of the model's height."""
        if height != self.height:
            raise ConfigError(
                self.field,
                self.directory,
                f"takes images of height {self.height}, but {data} holds height {height}; "
                "expected the same height",
            )

    def load_keras(self, *, compile: bool = True):
        """The Keras model (`model.keras`, loaded with safe_mode)."""
        import keras

        from digitseq.recognizer.model import layers  # noqa: F401  (registers the custom layers)

        return keras.models.load_model(self.keras_path, safe_mode=True, compile=compile)


def open_model(
    directory: str, *, field: str = "model_dir", keras: bool = False, serving: bool = False
) -> ExportedModel:
    """The exported model directory `directory`, checked (module docstring).

    Args:
      directory: the model directory (a local path or a URL tensorflow-io reads).
      field: the option that named it, for errors.
      keras: check `model.keras` (training from it, calibrating it).
      serving: load and check the SavedModel (scoring with it).

    Raises:
      ConfigError: naming `field` and the directory: a file is missing, config.json does not
        describe a digitseq model, model.keras is damaged, the SavedModel cannot be loaded or
        lacks a signature, or calibration.json cannot be read.
    """
    import tensorflow as tf

    needed = [exported.MODEL] if keras else []
    needed += [os.path.join(exported.SERVING, exported.SAVED_MODEL)] if serving else []
    needed += [exported.CONFIG, exported.STATS]
    for name in needed:
        if not tf.io.gfile.exists(os.path.join(directory, name)):
            raise ConfigError(field, directory, f"no {name}, {EXPECTED}")
    config, stats = (
        _read_json(directory, name, field) for name in (exported.CONFIG, exported.STATS)
    )
    try:
        model = ModelConfig(**config["run"]["model"])
        height = int(config["height"])
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(
            field,
            directory,
            f"its {exported.CONFIG} does not describe a digitseq model "
            f"({type(err).__name__}: {err})",
        ) from None
    try:
        calibration = calibration_lib.read(directory)
    except (InvalidInputError, ValueError) as err:
        raise ConfigError(field, directory, f"its {exported.CALIBRATION}: {err}") from None
    if keras:
        _check_archive(directory, field)
    return ExportedModel(
        directory=directory,
        field=field,
        config=config,
        model=model,
        height=height,
        stats=stats,
        calibration=calibration,
        serving=_load_serving(directory, field) if serving else None,
    )


def _read_json(directory: str, name: str, field: str) -> Mapping[str, Any]:
    try:
        found = storage.read_json(os.path.join(directory, name))
    except (InvalidInputError, ValueError) as err:
        raise ConfigError(field, directory, f"its {name} cannot be read ({err})") from None
    if not isinstance(found, Mapping):
        raise ConfigError(field, directory, f"its {name} is not a JSON object; {EXPECTED}")
    return found


def _check_archive(directory: str, field: str) -> None:
    """Checks the Keras archive (a zip file) end to end, every member against its CRC, before
    anything is written; the weights themselves are read once, later."""
    import tensorflow as tf

    path = os.path.join(directory, exported.MODEL)
    try:
        with tf.io.gfile.GFile(path, "rb") as f, zipfile.ZipFile(f) as archive:
            damaged = archive.testzip()
        reason = f"its member {damaged} fails its CRC check" if damaged else None
    except (zipfile.BadZipFile, OSError, EOFError, tf.errors.OpError) as err:
        reason = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:200]}"
    if reason:
        raise ConfigError(
            field,
            directory,
            f"its {exported.MODEL} cannot be loaded ({reason}); "
            "expected the Keras model digitseq train exported, unchanged",
        )


def _load_serving(directory: str, field: str):
    """The SavedModel, after checking that it serves both signatures on images and widths."""
    import tensorflow as tf

    try:
        model = tf.saved_model.load(os.path.join(directory, exported.SERVING))
    except Exception as err:  # any failure to load is the directory's fault, named as such
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ConfigError(
            field,
            directory,
            f"its SavedModel cannot be loaded ({type(err).__name__}: {reason[:300]}); "
            f"expected the {exported.SERVING}/ directory digitseq train exports",
        ) from None
    for signature in (exported.SERVING_DEFAULT, exported.LOGITS_SIGNATURE):
        function = model.signatures.get(signature)
        inputs = set(function.structured_input_signature[1]) if function is not None else set()
        if inputs != {exported.IMAGES, exported.WIDTHS}:
            raise ConfigError(
                field,
                directory,
                f"its SavedModel has no signature '{signature}' taking {exported.IMAGES} and "
                f"{exported.WIDTHS}; expected a model exported by digitseq train",
            )
    return model


CONTRACT = (exported.MODEL, exported.CONFIG, exported.STATS, exported.CALIBRATION, exported.SERVING)
"""The files of the exported model contract (not a run's `best.keras`, `backup/`, logs)."""


def copy_contract(source: str, target: str, *, skip: tuple[str, ...] = ()) -> None:
    """Copies the contract files of the model directory `source` that exist into `target`, less
    those in `skip` (parts the caller writes itself)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(target)
    for part in CONTRACT:
        if part not in skip:
            _copy(os.path.join(source, part), os.path.join(target, part))


def _copy(source: str, target: str) -> None:
    import tensorflow as tf

    if tf.io.gfile.isdir(source):
        tf.io.gfile.makedirs(target)
        for name in tf.io.gfile.listdir(source):
            _copy(os.path.join(source, name.rstrip("/")), os.path.join(target, name.rstrip("/")))
    elif tf.io.gfile.exists(source):
        tf.io.gfile.copy(source, target, overwrite=True)
