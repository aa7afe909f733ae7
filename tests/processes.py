"""Processes the tests start: their descendants (from /proc, Linux), ending them by id, ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


def stat(pid: int) -> list[str] | None:
    """Fields of `/proc/<pid>/stat` after the command name (parent at 1, start time at 19)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := stat(int(entry))):
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Tree:
    """Remembers the descendants of a process seen so far, to end them (and only them) later."""

    def __init__(self, root: subprocess.Popen):
        self.root = root
        self.seen: dict[int, str] = {}  # pid -> start time, so a reused pid is never ended

    def look(self) -> list[int]:
        pids = descendants(self.root.pid)
        self.seen.update((pid, fields[19]) for pid in pids if (fields := stat(pid)))
        return pids

    def end(self, timeout: float = 30) -> None:
        """Terminates the root (killed after `timeout` s), then kills descendants still alive."""
        self.look()
        if self.root.poll() is None:
            self.root.terminate()
            try:
                self.root.wait(timeout)
            except subprocess.TimeoutExpired:
                self.root.kill()
                self.root.wait()
        for pid, start in self.seen.items():
            if (fields := stat(pid)) and fields[19] == start and fields[0] != "Z":
                os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, *, timeout: float = 120) -> None:
    """Returns once `localhost:port` accepts connections; fails if `process` exits first or the
    port is still closed after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("localhost", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{process.args} exited with {process.returncode} before "
                    f"listening on port {port}"
                ) from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} after {timeout} s") from None
            time.sleep(0.1)
