"""Output directories that one job owns at a time: a claim file created only if absent.

A job that writes a directory (a dataset, a prediction run) first creates `<dir>/.digitseq-claim`
holding its job id, host, process id, start time and command, and removes it when it ends. The
file is created exclusively, so of two jobs started together on one directory exactly one gets
it; the other fails with one line naming the job that holds it:

- local paths: the claim is written to a temporary file that is then hard-linked to its name
  (`os.link` fails if the name exists), so a reader never sees a half-written claim;
- `gs://`: an upload with Cloud Storage's generation precondition `if_generation_match=0`
  (google-cloud-storage, installed with the `gcp` extra and with `apache-beam[gcp]`);
- other schemes (`s3://`, `hdfs://`, ...) offer no exclusive create through `tf.io.gfile`: the
  claim is written if absent and read back, which catches jobs started seconds apart but not two
  started in the same instant.

A job killed before it could remove its claim leaves it behind. Such a claim is recognisable: on
the same host its process is gone (the message says so); from another host it cannot be told
from a running job's, so the message names the job and its host. `clear_stale` (the `--clear-claim`
flag) removes a claim first, unless its process is alive on this host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence

from digitseq.core import storage
from digitseq.core.errors import ConfigError

CLAIM = ".digitseq-claim"
CLEAR_FLAG = "clear_claim"
"""The config field (`--clear-claim`) that clears a stale claim."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """Who owns a directory: the content of its claim file."""

    directory: str
    job_id: str
    host: str
    pid: int
    started: str
    command: str

    @property
    def path(self) -> str:
        return os.path.join(self.directory, CLAIM)

    def to_json(self) -> dict:
        return {
            "job_id": self.job_id,
            "host": self.host,
            "pid": self.pid,
            "started": self.started,
            "command": self.command,
        }

    def identity(self) -> dict:
        """What a prediction run's `run.json` records of the job that wrote it."""
        return {"id": self.job_id, "started": self.started}

    def describe(self) -> str:
        return (
            f"job {self.job_id} ({self.command}, pid {self.pid} on host {self.host}, "
            f"started {self.started})"
        )

    def is_alive(self) -> bool | None:
        """Whether its process runs: True or False on this host, None (unknown) elsewhere."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def new_claim(directory: str, command: str) -> Claim:
    """A claim for a new job of this process on `directory` (not yet written)."""
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return Claim(
        directory=directory,
        job_id=uuid.uuid4().hex[:12],
        host=socket.gethostname(),
        pid=os.getpid(),
        started=started,
        command=command,
    )


def read(directory: str) -> Claim | None:
    """The claim on `directory`, or None if it has none."""
    import tensorflow as tf

    path = os.path.join(directory, CLAIM)
    try:
        data = json.loads(storage.read_bytes(path))
        return Claim(
            directory=directory,
            job_id=str(data["job_id"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            started=str(data["started"]),
            command=str(data["command"]),
        )
    except tf.errors.NotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return Claim(
            directory=directory,
            job_id="unknown",
            host="unknown",
            pid=-1,
            started="unknown",
            command=f"an unreadable {CLAIM}",
        )


def create_exclusive(path: str, data: bytes) -> bool:
    """Creates `path` with `data` if it does not exist; False if it does."""
    if path.startswith("gs://"):
        return _create_gcs(path, data)
    if "://" not in path:
        written = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(written, "wb") as f:
            f.write(data)
        try:
            os.link(written, path)
        except FileExistsError:
            return False
        finally:
            os.remove(written)
        return True
    import tensorflow as tf

    if tf.io.gfile.exists(path):
        return False
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)
    return storage.read_bytes(path) == data


def _create_gcs(path: str, data: bytes) -> bool:
    try:
        from google.api_core import exceptions
        from google.cloud import storage as gcs
    except ImportError:
        raise ConfigError(
            "out_dir",
            os.path.dirname(path),
            "claiming a gs:// directory needs google-cloud-storage (pip install 'digitseq[gcp]')",
        ) from None
    bucket, _, name = path.removeprefix("gs://").partition("/")
    try:
        gcs.Client().bucket(bucket).blob(name).upload_from_string(data, if_generation_match=0)
    except exceptions.PreconditionFailed:
        return False
    return True


def _held_error(directory: str, holder: Claim) -> ConfigError:
    alive = holder.is_alive()
    if alive is False:
        state = (
            f"whose process is no longer running (a killed job's claim); pass "
            f"{CLEAR_FLAG} to clear it"
        )
    elif alive:
        state = "which is still running"
    else:
        state = f"on another host; if that job no longer runs, pass {CLEAR_FLAG} to clear it"
    return ConfigError(
        "out_dir", directory, f"claimed by {holder.describe()}, {state}", others=[CLEAR_FLAG]
    )


def acquire(directory: str, *, command: str, clear_stale: bool = False) -> Claim:
    """Claims `directory` (creating it) for a new job of this process.

    Raises:
      ConfigError: another job holds it (naming that job), or it cannot be written.
    """
    import tensorflow as tf

    claim = new_claim(directory, command)
    data = (json.dumps(claim.to_json(), indent=2) + "\n").encode()
    try:
        tf.io.gfile.makedirs(directory)
        if clear_stale:
            holder = read(directory)
            if holder is not None and holder.is_alive():
                raise _held_error(directory, holder)
            if holder is not None:
                tf.io.gfile.remove(claim.path)
        if not create_exclusive(claim.path, data):
            raise _held_error(directory, read(directory) or claim)
    except (tf.errors.OpError, OSError) as err:
        reason = getattr(err, "message", None) or str(err)
        raise ConfigError("out_dir", directory, f"cannot write there ({reason})") from None
    return claim


@contextlib.contextmanager
def claimed(
    directory: str,
    *,
    command: str,
    leftovers: Callable[[], Sequence[str]] = list,
    holds: str = "outputs",
    overwrite: bool = False,
    clear_stale: bool = False,
) -> Iterator[Claim]:
    """The one claim lifecycle of every job: `with claimed(...) as claim:` holds `directory`
    for the block and releases it however the block ends. After `acquire`, what an earlier run
    left in `directory` (`leftovers()`: paths, files or folders) is removed with `overwrite`, or
    refused without it.

    When `clear_stale` clears a killed job's claim, what is left is that job's (it started on an
    empty directory, or emptied it with `overwrite`), half written: it is removed as with
    `overwrite`, so one command recovers a killed job's directory.

    Raises:
      ConfigError: another job holds the directory, it cannot be written, or it holds `holds`
        (say, "a dataset") and `overwrite` is false.
    """
    import tensorflow as tf

    killed = clear_stale and read(directory) is not None  # acquire refuses a live holder
    claim = acquire(directory, command=command, clear_stale=clear_stale)
    try:
        found = sorted(leftovers())
        if found and not (overwrite or killed):
            shown = os.path.basename(found[0]) + (" ..." if len(found) > 1 else "")
            raise ConfigError(
                "out_dir",
                directory,
                f"already holds {holds} ({shown}); pass overwrite to replace what is there",
                others=["overwrite"],
            )
        for path in found:
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)
        yield claim
    finally:
        release(claim)


def check_held(claim: Claim) -> None:
    """Raises `ConfigError` unless `claim` still owns its directory."""
    holder = read(claim.directory)
    if holder is None or holder.job_id != claim.job_id:
        now = holder.describe() if holder else "nobody"
        raise ConfigError(
            "out_dir",
            claim.directory,
            f"job {claim.job_id} lost its claim (now "
            f"held by {now}); its outputs may be mixed with another job's",
        )


def release(claim: Claim) -> None:
    """Removes the claim file if it is still this job's."""
    import tensorflow as tf

    holder = read(claim.directory)
    if holder is not None and holder.job_id == claim.job_id:
        tf.io.gfile.remove(claim.path)
