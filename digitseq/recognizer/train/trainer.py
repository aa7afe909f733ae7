"""Distributed CTC training: one custom loop for every `tf.distribute` strategy.

Why a custom loop: `model.fit` fails under `MultiWorkerMirroredStrategy` with Keras 3 on
TensorFlow 2.16+ (keras#20585, tensorflow#72388), so every strategy runs the same loop:
`strategy.run` over batches from `distribute_datasets_from_function`, per-example CTC losses scaled
with `tf.nn.compute_average_loss` (so the update does not depend on the replica count), and the
Keras optimizer built inside the strategy scope before the first step.

Per epoch: one pass over the training data, every record once whatever its width bucket
(`recognizer.data.reader.pass_batches`; with several datasets one pass of the first and the others
by weight, `epoch_batches`), counted on the input pipeline that gets the most batches so every
worker takes the same number of steps; then validation CER/SER with greedy decoding on every
worker (identical weights give identical decisions, which early stopping needs), then a
checkpoint of model, optimizer and loop state under `<model_dir>/backup/worker-<i>` (each worker
its own; a run restarted with the same command resumes from the last finished epoch). The chief
alone writes TensorBoard logs (`<model_dir>/logs`), keeps the best model by validation CER
(`best.keras`) and exports the model directory at the end.

Several datasets (`--data A --data B`) train together, batches mixed by weight
(`recognizer.data.reader.make_training_mix`): an epoch is one pass of the first and a share of the
others; the first dataset's validation split chooses the best epoch, and its statistics
standardize the inputs. A run may start from an exported model (`init_from`,
`recognizer.train.finetune`): its architecture, weights and statistics; and it may learn from a
teacher, another exported model (`teacher`, `recognizer.train.distill`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from digitseq.core import storage
from digitseq.core.errors import ConfigError
from digitseq.recognizer.config import TrainConfig
from digitseq.recognizer.data import reader as data
from digitseq.recognizer.data.layout import split_info
from digitseq.recognizer.model import architectures as models
from digitseq.recognizer.model import ctc
from digitseq.recognizer.serving import builtin, export, exported_model
from digitseq.recognizer.train import calibrate, checks, distill, distribution, finetune, reporting
from digitseq.recognizer.train.evaluation import Evaluator
from digitseq.schemas import batch, dataset, exported

logger = logging.getLogger(__name__)

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}  # keys: config.OPTIMIZER_NAMES


def learning_rate_schedule(config: TrainConfig, *, steps_per_epoch: int):
    """The learning rate: constant, or a linear warm-up then cosine decay to zero at the end."""
    if config.schedule == "constant":
        return config.learning_rate
    warmup = round(config.warmup_epochs * steps_per_epoch)
    total = config.epochs * steps_per_epoch
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, total)
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate / 10,
        total - warmup,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
    *,
    jit_compile: bool = False,
    teacher: keras.Model | None = None,
    distill_weight: float = 0.5,
):
    """One synchronous step over the next distributed batch; returns the global mean loss and the
    number of examples it trained on.

    With `jit_compile` the model's forward pass, and so its gradient, is an XLA function; the CTC
    loss (no XLA kernel) and the update stay outside. XLA compiles once per batch shape. With a
    `teacher`, `distill_weight` of each string's loss is `recognizer.train.distill`'s.
    """
    forward = tf.function(model, jit_compile=True) if jit_compile else model

    def step(features, labels):
        with tf.GradientTape() as tape:
            out = forward(features, training=True)
            per_example = ctc.loss_per_example(
                labels[batch.LABEL],
                labels[batch.LABEL_LENGTH],
                out[batch.LOGITS],
                out[batch.LENGTHS],
            )
            if teacher is not None:
                taught = teacher(features, training=False)[batch.LOGITS]
                per_example = (
                    1 - distill_weight
                ) * per_example + distill_weight * distill.loss_per_example(
                    taught, out[batch.LOGITS], out[batch.LENGTHS]
                )
            loss = tf.nn.compute_average_loss(per_example)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss, tf.shape(per_example)[0]

    @tf.function
    def train_step(iterator):
        features, labels = next(iterator)
        loss, examples = strategy.run(step, args=(features, labels))
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.SUM, examples, axis=None),
        )

    return train_step


@dataclasses.dataclass
class _Run:
    """The trainable objects of a run and the loop state that is checkpointed with them."""

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    epoch: tf.Variable
    best_criterion: tf.Variable  # the best so far: validation CER, or training loss
    stale_epochs: tf.Variable
    backup: tf.train.CheckpointManager
    teacher: keras.Model | None = None  # frozen, not checkpointed


def _build_run(
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    *,
    stats,
    height: int,
    steps: int,
    worker: int,
    initial: exported_model.ExportedModel | None = None,
    teacher: exported_model.ExportedModel | None = None,
) -> _Run:
    """Builds model, optimizer and any teacher in the strategy's scope, the model starting from
    `initial`'s weights if given; restores the last backup if any."""
    with strategy.scope():
        teacher_model = distill.build_teacher(teacher) if teacher is not None else None
        model = models.build(config.model, mean=stats["mean"], std=stats["std"], height=height)
        if initial is not None:
            finetune.start_from(model, initial, freeze_conv=config.freeze_conv)
        optimizer = OPTIMIZERS[config.optimizer](
            learning_rate=learning_rate_schedule(config, steps_per_epoch=steps),
            use_ema=bool(config.weight_average),
            ema_momentum=config.weight_average,
        )
        optimizer.build(model.trainable_variables)
        state = {
            "epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
            "best_criterion": tf.Variable(math.inf, dtype=tf.float64, trainable=False),
            "stale_epochs": tf.Variable(0, dtype=tf.int64, trainable=False),
        }
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, **state)
    backup = tf.train.CheckpointManager(
        checkpoint, os.path.join(config.model_dir, "backup", f"worker-{worker}"), max_to_keep=1
    )
    if backup.latest_checkpoint:
        checkpoint.restore(backup.latest_checkpoint).assert_existing_objects_matched()
        logger.info(
            "Resuming from %s after epoch %d", backup.latest_checkpoint, int(state["epoch"].numpy())
        )
    return _Run(model=model, optimizer=optimizer, backup=backup, teacher=teacher_model, **state)


