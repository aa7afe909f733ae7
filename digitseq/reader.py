"""Reading the digits on a few images in-process, without Beam: `Reader`.

    import digitseq

    reader = digitseq.Reader(model="general")
    for reading in reader.read(["form-1.png", "form-2.jpg"]):
        print(reading.source, reading.digits, reading.confidence)

An item is an image file's path (local or any scheme tensorflow-io reads), the bytes of an image
file, or an image array (`[height, width]` grey, or `[height, width, channels]` with 1 to 4
channels). Every item is normalised exactly as `digitseq predict` and `digitseq ingest` normalise
image files (`pipelines.images`), the normalised images are batched by width (at most
`batch_size` per call, sorted so that little is padded) and scored by the model's serving
signatures (`recognizer.serving.scoring`, the code the Beam jobs run). The model is loaded once,
when the `Reader` is made.

`ReadConfig` holds the options (the `digitseq read` flags are built from it); it imports no
TensorFlow, so the command line checks them before loading the model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from digitseq.core.errors import ConfigError, InvalidInputError
from digitseq.core.options import check_choice, check_finite, option
from digitseq.pipelines import images
from digitseq.recognizer.config import DECODERS, FLOAT32, GREEDY, PRECISIONS
from digitseq.recognizer.serving import patterns

Item = str | os.PathLike | bytes | np.ndarray
"""What `Reader.read` reads: a path, the bytes of an image file, or an image array."""
ERRORS = ("raise", "keep")


@dataclasses.dataclass(frozen=True)
class ReadConfig:
    """Reading images with an exported model.

    Attributes:
      model: exported model directory (digitseq train), or the name of a model that ships with
        digitseq ('general').
      decoder: CTC decoding: greedy (the serving signature) or beam search.
      beam_width: beams kept by the beam decoder.
      pattern: read only digit strings the whole of which match this regular expression, e.g.
        '0[0-9]{9}' (beam decoder); a reading that matches none has matched false.
      batch_size: most images per call of the model.
      invert: polarity: auto (from the border pixels), yes, no.
      crop: crop each image to its ink with a margin before resizing.
      precision: the arithmetic of the model: float32, or bfloat16 (on CPUs that have it).
    """

    model: str = "general"
    decoder: str = option(GREEDY, choices=DECODERS)
    beam_width: int = 8
    pattern: str | None = option(None, metavar="REGEX")
    batch_size: int = 64
    invert: str = option("auto", choices=images.INVERT_CHOICES)
    crop: bool = True
    precision: str = option(FLOAT32, choices=PRECISIONS)

    def __post_init__(self):
        check_finite(self)
        check_choice("decoder", self.decoder, DECODERS)
        check_choice("invert", self.invert, images.INVERT_CHOICES)
        check_choice("precision", self.precision, PRECISIONS)
        for name in ("beam_width", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")
        if self.pattern is not None:
            patterns.checked_pattern("pattern", self.pattern, decoder=self.decoder)


@dataclasses.dataclass(frozen=True)
class Reading:
    """What was read on one item.

    Attributes:
      source: the item's path, or `item N` (its index) for bytes and arrays.
      digits: the digit string read ('' when there is an error).
      confidence: calibrated probability that `digits` is right (0 when there is an error).
      matched: with a pattern, whether a string of the format was found (else True).
      error: with `errors="keep"`, why the item could not be read (else None).
    """

    source: str
    digits: str = ""
    confidence: float = 0.0
    matched: bool = True
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        found = {"source": self.source, "digits": self.digits, "confidence": self.confidence}
        if not self.matched:
            found["matched"] = False
        if self.error is not None:
            found["error"] = self.error
        return found


class Reader:
    """Reads digit strings on images with an exported model, in this process.

    Args:
      model: exported model directory or shipped model name (`ReadConfig.model`).
      config: every other option (`ReadConfig`); keyword arguments override its fields, e.g.
        `Reader("general", decoder="beam", pattern="[0-9]{4}")`.

    Raises:
      ConfigError: an option out of range, or a model directory that fails the checks of
        `recognizer.serving.exported_model.open_model`, or of another image height than 28.
    """

    def __init__(self, model: str | None = None, *, config: ReadConfig | None = None, **options):
        config = config or ReadConfig()
        if model is not None:
            options["model"] = model
        self.config = dataclasses.replace(config, **options) if options else config
        from digitseq.recognizer.serving import builtin, exported_model
        from digitseq.recognizer.serving import precision as precision_lib

        directory = builtin.resolve(self.config.model, field="model")
        self._model = exported_model.open_model(directory, field="model", serving=True)
        self._model.check_height(images.HEIGHT, data="an image normalised as image files are")
        self._automaton = (
            patterns.compile_pattern(self.config.pattern) if self.config.pattern else None
        )
        precision_lib.use(self.config.precision)

    @property
    def model_dir(self) -> str:
        """The model directory read with (a shipped model's resolved)."""
        return self._model.directory

    def read(
        self, items: Iterable[Item], *, errors: Literal["raise", "keep"] = "raise"
    ) -> list[Reading]:
        """The readings of `items`, in order.

        Args:
          items: paths, image file bytes or image arrays (module docstring).
          errors: `raise`: the first item that cannot be read raises; `keep`: its reading
            carries the error and the other items are read.

        Raises:
          InvalidInputError: naming the item (its path or index): a missing or unreadable file,
            bytes that are not an image, an empty array, an array of another rank, an image
            without ink. TypeError: `items` is one item rather than a sequence of them.
        """
        if isinstance(items, str | bytes | os.PathLike) or (
            isinstance(items, np.ndarray) and items.ndim < 3
        ):
            raise TypeError(
                f"items: {type(items).__name__}, expected a sequence of items (a list of paths, "
                "bytes or image arrays)"
            )
        check_choice("errors", errors, ERRORS)
        items = list(items)
        readings: list[Reading | None] = [None] * len(items)
        normalised: dict[int, np.ndarray] = {}
        for i, item in enumerate(items):
            source = _source(item, i)
            try:
                normalised[i] = self._normalise(item, source)
            except InvalidInputError as err:
                if errors == "raise":
                    raise
                readings[i] = Reading(source=source, error=str(err))
        for batch in self._batches(normalised):
            found = self._score([normalised[i] for i in batch])
            for i, decoded in zip(batch, found):
                readings[i] = Reading(
                    source=_source(items[i], i),
                    digits=decoded.digits,
                    confidence=decoded.confidence,
                    matched=decoded.matched,
                )
        return readings

    def _normalise(self, item: Item, source: str) -> np.ndarray:
        options = {"invert": self.config.invert, "crop": self.config.crop, "where": source}
        if isinstance(item, np.ndarray):
            return images.normalize(images.grey(item, where=source), **options)
        if isinstance(item, bytes):
            return images.normalize_file(item, **options)
        return images.normalize_file(_read_file(os.fspath(item)), **options)

    def _batches(self, normalised: dict[int, np.ndarray]) -> list[list[int]]:
        """Item indices in batches of at most `batch_size`, by width."""
        order = sorted(normalised, key=lambda i: normalised[i].shape[1])
        size = self.config.batch_size
        return [order[start : start + size] for start in range(0, len(order), size)]

    def _score(self, batch: list[np.ndarray]):
        from digitseq.recognizer.serving.scoring import score_batch

        return score_batch(
            self._model.serving,
            self._model.calibration,
            batch,
            decoder=self.config.decoder,
            beam_width=self.config.beam_width,
            automaton=self._automaton,
        )


def _source(item: Item, index: int) -> str:
    if isinstance(item, str | os.PathLike):
        return os.fspath(item)
    return f"item {index}"


def _read_file(path: str) -> bytes:
    """The file's bytes; a missing or unreadable file is an `InvalidInputError` naming it."""
    import tensorflow as tf

    from digitseq.core import storage

    try:
        return storage.read_bytes(path)
    except tf.errors.NotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except (tf.errors.OpError, OSError, ValueError) as err:
        reason = getattr(err, "message", None) or str(err)
        raise InvalidInputError(f"{path}: cannot be read ({reason.strip()[:200]})") from None
