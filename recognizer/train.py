"""Distributed CTC training: one custom loop for every `tf.distribute` strategy.

Why a custom loop: `model.fit` fails under `MultiWorkerMirroredStrategy` with Keras 3 on
TensorFlow 2.16+ (keras#20585, tensorflow#72388), so every strategy runs the same loop:
`strategy.run` over batches from `distribute_datasets_from_function`, per-example CTC losses scaled
with `tf.nn.compute_average_loss` (so the update does not depend on the replica count), and the
Keras optimizer built inside the strategy scope before the first step.

Per epoch: a fixed number of steps over the repeated training data (so every worker takes the
same number of steps), then validation CER/SER with greedy decoding on every worker (identical
weights give identical decisions, which early stopping needs), then a checkpoint of model,
optimizer and loop state under `<model_dir>/backup/worker-<i>` (each worker its own; a run
restarted with the same command resumes from the last finished epoch). The chief alone writes
TensorBoard logs (`<model_dir>/logs`), keeps the best model by validation CER (`best.keras`) and
exports the model directory at the end.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from recognizer import augment, ctc, data, decoding, metrics, models
from schemas import dataset, exported
from schemas.errors import InvalidInputError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
SCHEDULES = ("constant", "cosine")
OPTIMIZERS = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
              "sgd": keras.optimizers.SGD}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to train on, how, and where to write it."""

    data_dir: str
    model_dir: str
    model: models.ModelConfig = models.ModelConfig()
    epochs: int = 10
    batch_size: int = 64
    strategy: str = "auto"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    seed: int = 0
    early_stopping: int = 0
    constant_frames: bool = False
    tensorboard_images: int = 6
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    augment: bool = False

    def __post_init__(self):
        if self.epochs < 1:
            raise InvalidInputError(f"--epochs {self.epochs}: expected at least 1")
        if self.batch_size < 1:
            raise InvalidInputError(f"--batch-size {self.batch_size}: expected at least 1")
        if self.strategy not in STRATEGIES:
            raise InvalidInputError(
                f"--strategy {self.strategy}: expected one of {', '.join(STRATEGIES)}")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidInputError(
                f"--optimizer {self.optimizer}: expected one of {', '.join(OPTIMIZERS)}")
        if not self.learning_rate > 0:
            raise InvalidInputError(f"--learning-rate {self.learning_rate}: expected > 0")
        if self.schedule not in SCHEDULES:
            raise InvalidInputError(
                f"--schedule {self.schedule}: expected one of {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise InvalidInputError(
                f"--warmup-epochs {self.warmup_epochs}: expected 0 <= warmup < --epochs "
                f"{self.epochs}")
        if self.early_stopping < 0:
            raise InvalidInputError(f"--early-stopping {self.early_stopping}: expected >= 0")

    def run_identity(self) -> dict[str, Any]:
        """What makes two runs the same run (epochs may grow between restarts)."""
        return {"data_dir": os.path.abspath(self.data_dir) if "://" not in self.data_dir
                else self.data_dir, "model": self.model.to_json(),
                "batch_size": self.batch_size, "optimizer": self.optimizer,
                "learning_rate": self.learning_rate, "seed": self.seed,
                "constant_frames": self.constant_frames, "schedule": self.schedule,
                "warmup_epochs": self.warmup_epochs, "augment": self.augment}


def learning_rate_schedule(config: TrainConfig, *, steps_per_epoch: int):
    """The learning rate: constant, or a linear warm-up then cosine decay to zero at the end."""
    if config.schedule == "constant":
        return config.learning_rate
    warmup = round(config.warmup_epochs * steps_per_epoch)
    total = config.epochs * steps_per_epoch
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, total)
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate / 10, total - warmup, warmup_target=config.learning_rate,
        warmup_steps=warmup)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`auto`: mirrored over GPUs if there are several, else one device."""
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise InvalidInputError(
                "--strategy multi_worker: TF_CONFIG is not set; expected a JSON cluster spec, "
                'e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}} in every worker\'s environment')
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")


def worker_role(strategy: tf.distribute.Strategy) -> tuple[int, bool]:
    """(task index, is chief) of this process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 0, True
    index = resolver.task_id or 0
    return index, resolver.task_type == "chief" or (
        resolver.task_type == "worker" and index == 0 and
        "chief" not in resolver.cluster_spec().as_dict())