def _train_epoch(
    train_step,
    iterator,
    *,
    steps: int,
    epoch: int,
    config: TrainConfig,
    progress: reporting.Progress,
) -> tuple[float, int]:
    """Runs one epoch's steps; returns the mean loss and the examples trained on. A non-finite
    loss stops training."""
    losses, examples = [], 0
    for i in range(steps):
        loss, batch_examples = train_step(iterator)
        loss = float(loss)
        examples += int(batch_examples)
        if not math.isfinite(loss):
            raise ConfigError(
                "learning_rate",
                config.learning_rate,
                f"training loss became {loss} at epoch {epoch} step {i + 1}; "
                f"expected a lower learning rate",
            )
        losses.append(loss)
        progress.update(i + 1, float(np.mean(losses)))
    return float(np.mean(losses)), examples


@contextlib.contextmanager
def averaged_weights(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """Within the block the model holds the optimizer's moving average of its trainable weights
    (if it keeps one: `use_ema`); afterwards its own weights again."""
    if not optimizer.use_ema:
        yield
        return
    raw = [variable.numpy() for variable in model.trainable_variables]
    optimizer.finalize_variable_values(model.trainable_variables)
    try:
        yield
    finally:
        for variable, value in zip(model.trainable_variables, raw):
            variable.assign(value)


def _improved(run: _Run, criterion: float) -> bool:
    """Updates the best value and the count of epochs without improvement."""
    if criterion < float(run.best_criterion.numpy()):
        run.best_criterion.assign(criterion)
        run.stale_epochs.assign(0)
        return True
    run.stale_epochs.assign_add(1)
    return False


def result_criterion(evaluator: Evaluator | None) -> str:
    """What picks the best epoch: validation CER, or the training loss without a validation
    split."""
    return "val_cer" if evaluator is not None else "train_loss"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run trains, checked before anything is written (`prepare`).

    Attributes:
      config: the run's options, with builtin model names resolved and the architecture taken
        from `initial` where the run left it unset.
      metadata: the first dataset's `metadata.json`.
      stats: the standardization statistics (the initial model's when fine-tuning).
      initial: the exported model the run starts from, or None.
      teacher: the exported model the run learns from, or None.
      records: training records per dataset.
      steps: optimizer steps per epoch.
    """

    config: TrainConfig
    metadata: Mapping[str, Any]
    stats: Mapping[str, Any]
    initial: exported_model.ExportedModel | None
    teacher: exported_model.ExportedModel | None
    records: list[int]
    steps: int

    @property
    def primary(self) -> str:
        """The dataset whose validation split picks the best epoch and calibrates the export."""
        return self.config.data_dir[0]

    @property
    def has_validation(self) -> bool:
        return bool(self.metadata["counts"].get("validation"))


@dataclasses.dataclass
class Session:
    """A run built under its strategy (`build`): the model and loop state, the training input and
    step, validation, and the chief's summary writers."""

    run: _Run
    strategy: tf.distribute.Strategy
    is_chief: bool
    iterator: Any
    train_step: Any
    evaluator: Evaluator | None
    writers: Any


@dataclasses.dataclass
class Epochs:
    """What the epochs did (`run_epochs`)."""

    history: list[dict[str, Any]]
    examples: int
    step_seconds: float


def train(config: TrainConfig, *, progress: bool = True) -> dict[str, Any]:
    """Trains, validates every epoch, resumes after a crash, exports; returns the summary.

    The steps: `prepare` (check and resolve, nothing written), `build` (under the strategy),
    `run_epochs`, `finish` (export and calibrate)."""
    started = time.perf_counter()
    strategy = distribution.make_strategy(config.strategy)
    worker, is_chief = distribution.worker_role(strategy)
    plan = prepare(config, strategy, is_chief=is_chief)
    session = build(plan, strategy, worker=worker, is_chief=is_chief)
    epochs = run_epochs(plan, session, progress=progress, started=started)
    return finish(plan, session, epochs, started=started)


def prepare(config: TrainConfig, strategy: tf.distribute.Strategy, *, is_chief: bool) -> Plan:
    """Checks the datasets, the model directory (on the chief), the initial and teacher models
    and that CTC can align every training label; reads each training split once for that.

    Raises:
      ConfigError, InvalidInputError: the first problem found, in one line.
    """
    metadata = _check_datasets(config.data_dir)
    primary = config.data_dir[0]
    initial = teacher = None
    if config.init_from:
        config = dataclasses.replace(
            config, init_from=builtin.resolve(config.init_from, field="init_from")
        )
        initial = exported_model.open_model(config.init_from, field="init_from", keras=True)
        initial.check_height(metadata["height"], data=primary)
        config = dataclasses.replace(config, model=finetune.resolve_model(config.model, initial))
    if config.teacher:
        teacher = distill.load_teacher(
            builtin.resolve(config.teacher, field="teacher"),
            downsample=config.model.downsample,
            height=metadata["height"],
            data_dir=primary,
        )
    if is_chief:
        checks.check_model_dir(config.model_dir, config.run_identity())
    for data_dir in config.data_dir:
        checks.check_feasible(data_dir, "train", config.model.downsample, config=config.reader)
    records = [split_info(data_dir, "train").records for data_dir in config.data_dir]
    return Plan(
        config=config,
        metadata=metadata,
        stats=initial.stats if initial is not None else dataset.load_stats(primary),
        initial=initial,
        teacher=teacher,
        records=records,
        steps=epoch_steps(config, records, strategy),
    )


def epoch_steps(config: TrainConfig, records: list[int], strategy: tf.distribute.Strategy) -> int:
    """Optimizer steps of an epoch: the batches of `reader.epoch_batches` on the input pipeline
    that gets the most, shared among the replicas that pipeline feeds."""
    replicas = strategy.num_replicas_in_sync
    pipelines = distribution.input_pipelines(strategy)
    batches = data.epoch_batches(
        config.data_dir,
        config.data_weights or records,
        config.batch_size // replicas,
        num_pipelines=pipelines,
        config=config.reader,
    )
    return math.ceil(sum(batches) / max(1, replicas // pipelines))


def build(plan: Plan, strategy: tf.distribute.Strategy, *, worker: int, is_chief: bool) -> Session:
    """Starts the model directory (the chief writes the run's `config.json`), then builds the
    model, optimizer, teacher, training input and step under the strategy's scope, restoring
    the last backup if any. The training splits, verified by `prepare`, are not read again
    before the first step."""
    config = plan.config
    keras.utils.set_random_seed(config.seed)
    if is_chief:
        tf.io.gfile.makedirs(config.model_dir)
        storage.write_json(
            os.path.join(config.model_dir, exported.CONFIG),
            {"run": config.run_identity(), "epochs": config.epochs},
        )
    run = _build_run(
        config,
        strategy,
        stats=plan.stats,
        height=plan.metadata["height"],
        steps=plan.steps,
        worker=worker,
        initial=plan.initial,
        teacher=plan.teacher,
    )
    train_data = strategy.distribute_datasets_from_function(
        lambda ctx: data.make_training_mix(
            config.data_dir,
            config.data_weights or plan.records,
            config.batch_size,
            input_context=ctx,
            seed=config.seed,
            config=config.reader,
            verified=True,
        )
    )
    train_step = make_train_step(
        run.model,
        run.optimizer,
        strategy,
        jit_compile=config.jit_compile,
        teacher=run.teacher,
        distill_weight=config.distill_weight,
    )
    evaluator = (
        Evaluator(run.model, plan.primary, "validation", batch_size=config.batch_size)
        if plan.has_validation
        else None
    )
    return Session(
        run=run,
        strategy=strategy,
        is_chief=is_chief,
        iterator=iter(train_data),
        train_step=train_step,
        evaluator=evaluator,
        writers=reporting.summary_writers(config.model_dir) if is_chief else None,
    )


def run_epochs(plan: Plan, session: Session, *, progress: bool, started: float) -> Epochs:
    """The epochs left (all of them, or those after the restored backup): train, validate, keep
    the best model, back up; stops early when validation stops improving."""
    config, run = plan.config, session.run
    epochs = Epochs(history=[], examples=0, step_seconds=0.0)
    while int(run.epoch.numpy()) < config.epochs:
        epoch = int(run.epoch.numpy()) + 1
        epoch_started = time.perf_counter()
        loss, examples = _train_epoch(
            session.train_step,
            session.iterator,
            steps=plan.steps,
            epoch=epoch,
            config=config,
            progress=reporting.Progress(
                plan.steps, epoch, config.epochs, enabled=progress and session.is_chief
            ),
        )
        seconds = time.perf_counter() - epoch_started
        epochs.examples += examples
        epochs.step_seconds += seconds
        record = {
            "epoch": epoch,
            "loss": loss,
            "examples": examples,
            "examples_per_second": examples / seconds,
        }
        samples = None
        with averaged_weights(run.model, run.optimizer):
            if session.evaluator is not None:
                summary, samples = session.evaluator(samples=config.tensorboard_images)
                record.update(
                    val_cer=summary["cer"], val_ser=summary["ser"], val_ler=summary["ler"]
                )
            record.update(
                seconds=time.perf_counter() - epoch_started,  # with validation
                elapsed_seconds=time.perf_counter() - started,
            )
            if _improved(run, record.get("val_cer", loss)) and session.is_chief:
                run.model.save(os.path.join(config.model_dir, exported.BEST))
        logger.info(
            "epoch %d/%d: %s",
            epoch,
            config.epochs,
            ", ".join(
                f"{k} {v}" if isinstance(v, int) else f"{k} {v:.4f}"
                for k, v in record.items()
                if k != "epoch"
            ),
        )
        epochs.history.append(record)
        if session.is_chief:
            reporting.write_summaries(session.writers, record, run.optimizer, samples, epoch)
        run.epoch.assign(epoch)
        run.backup.save(checkpoint_number=epoch)
        logger.info("Saved backup after epoch %d", epoch)
        if config.early_stopping and int(run.stale_epochs.numpy()) >= config.early_stopping:
            logger.info(
                "Early stopping: %s has not improved for %d epochs",
                result_criterion(session.evaluator),
                config.early_stopping,
            )
            break
    return epochs


def finish(plan: Plan, session: Session, epochs: Epochs, *, started: float) -> dict[str, Any]:
    """Releases the training input, then on the chief loads the best weights, calibrates on the
    first dataset's validation split and exports the model directory; returns the summary."""
    config, run = plan.config, session.run
    holder = [session.iterator]
    session.iterator = None
    _release_in_background(holder)
    result = {
        "history": epochs.history,
        "criterion": result_criterion(session.evaluator),
        "best": float(run.best_criterion.numpy()),
        "train_seconds": time.perf_counter() - started,
        "train_examples_per_second": epochs.examples / max(epochs.step_seconds, 1e-9),
    }
    if session.is_chief:
        best_path = os.path.join(config.model_dir, exported.BEST)
        if tf.io.gfile.exists(best_path):
            run.model.load_weights(best_path)
        else:
            run.optimizer.finalize_variable_values(run.model.trainable_variables)
        calibration = (
            calibrate.fit_model(run.model, plan.primary, verified=True)
            if plan.has_validation
            else None
        )
        export.export_model(
            run.model,
            config.model_dir,
            stats=plan.stats,
            metadata=plan.metadata,
            calibration=calibration,
            config={
                "run": config.run_identity(),
                "epochs": config.epochs,
                "strategy": config.strategy,
                "replicas": session.strategy.num_replicas_in_sync,
                "result": result,
            },
        )
    return result


def _release_in_background(holder: list) -> threading.Thread:
    """Drops the training input iterator, the only item of `holder` (its caller holds no other
    reference), on a thread of its own, so that its destruction does not hold up export and
    return.

    Why: destroying a tf.data iterator joins its autotuning thread, and TensorFlow's
    `CancellationManager` wakes that thread before it marks itself cancelled, so the thread can
    sleep out the rest of its period (up to 60 s) first (bench/README.md, "The wait after
    training"). Here that sleep overlaps the export and whatever the caller does next. Not a
    daemon: a daemon thread stopped inside TensorFlow at exit aborted the process, so a process
    that ends sooner still waits for it at exit.
    """
    thread = threading.Thread(target=holder.clear, name="digitseq-release-training-input")
    thread.start()
    return thread


def _check_datasets(data_dirs) -> dict[str, Any]:
    """The first dataset's `metadata.json`, after checking that every dataset is complete, of the
    schema version this code reads, and of one image height."""
    first = dataset.load_metadata(data_dirs[0])
    for data_dir in data_dirs[1:]:
        height = dataset.load_metadata(data_dir)["height"]
        if height != first["height"]:
            raise ConfigError(
                "data_dir",
                data_dir,
                f"holds images of height {height}, but "
                f"{data_dirs[0]} holds height {first['height']}; expected one "
                f"height for every dataset",
            )
    return first
