"""The ingest job's options: `IngestConfig`, the source of `digitseq ingest`'s flags. Imports no
TensorFlow or Beam (see `recognizer.config`).
"""

from __future__ import annotations

import dataclasses

from digitseq.core.errors import ConfigError
from digitseq.core.options import check_choice, check_finite, option
from digitseq.pipelines import images


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """An ingest job: labeled image files into a dataset directory.

    Attributes:
      images: image files (PNG, JPEG, BMP, GIF), a glob pattern any tf.io.gfile path takes.
      labels: labels file: CSV with header file,label[,split] or JSON Lines with those keys;
        file relative to the labels file's folder.
      out_dir: dataset directory (local or gs://).
      validation_fraction: share of files without a split column that go to validation (drawn
        from a hash of the file name).
      test_fraction: share of files without a split column that go to test.
      invert: polarity: auto (from the border pixels), yes (dark ink on light: invert), no.
      crop: crop each image to its ink with a margin before resizing.
      max_rejected: the job fails (no COMPLETED) when a larger share of files is rejected.
      overwrite: replace a dataset already in the output directory.
      clear_claim: clear the claim a killed job left on the output directory (never one whose
        process still runs on this host).
    """

    images: str
    labels: str
    out_dir: str = option(flag="--out")
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    invert: str = option("auto", choices=images.INVERT_CHOICES)
    crop: bool = True
    max_rejected: float = 0.01
    overwrite: bool = False
    clear_claim: bool = False

    def __post_init__(self):
        check_finite(self)
        for name in ("validation_fraction", "test_fraction", "max_rejected"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(name, value, "expected a fraction from 0 to 1")
        if self.validation_fraction + self.test_fraction > 1.0:
            raise ConfigError(
                "test_fraction",
                self.test_fraction,
                f"expected at most 1 - validation_fraction ({1.0 - self.validation_fraction:g})",
                others=["validation_fraction"],
            )
        check_choice("invert", self.invert, images.INVERT_CHOICES)