def check_model_dir(config: TrainConfig) -> None:
    """Refuses a model directory that holds a different run (same run: resume)."""
    path = os.path.join(config.model_dir, exported.CONFIG)
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            previous = json.load(f).get("run")
        if previous != config.run_identity():
            changed = sorted(k for k in config.run_identity()
                             if (previous or {}).get(k) != config.run_identity()[k])
            raise InvalidInputError(
                f"--model-dir {config.model_dir}: holds another run (differs in "
                f"{', '.join(changed) or 'everything'}); use a new directory")
    elif tf.io.gfile.exists(config.model_dir) and tf.io.gfile.listdir(config.model_dir):
        raise InvalidInputError(
            f"--model-dir {config.model_dir}: not empty and no {exported.CONFIG}, so not a "
            f"digitseq run; use a new directory")


def check_feasible(data_dir: str, split: str, downsample: int, *, batch_size: int = 1024) -> int:
    """Fails if any label needs more CTC frames than the model emits for its width.

    Returns the number of sequences checked.
    """
    ds = data.make_dataset(data_dir, split, batch_size, with_ids=True)

    @tf.function(input_signature=ds.element_spec)
    def bad(features, labels):
        mask = ctc.infeasible(labels[data.LABEL], labels[data.LABEL_LENGTH],
                              ctc.output_lengths(features[data.WIDTH], downsample))
        return tf.boolean_mask(features[data.ID], mask)

    offenders, checked = [], 0
    for features, labels in ds:
        offenders += [i.decode() for i in bad(features, labels).numpy()]
        checked += int(features[data.WIDTH].shape[0])
    if offenders:
        raise InvalidInputError(
            f"{data_dir} split '{split}': {len(offenders)} of {checked} labels cannot be aligned "
            f"by CTC (they need more frames than the model emits for their width at downsample "
            f"{downsample}: digits plus one blank per repeated pair); ids "
            f"{', '.join(offenders[:10])}{' ...' if len(offenders) > 10 else ''}")
    return checked


