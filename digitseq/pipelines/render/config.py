"""The render job's options: `RenderConfig`, with `params.RenderParams` the source of
`digitseq render`'s flags. Imports no TensorFlow or Beam (see `recognizer.config`).
"""

from __future__ import annotations

import dataclasses

from digitseq.core.errors import ConfigError
from digitseq.core.options import check_finite, option
from digitseq.pipelines.render import params as params_lib
from digitseq.schemas import dataset


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """A render job: what to render, from which MNIST, and where.

    Attributes:
      out_dir: dataset directory (local or gs://).
      params: how sequences look
      train: training sequences.
      validation: validation sequences.
      test: test sequences.
      seed: the global seed every shard's seed derives from.
      shards: shards per sequence length per split (default: automatic, enough that no file's
        estimated size exceeds 128 MiB and at least 4; see pipelines.dataset_writer).
      mnist: MNIST location: IDX directory, mnist.npz or 'sample' (default: $MNIST_DIR, else
        ~/.keras/datasets/mnist.npz, else the bundled sample).
      fonts: a font directory (one folder per family, TTF, OTF, WOFF or WOFF2 files;
        `pipelines.render.fonts`) whose families write `params.font_fraction` of the strings;
        families go to the train, validation and test splits by name.
      overwrite: replace a dataset already in the output directory.
      clear_claim: clear the claim a killed job left on the output directory (never one whose
        process still runs on this host).
    """

    out_dir: str = option(flag="--out")
    params: params_lib.RenderParams = option(default_factory=params_lib.RenderParams)
    train: int = 10000
    validation: int = 1000
    test: int = 2000
    seed: int = 0
    shards: int | None = None
    mnist: str | None = None
    fonts: str | None = None
    overwrite: bool = False
    clear_claim: bool = False

    def __post_init__(self):
        check_finite(self)
        for split, count in self.counts.items():
            if count < 0:
                raise ConfigError(split, count, "expected a count of 0 or more")
        if self.shards is not None and self.shards < 1:
            raise ConfigError("shards", self.shards, "expected at least 1")
        if self.fonts is not None and not self.params.font_fraction:
            raise ConfigError(
                "fonts",
                self.fonts,
                "no string would use them: expected "
                "font_fraction above 0 (or a preset that sets it)",
                others=["font_fraction"],
            )
        if self.fonts is None and self.params.font_fraction:
            raise ConfigError(
                "font_fraction",
                self.params.font_fraction,
                "expected fonts, the font directory to draw those strings from",
                others=["fonts"],
            )

    @property
    def counts(self) -> dict[str, int]:
        """Sequences per split."""
        return {split: getattr(self, split) for split in dataset.SPLITS}
