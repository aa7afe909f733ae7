"""Choosing a `tf.distribute` strategy, and this process's role in a multi-worker cluster.

`MultiWorkerMirroredStrategy` reads the cluster from `TF_CONFIG`; every worker runs the same
command. The chief (task `chief`, or worker 0 when there is none) writes what is shared: logs, the
best model and the export.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from digitseq.core.errors import InvalidInputError

TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
)


def check_tf_config(text: str | None) -> dict:
    """The parsed `TF_CONFIG` of a multi-worker run.

    Raises:
      InvalidInputError: unset, not JSON, or without a cluster and this process's task in it.
    """
    if not text:
        raise InvalidInputError(
            f"TF_CONFIG is not set; strategy multi_worker expects a JSON "
            f"cluster spec in every worker's environment, e.g. "
            f"{TF_CONFIG_EXAMPLE}"
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInputError(
            f"TF_CONFIG is not valid JSON ({err}); expected e.g. {TF_CONFIG_EXAMPLE}"
        ) from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise InvalidInputError(
            f'TF_CONFIG {text}: expected a "cluster" of jobs and a "task", e.g. {TF_CONFIG_EXAMPLE}'
        )
    jobs = cluster.get(task.get("type"))
    index = task.get("index", 0)
    if not isinstance(jobs, list) or not isinstance(index, int) or not 0 <= index < len(jobs):
        raise InvalidInputError(
            f"TF_CONFIG task {json.dumps(task)}: not in the cluster {json.dumps(cluster)}"
        )
    return config


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`auto`: mirrored over GPUs if there are several, else one device."""
    if name == "multi_worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
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
        resolver.task_type == "worker"
        and index == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def input_pipelines(strategy: tf.distribute.Strategy) -> int:
    """Input pipelines `distribute_datasets_from_function` makes: one per worker."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))