class _Progress:
    """A Keras progress bar on a terminal; plain log lines (about ten per epoch) otherwise."""

    def __init__(self, steps: int, epoch: int, epochs: int, enabled: bool):
        self._steps, self._epoch, self._epochs = steps, epoch, epochs
        self._tty = enabled and sys.stdout.isatty()
        self._enabled = enabled
        self._bar = keras.utils.Progbar(steps, stateful_metrics=["loss"]) if self._tty else None
        self._every = max(1, steps // 10)

    def update(self, step: int, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(step, [("loss", loss)])
        elif self._enabled and (step % self._every == 0 or step == self._steps):
            logging.info("epoch %d/%d step %d/%d loss %.4f", self._epoch, self._epochs, step,
                         self._steps, loss)


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer,
                    strategy: tf.distribute.Strategy):
    """One synchronous step over the next distributed batch; returns the global mean loss."""

    def step(features, labels):
        with tf.GradientTape() as tape:
            out = model(features, training=True)
            per_example = ctc.loss_per_example(labels[data.LABEL], labels[data.LABEL_LENGTH],
                                               out["logits"], out["lengths"])
            loss = tf.nn.compute_average_loss(per_example)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    @tf.function
    def train_step(iterator):
        features, labels = next(iterator)
        return strategy.reduce(tf.distribute.ReduceOp.SUM,
                               strategy.run(step, args=(features, labels)), axis=None)

    return train_step


def train(config: TrainConfig, *, progress: bool = True) -> dict[str, Any]:
    """Trains, validates every epoch, resumes after a crash, exports; returns the summary."""
    from recognizer import export

    metadata = dataset.load_metadata(config.data_dir)
    stats = dataset.load_stats(config.data_dir)
    strategy = make_strategy(config.strategy)
    worker, is_chief = worker_role(strategy)
    if is_chief:
        check_model_dir(config)
    check_feasible(config.data_dir, "train", config.model.downsample)
    info = data.split_info(config.data_dir, "train")
    has_validation = bool(metadata["counts"].get("validation"))
    steps = max(1, info.records // config.batch_size)
    keras.utils.set_random_seed(config.seed)
    if is_chief:
        tf.io.gfile.makedirs(config.model_dir)
        dataset.write_json(os.path.join(config.model_dir, exported.CONFIG),
                          {"run": config.run_identity(), "epochs": config.epochs})

    with strategy.scope():
        model = models.build(config.model, mean=stats["mean"], std=stats["std"],
                             height=metadata["height"])
        optimizer = OPTIMIZERS[config.optimizer](
            learning_rate=learning_rate_schedule(config, steps_per_epoch=steps))
        optimizer.build(model.trainable_variables)
        state = {"epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
                 "best_cer": tf.Variable(math.inf, dtype=tf.float64, trainable=False),
                 "stale_epochs": tf.Variable(0, dtype=tf.int64, trainable=False)}
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, **state)
    backup = tf.train.CheckpointManager(
        checkpoint, os.path.join(config.model_dir, "backup", f"worker-{worker}"), max_to_keep=1)
    if backup.latest_checkpoint:
        checkpoint.restore(backup.latest_checkpoint).assert_existing_objects_matched()
        logging.info("Resuming from %s after epoch %d", backup.latest_checkpoint,
                     int(state["epoch"].numpy()))

    train_data = strategy.distribute_datasets_from_function(
        lambda ctx: data.make_dataset(config.data_dir, "train", config.batch_size, training=True,
                                      input_context=ctx, seed=config.seed,
                                      constant_frames=config.constant_frames,
                                      augmentation=augment.Augmentation() if config.augment
                                      else None).repeat())

    train_step = make_train_step(model, optimizer, strategy)

    writers = _summary_writers(config.model_dir) if is_chief else None
    evaluator = Evaluator(model, config.data_dir, "validation",
                          batch_size=config.batch_size) if has_validation else None
    iterator = iter(train_data)
    history = []
    started = time.perf_counter()
    trained_examples, step_seconds = 0, 0.0
    while int(state["epoch"].numpy()) < config.epochs:
        epoch = int(state["epoch"].numpy()) + 1
        bar = _Progress(steps, epoch, config.epochs, enabled=progress and is_chief)
        epoch_started, losses = time.perf_counter(), []
        for i in range(steps):
            loss = float(train_step(iterator))
            if not math.isfinite(loss):
                raise InvalidInputError(
                    f"training loss became {loss} at epoch {epoch} step {i + 1} "
                    f"(--learning-rate {config.learning_rate}); lower the learning rate")
            losses.append(loss)
            bar.update(i + 1, float(np.mean(losses)))
        seconds = time.perf_counter() - epoch_started
        trained_examples += steps * config.batch_size
        step_seconds += seconds
        record = {"epoch": epoch, "loss": float(np.mean(losses)),
                  "examples_per_second": steps * config.batch_size / seconds}
        if has_validation:
            summary, samples = evaluator(samples=config.tensorboard_images)
            record.update(val_cer=summary["cer"], val_ser=summary["ser"], val_ler=summary["ler"])
        logging.info("epoch %d/%d: %s", epoch, config.epochs,
                     ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "epoch"))
        history.append(record)
        cer = record.get("val_cer", record["loss"])
        improved = cer < float(state["best_cer"].numpy())
        if improved:
            state["best_cer"].assign(cer)
            state["stale_epochs"].assign(0)
        else:
            state["stale_epochs"].assign_add(1)
        if is_chief:
            if improved:
                model.save(os.path.join(config.model_dir, exported.BEST))
            _write_summaries(writers, record, optimizer, samples if has_validation else None,
                             epoch)
        state["epoch"].assign(epoch)
        backup.save(checkpoint_number=epoch)
        logging.info("Saved backup after epoch %d", epoch)
        if config.early_stopping and int(state["stale_epochs"].numpy()) >= config.early_stopping:
            logging.info("Early stopping: validation CER has not improved for %d epochs",
                         config.early_stopping)
            break

    result = {"history": history, "best_val_cer": float(state["best_cer"].numpy()),
              "train_seconds": time.perf_counter() - started,
              "train_examples_per_second": trained_examples / max(step_seconds, 1e-9)}
    if is_chief:
        best_path = os.path.join(config.model_dir, exported.BEST)
        if tf.io.gfile.exists(best_path):
            model.load_weights(best_path)
        export.export_model(model, config.model_dir, stats=stats, metadata=metadata,
                            config={"run": config.run_identity(), "epochs": config.epochs,
                                    "strategy": config.strategy,
                                    "replicas": strategy.num_replicas_in_sync,
                                    "result": result})
    return result


