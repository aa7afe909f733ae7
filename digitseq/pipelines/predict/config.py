"""The prediction job's options: `PredictConfig`, the single source of `digitseq predict`'s flags.

Imports no TensorFlow or Beam (see `recognizer.config`), so the command line checks these options
before loading either.
"""

from __future__ import annotations

import dataclasses
import re

from digitseq.core.errors import ConfigError
from digitseq.core.options import check_choice, check_finite, option
from digitseq.pipelines import images
from digitseq.recognizer.config import DECODERS, FLOAT32, GREEDY, PRECISIONS
from digitseq.recognizer.serving import patterns
from digitseq.schemas import prediction

SUBSCRIPTION = re.compile(r"projects/[^/\s]+/subscriptions/[^/\s]+")
WIDTH, FIXED = "width", "fixed"
BATCHINGS = (WIDTH, FIXED)
"""Inference batching (`model_handler`): by image width (Beam's `SortAndBatchElements`) or fixed."""


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """A batch prediction run.

    Attributes:
      model_dir: exported model directory (digitseq train), or the name of a model that ships
        with digitseq (recognizer/builtin/models.json).
      input_pattern: TFRecord file pattern, GZIP or not, e.g. 'data/test/*.tfrecord.gz'; or
        image files, e.g. 'scans/*.png' (normalised as digitseq ingest does). A batch run; the
        streaming sources are watch and subscription.
      out_dir: output directory (local or gs://).
      watch: streaming: score files matching this pattern as they land (TFRecords, or image
        files by their extension), polled every poll_interval seconds (fileio.MatchContinuously:
        Dataflow streaming, Flink; not the local runners).
      subscription: streaming: score the files that Pub/Sub messages of this subscription name
        (projects/P/subscriptions/S; Cloud Storage notifications, or a message whose data is a
        path).
      window: streaming: fixed window, in seconds of file arrival time; outputs and metrics are
        written per window.
      allowed_lateness: streaming: seconds after a window's end during which a late file is still
        scored, into a late pane of its window (pane1, pane2, ...); later ones are dropped by the
        runner.
      poll_interval: streaming: seconds between two matches of watch and model_watch.
      remember_files: streaming: seconds for which a file (same path, size and modification
        time) is remembered, so that a second arrival is not scored again.
      model_watch: streaming: model directories appearing under this pattern (e.g.
        'gs://b/models/*') replace the model for files that land after them; each row names
        its model.
      decoder: CTC decoding: greedy (the serving signature) or beam search.
      beam_width: beams kept by the beam decoder.
      batch_size: largest inference batch.
      formats: comma-separated output formats: jsonl, parquet.
      overwrite: replace the outputs of an earlier run in the output directory.
      labels: for image inputs: labels file (digitseq ingest's formats) for error metrics.
      invert: for image inputs: polarity: auto (from the border pixels), yes, no.
      crop: for image inputs: crop each image to its ink with a margin before resizing.
      clear_claim: clear the claim a killed run left on the output directory (never one whose
        process still runs on this host).
      review_below: send scored rows whose confidence is below this (0..1) to review-*.jsonl
        instead of predictions (0: none for their confidence).
      length: decode only strings of exactly this many digits (beam decoder).
      lengths: decode only strings of MIN..MAX digits, e.g. 1..6 (beam decoder).
      pattern: decode only digit strings the whole of which match this regular expression, e.g.
        '0[0-9]{9}' (beam decoder; digits, [classes], ., \\d, groups, |, ?, *, +, {m,n}).
      batching: inference batches: width (Beam's SortAndBatchElements by image width, little
        padding) or fixed (batch_size images in arrival order).
      batch_columns: for width batching: the largest sum of image widths in a batch.
      precision: the arithmetic of the model: float32, or bfloat16 (oneDNN mixed precision, on
        CPUs with AVX512-BF16 or AMX; elsewhere float32 with a warning). bfloat16 changes the
        confidences slightly and, rarely, a decoded string.
    """

    model_dir: str = option(flag="--model")
    out_dir: str = option(flag="--out")
    input_pattern: str | None = option(None, flag="--input", metavar="PATTERN")
    watch: str | None = option(None, metavar="PATTERN")
    subscription: str | None = option(None, metavar="projects/P/subscriptions/S")
    window: float = 60.0
    allowed_lateness: float = 600.0
    poll_interval: float = 10.0
    remember_files: float = 86400.0
    model_watch: str | None = option(None, metavar="PATTERN")
    decoder: str = option(GREEDY, choices=DECODERS)
    beam_width: int = 8
    batch_size: int = 128
    formats: str = option("jsonl", flag="--format")
    overwrite: bool = False
    labels: str | None = None
    invert: str = option("auto", choices=images.INVERT_CHOICES)
    crop: bool = True
    clear_claim: bool = False
    review_below: float = 0.0
    length: int | None = None
    lengths: str | None = option(None, metavar="MIN..MAX")
    pattern: str | None = option(None, metavar="REGEX")
    batching: str = option(WIDTH, choices=BATCHINGS)
    batch_columns: int = 16384
    precision: str = option(FLOAT32, choices=PRECISIONS)

    def __post_init__(self):
        check_finite(self)
        check_choice("decoder", self.decoder, DECODERS)
        check_choice("invert", self.invert, images.INVERT_CHOICES)
        check_choice("batching", self.batching, BATCHINGS)
        check_choice("precision", self.precision, PRECISIONS)
        for name in ("beam_width", "batch_size", "batch_columns"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "expected at least 1")
        if not self.format_list or set(self.format_list) - set(prediction.FORMATS):
            raise ConfigError(
                "formats", self.formats, f"expected one or more of {', '.join(prediction.FORMATS)}"
            )
        self._check_sources()
        if not 0.0 <= self.review_below <= 1.0:
            raise ConfigError("review_below", self.review_below, "expected a confidence in 0..1")
        if self.length is not None and self.length < 1:
            raise ConfigError("length", self.length, "expected at least 1 digit")
        if self.length is not None and self.lengths is not None:
            raise ConfigError(
                "lengths",
                self.lengths,
                "expected either length or lengths, not both",
                others=["length"],
            )
        if self.lengths is not None:
            self._length_range()
        given = [
            name for name in ("length", "lengths", "pattern") if getattr(self, name) is not None
        ]
        if given:
            patterns.require_beam(given[0], getattr(self, given[0]), decoder=self.decoder)
        if self.pattern is not None:
            patterns.checked_pattern("pattern", self.pattern, decoder=self.decoder)
        if given:
            try:
                self.automaton()
            except patterns.PatternError as err:
                raise ConfigError(
                    given[-1],
                    getattr(self, given[-1]),
                    f"expected a format some digit string has: {err}",
                ) from None

    def _check_sources(self) -> None:
        given = [
            name
            for name in ("input_pattern", "watch", "subscription")
            if getattr(self, name) is not None
        ]
        if not given:
            raise ConfigError(
                "input_pattern",
                None,
                "expected the files to score (or a streaming source: watch or subscription)",
                others=["watch", "subscription"],
            )
        if len(given) > 1:
            raise ConfigError(
                given[1],
                getattr(self, given[1]),
                "expected one source of files: one of input_pattern, watch, subscription",
                others=["input_pattern", "watch", "subscription"],
            )
        if self.subscription is not None and not SUBSCRIPTION.fullmatch(self.subscription):
            raise ConfigError(
                "subscription",
                self.subscription,
                "expected a Pub/Sub subscription path, projects/PROJECT/subscriptions/NAME",
            )
        if self.model_watch is not None and not self.streaming:
            raise ConfigError(
                "model_watch",
                self.model_watch,
                "expected a streaming run: model updates need watch or subscription",
                others=["watch", "subscription"],
            )
        for name in ("window", "poll_interval", "remember_files"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    name, getattr(self, name), "expected a positive number of seconds"
                )
        if self.allowed_lateness < 0:
            raise ConfigError(
                "allowed_lateness", self.allowed_lateness, "expected 0 or more seconds"
            )
        if self.streaming and self.format_list != ["jsonl"]:
            raise ConfigError(
                "formats",
                self.formats,
                "expected jsonl: a streaming run writes JSON Lines per window",
            )

    @property
    def streaming(self) -> bool:
        """Files arrive while the job runs (watch or subscription)."""
        return self.watch is not None or self.subscription is not None

    def _length_range(self) -> tuple[int, int]:
        match = re.fullmatch(r"\s*(\d+)\s*\.\.\s*(\d+)\s*", self.lengths)
        if not match:
            raise ConfigError("lengths", self.lengths, "expected MIN..MAX digits, e.g. 1..6")
        low, high = int(match.group(1)), int(match.group(2))
        if low < 1:
            raise ConfigError("lengths", self.lengths, "expected MIN at least 1")
        if low > high:
            raise ConfigError("lengths", self.lengths, f"expected MIN at most MAX ({low} > {high})")
        return low, high

    def constraint(self) -> str | None:
        """The format as one pattern description (None: unconstrained)."""
        parts = []
        if self.length is not None:
            parts.append(patterns.length_pattern(self.length))
        if self.lengths is not None:
            parts.append(patterns.length_pattern(*self._length_range()))
        if self.pattern is not None:
            parts.append(self.pattern)
        return " and ".join(parts) if parts else None

    def automaton(self) -> patterns.Automaton | None:
        """The automaton of the allowed strings (None: unconstrained)."""
        found = None
        for text in (
            ([patterns.length_pattern(self.length)] if self.length is not None else [])
            + ([patterns.length_pattern(*self._length_range())] if self.lengths else [])
            + ([self.pattern] if self.pattern is not None else [])
        ):
            automaton = patterns.compile_pattern(text)
            found = automaton if found is None else patterns.intersect(found, automaton)
        return found

    @property
    def format_list(self) -> list[str]:
        return [f.strip() for f in self.formats.split(",") if f.strip()]
