"""The whole job in one call: render, train, score and report a fixed and a variable dataset.

For each mode: render it from the MNIST source (Beam), train a model on it with the default
strategy (`digitseq demo` passes the fast recipe, `recognizer.recipes.FAST`), score its test
split with the Beam prediction job, draw the report PNG.
Everything goes under `out`, which the demo owns: its earlier outputs there are replaced, so
running it twice is safe.

    <out>/data-<mode>/          rendered dataset (+ inspect-train.png)
    <out>/model-<mode>/         training run and exported model
    <out>/predictions-<mode>/   predictions, dead letters, metrics.json, report.png
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Callable

from pipelines.predict.config import PredictConfig
from pipelines.render.config import RenderConfig
from pipelines.render.params import MODES, RenderParams
from recognizer.config import TrainConfig
from schemas import dataset, prediction
from schemas.errors import ConfigError
from schemas.options import check_finite, option

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The demo's own options; the rest are the render and training defaults.

    Attributes:
      out: where everything is written (replaced on every run).
      modes: datasets to run, comma-separated: fixed, variable.
      epochs: training epochs per dataset.
    """

    out: str = "runs/demo"
    modes: str = option(",".join(MODES))
    epochs: int = 10

    def __post_init__(self):
        check_finite(self)
        if not self.mode_list or set(self.mode_list) - set(MODES):
            raise ConfigError("modes", self.modes, f"expected one or both of {', '.join(MODES)}")
        if self.epochs < 1:
            raise ConfigError("epochs", self.epochs, "expected at least 1")

    @property
    def mode_list(self) -> list[str]:
        return [m.strip() for m in self.modes.split(",") if m.strip()]


def run_mode(mode: str, demo: DemoConfig, render: RenderConfig, training: TrainConfig,
             options: Callable[[], PipelineOptions],
             show: Callable[[str], None] = print) -> dict[str, Any]:
    """Render, train, score and report one dataset; returns its summary row."""
    from digitseq import pictures, text
    from pipelines.predict.job import run_prediction
    from pipelines.render.job import render_dataset
    from recognizer.train import train

    data_dir, model_dir, predictions_dir = (os.path.join(demo.out, f"{part}-{mode}")
                                            for part in ("data", "model", "predictions"))
    logger.info("demo %s: rendering %s", mode, data_dir)
    started = time.perf_counter()
    render = dataclasses.replace(render, out_dir=data_dir, params=RenderParams(mode=mode),
                                 overwrite=True)
    metadata = render_dataset(render, options())
    show(text.render_summary(data_dir, metadata, dataset.load_stats(data_dir),
                             time.perf_counter() - started))
    pictures.write_sheet(data_dir, "train",
                         os.path.join(data_dir, dataset.SHEET.format(split="train")))

    logger.info("demo %s: training %s into %s", mode, training.model.arch, model_dir)
    _remove(model_dir)
    result = train(dataclasses.replace(training, data_dir=data_dir, model_dir=model_dir))

    logger.info("demo %s: scoring the test split into %s", mode, predictions_dir)
    started = time.perf_counter()
    scored = run_prediction(PredictConfig(
        model_dir=model_dir, input_pattern=os.path.join(data_dir, "test", "*"),
        out_dir=predictions_dir, overwrite=True), options())
    seconds = time.perf_counter() - started
    show(text.predict_summary(predictions_dir, scored, seconds))
    report = pictures.write_report(predictions_dir,
                                   os.path.join(predictions_dir, prediction.REPORT))
    return {"mode": mode, "metrics": scored, "train_seconds": result["train_seconds"],
            "train_examples_per_second": result["train_examples_per_second"],
            "score_per_second": scored["scored"] / seconds, "report": report}


def run_demo(demo: DemoConfig, render: RenderConfig, training: TrainConfig,
             options: Callable[[], PipelineOptions],
             show: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Runs every mode of `demo`; returns their summary rows (see `digitseq.text.demo_table`)."""
    return [run_mode(mode, demo, render, training, options, show) for mode in demo.mode_list]


def _remove(path: str) -> None:
    import tensorflow as tf

    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)
