"""The whole job in one call: render a variable and a fixed dataset, train one model, score each
test split and report.

For each mode: render it from the MNIST source (Beam). Then train one model on the first mode's
dataset (by default the variable one) with the default strategy (`digitseq demo` passes the deep
recipe, `recognizer.train.recipes.DEEP`): a recognizer of strings of 2..5 digits reads strings of 5
digits too, so the fixed dataset's test split measures the same model on another layout. Then score
each test split with the Beam prediction job and draw its report PNG.
Everything goes under `out`, which the demo owns: its earlier outputs there are replaced, so
running it twice is safe.

    <out>/data-<mode>/          rendered dataset (+ inspect-train.png)
    <out>/model/                the training run and exported model
    <out>/predictions-<mode>/   predictions, dead letters, metrics.json, report.png
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from digitseq.core.errors import ConfigError
from digitseq.core.options import check_finite
from digitseq.pipelines.predict.config import PredictConfig
from digitseq.pipelines.render.config import RenderConfig
from digitseq.pipelines.render.params import MODES, RenderParams
from digitseq.recognizer.config import TrainConfig
from digitseq.schemas import dataset, prediction

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

logger = logging.getLogger(__name__)

MODEL = "model"


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The demo's own options; the rest are the render and training defaults.

    Attributes:
      out: where everything is written (replaced on every run).
      modes: datasets to render and score, comma-separated: variable, fixed; the model trains on
        the first one.
      epochs: training epochs.
    """

    out: str = "runs/demo"
    modes: str = "variable,fixed"
    epochs: int = 10

    def __post_init__(self):
        check_finite(self)
        modes = self.mode_list
        if not modes or set(modes) - set(MODES) or len(set(modes)) < len(modes):
            raise ConfigError(
                "modes", self.modes, f"expected one or both of {', '.join(MODES)}, each once"
            )
        if self.epochs < 1:
            raise ConfigError("epochs", self.epochs, "expected at least 1")

    @property
    def mode_list(self) -> list[str]:
        return [m.strip() for m in self.modes.split(",") if m.strip()]


def mode_dir(demo: DemoConfig, part: str, mode: str) -> str:
    """`<out>/<part>-<mode>`: a mode's dataset (`data`) or scores (`predictions`)."""
    return os.path.join(demo.out, f"{part}-{mode}")


def render_mode(
    mode: str,
    demo: DemoConfig,
    render: RenderConfig,
    options: Callable[[], PipelineOptions],
    show: Callable[[str], None] = print,
) -> str:
    """Renders one mode's dataset under `demo.out`; returns its directory."""
    from digitseq.cli import pictures, text
    from digitseq.pipelines.render.job import render_dataset

    data_dir = mode_dir(demo, "data", mode)
    logger.info("demo %s: rendering %s", mode, data_dir)
    started = time.perf_counter()
    render = dataclasses.replace(
        render, out_dir=data_dir, params=RenderParams(mode=mode), overwrite=True
    )
    metadata = render_dataset(render, options())
    show(
        text.render_summary(
            data_dir, metadata, dataset.load_stats(data_dir), time.perf_counter() - started
        )
    )
    pictures.write_sheet(
        data_dir, "train", os.path.join(data_dir, dataset.SHEET.format(split="train"))
    )
    return data_dir


def score_mode(
    mode: str,
    demo: DemoConfig,
    model_dir: str,
    options: Callable[[], PipelineOptions],
    show: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Scores one mode's test split with the model in `model_dir` and draws its report."""
    from digitseq.cli import pictures, text
    from digitseq.pipelines.predict.job import run_prediction

    data_dir = mode_dir(demo, "data", mode)
    predictions_dir = mode_dir(demo, "predictions", mode)
    logger.info("demo %s: scoring the test split into %s", mode, predictions_dir)
    started = time.perf_counter()
    scored = run_prediction(
        PredictConfig(
            model_dir=model_dir,
            input_pattern=os.path.join(data_dir, "test", "*"),
            out_dir=predictions_dir,
            overwrite=True,
        ),
        options(),
    )
    seconds = time.perf_counter() - started
    show(text.predict_summary(predictions_dir, scored, seconds))
    report = pictures.write_report(
        predictions_dir, os.path.join(predictions_dir, prediction.REPORT)
    )
    return {
        "mode": mode,
        "metrics": scored,
        "score_per_second": scored["scored"] / seconds,
        "report": report,
    }


def run_demo(
    demo: DemoConfig,
    render: RenderConfig,
    training: TrainConfig,
    options: Callable[[], PipelineOptions],
    show: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Renders every mode of `demo`, trains one model on the first, scores each test split.

    Returns:
      `{"train": train()'s summary and the model directory, "rows": one summary row per
      mode}`, what `cli.text.demo_table` prints.
    """
    from digitseq.recognizer.train.trainer import train

    data_dirs = tuple(render_mode(mode, demo, render, options, show) for mode in demo.mode_list)
    model_dir = os.path.join(demo.out, MODEL)
    logger.info("demo: training %s on %s into %s", training.model.arch, data_dirs[0], model_dir)
    _remove(model_dir)
    trained = train(dataclasses.replace(training, data_dir=data_dirs[:1], model_dir=model_dir))
    return {
        "train": {**trained, "model_dir": model_dir},
        "rows": [score_mode(mode, demo, model_dir, options, show) for mode in demo.mode_list],
    }


def _remove(path: str) -> None:
    import tensorflow as tf

    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)
