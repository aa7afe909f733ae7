"""Choosing a `tf.distribute` strategy, and this process's role in a multi-worker cluster.

`MultiWorkerMirroredStrategy` reads the cluster from `TF_CONFIG`; every worker runs the same
command. The chief (task `chief`, or worker 0 when there is none) writes what is shared: logs, the
best model and the export.
"""

from __future__ import annotations

import os

import tensorflow as tf

from schemas.errors import ConfigError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`auto`: mirrored over GPUs if there are several, else one device."""
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError(
                "strategy", name, "TF_CONFIG is not set; expected a JSON cluster spec, e.g. "
                '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
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