class Evaluator:
    """Error rates of a model on one split; the dataset and the decoding graph are built once."""

    def __init__(self, model: keras.Model, data_dir: str, split: str, *, batch_size: int = 256,
                 method: str = decoding.GREEDY, beam_width: int = 8):
        self._dataset = data.make_dataset(data_dir, split, batch_size)

        @tf.function(input_signature=[self._dataset.element_spec[0]])
        def predict(features):
            out = model(features, training=False)
            return decoding.decode(out["logits"], out["lengths"], method=method,
                                   beam_width=beam_width)

        self._predict = predict

    def __call__(self, samples: int = 0) -> tuple[dict, list]:
        """`ErrorCounts.summary()`, and the first `samples` (frames, label, prediction)."""
        counts, kept = metrics.ErrorCounts(), []
        for features, labels in self._dataset:
            digits, lengths, _ = self._predict(features)
            truth = decoding.to_strings(labels[data.LABEL], labels[data.LABEL_LENGTH])
            for i, (reference, hypothesis) in enumerate(
                    zip(truth, decoding.to_strings(digits, lengths))):
                counts.add(reference, hypothesis)
                if len(kept) < samples:
                    width = int(features[data.WIDTH][i])
                    kept.append((features[data.FRAMES][i, :width].numpy(), reference,
                                 hypothesis))
        return counts.summary(), kept


def _summary_writers(model_dir: str) -> dict:
    logs = os.path.join(model_dir, "logs")
    return {"train": tf.summary.create_file_writer(os.path.join(logs, "train")),
            "validation": tf.summary.create_file_writer(os.path.join(logs, "validation"))}


def _write_summaries(writers, record, optimizer, samples, epoch: int) -> None:
    with writers["train"].as_default(step=epoch):
        tf.summary.scalar("loss", record["loss"])
        learning_rate = keras.ops.convert_to_numpy(optimizer.learning_rate)
        tf.summary.scalar("learning_rate", float(learning_rate))
        tf.summary.scalar("examples_per_second", record["examples_per_second"])
    if samples is None:
        return
    with writers["validation"].as_default(step=epoch):
        tf.summary.scalar("cer", record["val_cer"])
        tf.summary.scalar("ser", record["val_ser"])
        for i, (frames, reference, hypothesis) in enumerate(samples):
            image = frames.T[None, :, :, None]
            tf.summary.image(f"sequence_{i}", image,
                             description=f"label {reference}, predicted {hypothesis}")
            tf.summary.text(f"sequence_{i}", f"label `{reference}` predicted `{hypothesis}`"
                            f"{'' if reference == hypothesis else ' (wrong)'}")
    for writer in writers.values():
        writer.flush()
