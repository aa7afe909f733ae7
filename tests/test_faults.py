"""A render job whose worker process is killed in the middle of writing a shard.

The job runs as the CLI would, in a subprocess, on the local runner with two worker processes. As
soon as a worker holds a file under `<out>` open (it is writing a shard), that worker is sent
SIGKILL. The job must fail without `COMPLETED`, leave only complete shards under their final names
in the split directories, and a re-run with `--overwrite` must give the files of a clean render.
"""

from __future__ import annotations

import filecmp
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from digitseq.pipelines.render import params as render_params
from digitseq.pipelines.render import planning
from digitseq.schemas import dataset
from tests import processes
from tests.conftest import render
from tests.records import tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
FLAGS = ["--train", "12000", "--validation", "0", "--test", "0", "--shards", "12", "--seed", "5"]
FINAL_NAME = re.compile(r"^(train|validation|test)-w\d{4}-\d{5}-of-\d{5}\.tfrecord\.gz$")


def _process_writing_under(root: int, directory: str) -> int | None:
    """A descendant of `root` with a file under `directory` open, if any."""
    for pid in processes.descendants(root):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(directory + os.sep):
                    return pid
        except OSError:
            continue
    return None


def _files(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
    )


@pytest.mark.slow
def test_a_worker_killed_mid_render_fails_the_job_and_leaves_no_partial_shard(tmp_path):
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "digitseq",
        "render",
        "--out",
        str(out),
        "--mnist",
        "sample",
        *FLAGS,
        "--direct_num_workers=2",
        "--direct_running_mode=multi_processing",
    ]
    job = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started, tree = time.monotonic(), processes.Tree(job)
    try:
        victim = None
        while victim is None and job.poll() is None and time.monotonic() - started < 300:
            tree.look()
            victim = _process_writing_under(job.pid, str(out))
            if victim is None:
                time.sleep(0.01)
        assert victim is not None, "no worker was seen writing a shard"
        with open(f"/proc/{victim}/cmdline") as f:
            assert "sdk_worker_main" in f.read()
        os.kill(victim, signal.SIGKILL)
        output = job.communicate(timeout=300)[0].decode(errors="replace")
    finally:
        tree.end()

    assert job.returncode != 0, output[-2000:]
    assert not (out / dataset.COMPLETED).exists()
    plans = {
        p.path: p.count
        for p in planning.plan_shards(
            render_params.RenderParams(), {"train": 12000}, seed=5, shards=12
        )
    }
    in_splits = [f for f in _files(out) if f.split(os.sep)[0] in dataset.SPLITS]
    assert all(FINAL_NAME.match(os.path.basename(f)) for f in in_splits), in_splits
    assert len(in_splits) < len(plans)
    for path in in_splits:  # whatever has a final name is a whole shard
        records = sum(1 for _ in tf.data.TFRecordDataset(str(out / path), compression_type="GZIP"))
        assert records == plans[path], path

    assert render(out, *FLAGS, "--overwrite") == 0
    assert render(tmp_path / "clean", *FLAGS) == 0
    assert _files(out) == _files(tmp_path / "clean")
    assert not (out / dataset.TEMP).exists()
    for path in _files(out):
        assert filecmp.cmp(out / path, tmp_path / "clean" / path, shallow=False), path
