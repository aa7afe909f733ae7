"""Training recipes as code: the `TrainConfig` values the README recommends, chosen on validation CER.

- `DEEP`: the convolutional recognizer (`convctc`) with two convolutions per block, for 6 epochs:
  the recommended recipe (close to `FLOOR`'s error in well under half its time); `digitseq demo`
  trains with it.
- `FLOOR`: the `crnn` recipe, the lowest validation CER, and the recipe for touching and
  overlapping strings.
- `FAST`: `DEEP` with one convolution per block: faster to train on CPU, less accurate.

`recipe.apply(config)` gives `config` the recipe's architecture, learning-rate schedule and
augmentation and keeps everything else (data, model directory, epochs, batch size, strategy);
`recipe.start(config)`, what `digitseq train --recipe NAME` runs (`RecipeChoice`), does the same
but refuses a config that already sets any of those, so no flag given with `--recipe` is
silently replaced.
`recipe.flags` spells the same values as `digitseq train` flags: the README shows them, and a test
checks that they parse to `apply(...)`. The measurements behind them are in bench/README.md
(`bench/quality.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from digitseq.core.errors import ConfigError
from digitseq.core.options import check_choice, option
from digitseq.recognizer.config import ModelConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A way to train.

    Attributes:
      name: what the README calls it.
      flags: the same values as `digitseq train` flags (add `--data`, `--model-dir`, `--epochs`).
      model: the architecture.
      learning_rate: the peak of the cosine schedule.
      warmup_epochs: linear warm-up before the cosine decay (none in a one-epoch run).
    """

    name: str
    flags: str
    model: ModelConfig
    learning_rate: float
    warmup_epochs: float = 1.0

    def apply(self, config: TrainConfig) -> TrainConfig:
        """`config` trained this way: its model, a cosine schedule after the warm-up (at most half
        the epochs, so a short run warms up too), random warps of the training strings
        (`--augment`)."""
        return dataclasses.replace(
            config,
            model=self.model,
            schedule="cosine",
            learning_rate=self.learning_rate,
            warmup_epochs=min(self.warmup_epochs, config.epochs / 2),
            reader=dataclasses.replace(config.reader, augment=True),
        )

    def start(self, config: TrainConfig, *, given: Iterable[str] = ()) -> TrainConfig:
        """`apply(config)` for a config that sets none of what the recipe sets, neither to another
        value than the default nor explicitly (`given`: the fields the user gave, whatever their
        values; a front end that knows them passes them).

        Raises:
          ConfigError: naming `recipe` and the fields `config` sets (a model field, `schedule`,
            `learning_rate`, `warmup_epochs` or `augment`): those that differ from their
            defaults, then those `given`.
        """
        default = TrainConfig(data_dir=config.data_dir, model_dir=config.model_dir)
        model_fields = [f.name for f in dataclasses.fields(ModelConfig)]
        changed = [
            name
            for name in model_fields
            if getattr(config.model, name) != getattr(default.model, name)
        ]
        changed += [
            name
            for name in ("schedule", "learning_rate", "warmup_epochs")
            if getattr(config, name) != getattr(default, name)
        ]
        if config.reader.augment != default.reader.augment:
            changed.append("augment")
        recipe_fields = {*model_fields, "schedule", "learning_rate", "warmup_epochs", "augment"}
        given = changed + sorted(set(given) & recipe_fields - set(changed))
        if given:
            raise ConfigError(
                "recipe",
                self.name,
                f"sets its own model, learning rate (cosine, "
                f"with warm-up) and augmentation, but {', '.join(given)} "
                f"{'is' if len(given) == 1 else 'are'} given too; expected none of "
                f"them with it (to change one, give the recipe's flags instead)",
                others=given,
            )
        return self.apply(config)


FLOOR = Recipe(
    name="floor",
    flags="--batch-norm --conv-blocks 3 --schedule cosine --learning-rate 2e-3 "
    "--warmup-epochs 1 --augment",
    model=ModelConfig(arch="crnn", batch_norm=True, conv_blocks=3),
    learning_rate=2e-3,
)
FAST = Recipe(
    name="fast",
    flags="--arch convctc --conv-blocks 3 --conv-filters 16 --layers 3 --schedule cosine "
    "--learning-rate 3e-3 --warmup-epochs 1 --augment",
    model=ModelConfig(arch="convctc", conv_blocks=3, conv_filters=16, layers=3),
    learning_rate=3e-3,
)
DEEP = Recipe(
    name="deep",
    flags="--arch convctc --conv-blocks 3 --conv-filters 16 --conv-layers 2 --layers 3 "
    "--schedule cosine --learning-rate 3e-3 --warmup-epochs 1 --augment",
    model=ModelConfig(arch="convctc", conv_blocks=3, conv_filters=16, conv_layers=2, layers=3),
    learning_rate=3e-3,
)
RECIPES = {recipe.name: recipe for recipe in (DEEP, FLOOR, FAST)}


@dataclasses.dataclass(frozen=True)
class RecipeChoice:
    """Which recipe `digitseq train` starts from.

    Attributes:
      recipe: train as a README recipe: deep (recommended for MNIST digit strings), floor (the
        crnn, for touching strings) or fast. It sets the architecture, the cosine schedule, its
        learning rate and warm-up, and augmentation; give none of those flags with it.
    """

    recipe: str | None = option(None, choices=tuple(RECIPES))

    def __post_init__(self):
        if self.recipe is not None:
            check_choice("recipe", self.recipe, RECIPES)
