"""Output directories that two jobs cannot corrupt: claims, stale claims, verification before
COMPLETED, and two real jobs started together on one directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import types

import pytest

from digitseq.core import claims
from digitseq.core.errors import ConfigError, InvalidInputError
from digitseq.pipelines import dataset_writer
from digitseq.recognizer.data import reader as data
from digitseq.schemas import dataset, prediction
from tests.conftest import render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_RENDER = ["--train", "10", "--validation", "0", "--test", "0", "--shards", "1"]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leave_claim(directory, *, pid: int, host: str | None = None) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, claims.CLAIM), "w") as f:
        json.dump(
            {
                "job_id": "feedc0ffee00",
                "host": host or socket.gethostname(),
                "pid": pid,
                "started": "2026-12-01T00:00:00+00:00",
                "command": "digitseq render",
            },
            f,
        )


def test_a_claimed_directory_refuses_a_second_job_until_released(tmp_path):
    first = claims.acquire(str(tmp_path), command="digitseq render")
    with pytest.raises(
        ConfigError,
        match=f"claimed by job {first.job_id} \\(digitseq render, "
        f"pid {os.getpid()} .*which is still running",
    ):
        claims.acquire(str(tmp_path), command="digitseq ingest")
    with pytest.raises(ConfigError, match="which is still running"):
        claims.acquire(str(tmp_path), command="digitseq ingest", clear_stale=True)
    claims.check_held(first)
    claims.release(first)
    assert not (tmp_path / claims.CLAIM).exists()
    with pytest.raises(ConfigError, match=f"job {first.job_id} lost its claim"):
        claims.check_held(first)
    claims.release(claims.acquire(str(tmp_path), command="digitseq ingest"))


def test_a_killed_jobs_claim_is_reported_and_cleared_by_the_flag(tmp_path, capsys):
    out = tmp_path / "out"
    _leave_claim(out, pid=_dead_pid())
    assert render(out, *SMALL_RENDER) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert (
        "claimed by job feedc0ffee00 (digitseq render" in err
        and "whose process is no longer running (a killed job's claim); pass "
        "--clear-claim to clear it"
        in err
    ), err
    assert render(out, *SMALL_RENDER, "--clear-claim") == 0
    assert not (out / claims.CLAIM).exists()
    assert dataset.load_metadata(str(out))["counts"]["train"] == 10


def test_a_claim_from_another_host_names_the_host(tmp_path, capsys):
    out = tmp_path / "out"
    _leave_claim(out, pid=1, host="worker-7")
    assert render(out, *SMALL_RENDER) == 2
    err = capsys.readouterr().err
    assert (
        "pid 1 on host worker-7" in err
        and "on another host; if that job no longer runs, pass --clear-claim" in err
    )


def test_overwrite_never_steals_a_running_jobs_directory(tmp_path, capsys):
    out = tmp_path / "out"
    assert render(out, *SMALL_RENDER) == 0
    before = (out / dataset.METADATA).read_text()
    _leave_claim(out, pid=os.getpid())
    assert render(out, *SMALL_RENDER, "--seed", "3", "--overwrite", "--clear-claim") == 2
    assert "which is still running" in capsys.readouterr().err
    assert (out / dataset.METADATA).read_text() == before


def test_a_claim_is_never_seen_half_written(tmp_path):
    """A job reading the claim while another creates it sees nothing or the whole claim (two
    ingest jobs raced into an empty claim file, read as "an unreadable .digitseq-claim"). A
    reader thread polls while the claim is created, with thread switches as frequent as Python
    allows, in many fresh directories."""
    content = json.dumps(claims.new_claim(str(tmp_path), "render").to_json()).encode()
    seen = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for i in range(300):
            directory = tmp_path / str(i)
            directory.mkdir()
            path = str(directory / claims.CLAIM)
            done = threading.Event()

            def look():
                while not done.is_set():
                    if os.path.exists(path):
                        seen.append(claims.read(str(directory)))

            reader = threading.Thread(target=look)
            reader.start()
            try:
                assert claims.create_exclusive(path, content)
            finally:
                done.set()
                reader.join()
            assert not claims.create_exclusive(path, b"second")
            assert os.listdir(directory) == [claims.CLAIM]
    finally:
        sys.setswitchinterval(interval)
    assert seen and all(holder is not None and holder.command == "render" for holder in seen), sum(
        holder is None or holder.command != "render" for holder in seen
    )


def test_completed_needs_every_listed_file_as_written(tmp_path):
    out = tmp_path / "out"
    assert render(out, *SMALL_RENDER, "--mode", "variable") == 0
    os.remove(out / dataset.COMPLETED)
    metadata = json.loads((out / dataset.METADATA).read_text())
    shard = out / metadata["files"]["train"][0]["path"]
    claim = claims.acquire(str(out), command="test")
    try:
        original = shard.read_bytes()
        shard.write_bytes(original[:-1])
        with pytest.raises(
            InvalidInputError,
            match=f"{shard}: {len(original) - 1} bytes, "
            f"expected the {len(original)} bytes "
            f"metadata.json lists; did another job",
        ):
            dataset_writer.complete(claim)
        shard.write_bytes(original)
        stray = out / "train" / "train-w0056-00000-of-00002.tfrecord.gz"
        stray.write_bytes(b"")
        with pytest.raises(InvalidInputError, match=f"{stray}: not written by this job"):
            dataset_writer.complete(claim)
        stray.unlink()
        assert not (out / dataset.COMPLETED).exists()
        dataset_writer.complete(claim)
    finally:
        claims.release(claim)
    assert (out / dataset.COMPLETED).exists()


def test_gcs_claims_use_the_generation_precondition(monkeypatch):
    calls = []

    class PreconditionFailed(Exception):
        pass

    class Blob:
        def __init__(self, bucket, name):
            self.where = (bucket, name)

        def upload_from_string(self, data, *, if_generation_match):
            calls.append((self.where, data, if_generation_match))
            if len(calls) > 1:
                raise PreconditionFailed("object exists")

    client = types.SimpleNamespace(
        bucket=lambda b: types.SimpleNamespace(blob=lambda name: Blob(b, name))
    )
    cloud = types.ModuleType("google.cloud")
    cloud.storage = types.SimpleNamespace(Client=lambda: client)
    api_core = types.ModuleType("google.api_core")
    api_core.exceptions = types.SimpleNamespace(PreconditionFailed=PreconditionFailed)
    monkeypatch.setitem(sys.modules, "google.cloud", cloud)
    monkeypatch.setitem(sys.modules, "google.cloud.storage", cloud.storage)
    monkeypatch.setitem(sys.modules, "google.api_core", api_core)
    monkeypatch.setitem(sys.modules, "google.api_core.exceptions", api_core.exceptions)
    path = "gs://bucket/data/run/" + claims.CLAIM
    assert claims.create_exclusive(path, b"first") is True
    assert claims.create_exclusive(path, b"second") is False
    assert calls == [
        (("bucket", "data/run/" + claims.CLAIM), b"first", 0),
        (("bucket", "data/run/" + claims.CLAIM), b"second", 0),
    ]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
    return subprocess.Popen(
        [sys.executable, "-m", "digitseq", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _race(first: list[str], second: list[str]) -> list[tuple[int, str]]:
    jobs = [_start(first), _start(second)]
    return [(job.wait(timeout=600), job.communicate()[1]) for job in jobs]


def _one_winner(results, out) -> int:
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2).strip()
    assert len(loser.splitlines()) == 1 and f"--out {out}: claimed by job " in loser, loser
    assert "which is still running" in loser
    assert not os.path.exists(os.path.join(out, claims.CLAIM))
    return next(i for i, (code, _) in enumerate(results) if code == 0)


@pytest.mark.slow
def test_two_render_jobs_on_one_directory_leave_one_verified_dataset(tmp_path):
    out = str(tmp_path / "out")
    base = [
        "render",
        "--out",
        out,
        "--mnist",
        "sample",
        "--mode",
        "variable",
        "--train",
        "3000",
        "--validation",
        "100",
        "--test",
        "100",
    ]
    winner = _one_winner(_race([*base, "--seed", "1"], [*base, "--seed", "2"]), out)
    metadata = dataset.load_metadata(out)
    assert metadata["seed"] == winner + 1
    dataset_writer.verify_files(out, metadata)
    seen = sum(
        int(batch_labels["label"].shape[0])
        for _, batch_labels in data.make_dataset(out, "train", 64, training=False)
    )
    assert seen == 3000


@pytest.mark.slow
def test_two_ingest_jobs_on_one_directory_leave_one_verified_dataset(tmp_path):
    from tests.scans import write_scans

    write_scans(tmp_path / "in")
    out = str(tmp_path / "out")
    base = [
        "ingest",
        "--images",
        str(tmp_path / "in" / "scans" / "*"),
        "--labels",
        str(tmp_path / "in" / "labels.csv"),
        "--out",
        out,
    ]
    _one_winner(_race([*base, "--test-fraction", "0.2"], [*base, "--test-fraction", "0.3"]), out)
    metadata = dataset.load_metadata(out)
    dataset_writer.verify_files(out, metadata)
    assert metadata["ingest"]["records"] == 12


@pytest.mark.slow
def test_two_prediction_runs_on_one_directory_leave_one_run(
    tmp_path, trained_model, variable_dataset
):
    out = str(tmp_path / "out")
    base = [
        "predict",
        "--model",
        trained_model,
        "--input",
        os.path.join(variable_dataset, "test", "*"),
        "--out",
        out,
    ]
    winner = _one_winner(_race([*base, "--decoder", "greedy"], [*base, "--decoder", "beam"]), out)
    run = json.loads(open(os.path.join(out, prediction.RUN)).read())
    assert run["decoder"] == ["greedy", "beam"][winner] and run["job"]["id"]


def test_predict_refuses_a_dataset_directory_as_its_output_even_with_overwrite(tmp_path):
    from digitseq.pipelines.predict import writing

    out = tmp_path / "data"
    assert render(out, *SMALL_RENDER) == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(
        ConfigError,
        match=r"is a dataset directory \(it holds metadata.json and "
        r"COMPLETED\); expected a directory of its own",
    ):
        with writing.claim_output_dir(str(out), overwrite=True, command="digitseq predict"):
            pass
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_clearing_a_killed_jobs_claim_removes_what_it_left_in_one_command(tmp_path):
    from digitseq.pipelines.predict import writing

    data = tmp_path / "data"
    (data / dataset.TEMP).mkdir(parents=True)
    (data / dataset.TEMP / "train-w0140-00000-of-00001.tfrecord.gz-1.tmp").write_bytes(b"half")
    (data / "train").mkdir()
    _leave_claim(data, pid=_dead_pid())
    assert render(data, *SMALL_RENDER, "--clear-claim") == 0  # no --overwrite needed
    assert dataset.load_metadata(str(data))["counts"]["train"] == 10
    assert not (data / dataset.TEMP).exists()

    scored = tmp_path / "scored"
    temp = scored / f"{prediction.BEAM_TEMP}predictions-0a1b"
    temp.mkdir(parents=True)
    (temp / "rows").write_text('{"id": "x"}\n' * 3000)
    _leave_claim(scored, pid=_dead_pid())
    with writing.claim_output_dir(
        str(scored), overwrite=False, command="digitseq predict", clear_claim=True
    ):
        pass
    assert claims.read(str(scored)) is None
    assert not temp.exists()
    (temp / "rows").parent.mkdir()  # a stray temp folder without a killed claim: --overwrite
    with pytest.raises(ConfigError, match="already holds prediction outputs"):
        with writing.claim_output_dir(str(scored), overwrite=False, command="digitseq predict"):
            pass
