"""Both Beam jobs on a portable runner: Beam's local job service, with an external SDK worker pool.

The job service (`local_job_service_main`) and the worker pool (`worker_pool_main`) run as their
own processes, as a Flink or Spark job server and its SDK harnesses would; the jobs are submitted
with `--runner=PortableRunner --environment_type=EXTERNAL`, so every DoFn runs in a worker process
the pool starts (as `python`, hence the venv's `bin` first on its PATH, and PYTHONPATH for this
checkout). The outputs must equal those of the default in-process runner.

The local job service executes a job with Beam's FnApiRunner, which asks the pool for one SDK
worker per job and ignores `--sdk_worker_parallelism` and `--direct_num_workers` (Beam 2.77;
`FnApiRunner.run_via_runner_api` keeps one worker), so these jobs each run in one worker process.
"""

from __future__ import annotations

import filecmp
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from digitseq import cli
from tests import processes
from tests.conftest import render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTED_WORKER = "Starting worker with command"


@pytest.fixture(scope="module")
def portable(tmp_path_factory):
    """Starts the job service and the worker pool; yields the jobs' runner flags and a function
    counting the workers the pool has started so far. Both processes end with the module."""
    directory = tmp_path_factory.mktemp("portable")
    job_port, pool_port = processes.free_port(), processes.free_port()
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": ROOT,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    pool_log = directory / "worker_pool.log"
    started = []
    try:
        for command, log in (
            (
                [
                    "apache_beam.runners.portability.local_job_service_main",
                    "--port",
                    str(job_port),
                    "--staging_dir",
                    str(directory / "staging"),
                ],
                directory / "job_service.log",
            ),
            (
                ["apache_beam.runners.worker.worker_pool_main", "--service_port", str(pool_port)],
                pool_log,
            ),
        ):
            with open(log, "w") as out:
                started.append(
                    processes.Tree(
                        subprocess.Popen(
                            [sys.executable, "-m", *command],
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
                )
        processes.wait_for_port(job_port, started[0].root)
        processes.wait_for_port(pool_port, started[1].root)
        flags = [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{pool_port}",
        ]
        yield flags, lambda: pool_log.read_text().count(STARTED_WORKER)
    finally:
        for tree in reversed(started):
            tree.look()  # the pool's workers, so that none outlives it
            tree.end()


def _files(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
    )


@pytest.mark.slow
def test_render_on_the_portable_runner_writes_the_default_runners_bytes(
    portable, tmp_path, variable_dataset
):
    flags, workers_started = portable
    before = workers_started()
    out = tmp_path / "portable"
    assert (
        render(
            out,
            "--mode",
            "variable",
            "--train",
            "300",
            "--validation",
            "60",
            "--test",
            "80",
            "--shards",
            "2",
            "--seed",
            "7",
            *flags,
        )
        == 0
    )  # as conftest's
    assert workers_started() > before
    assert _files(out) == _files(variable_dataset)
    for path in _files(out):
        assert filecmp.cmp(out / path, os.path.join(variable_dataset, path), shallow=False), path


def _rows(out, name):
    rows = []
    for path in glob.glob(os.path.join(str(out), f"{name}-*.jsonl")):
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    return sorted(rows, key=lambda r: (r["file"], r["record"]))


@pytest.mark.slow
def test_predict_on_the_portable_runner_gives_the_default_runners_rows(
    portable, tmp_path, trained_model, variable_dataset
):
    flags, workers_started = portable
    inputs = os.path.join(variable_dataset, "test", "*")
    common = ["predict", "--model", trained_model, "--input", inputs, "--batch-size", "16"]
    assert cli.run([*common, "--out", str(tmp_path / "default")]) == 0
    before = workers_started()
    assert cli.run([*common, "--out", str(tmp_path / "portable"), *flags]) == 0
    assert workers_started() > before
    default, portable_rows = (_rows(tmp_path / d, "predictions") for d in ("default", "portable"))
    assert len(default) == 80
    assert portable_rows == default
    assert (
        _rows(tmp_path / "portable", "dead_letter")
        == _rows(tmp_path / "default", "dead_letter")
        == []
    )
    metrics = [
        json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("default", "portable")
    ]
    assert metrics[0] == metrics[1]
    assert np.isfinite([r["confidence"] for r in portable_rows]).all()
