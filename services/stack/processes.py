"""Starting, watching and stopping the stack's processes, with psutil (Linux and macOS alike).

Every service starts in a session of its own, so its process group holds exactly what it
started (gunicorn's workers, TorchServe's frontend and model workers) and stopping the group
ends all of it, even children that outlived their parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil


class StackError(RuntimeError):
    """A process of the stack did not start; the message says why and where its log is."""


def free_port() -> int:
    """A TCP port nothing listens on right now (for private servers in tests and benchmarks)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn(
    command: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session, stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass
class Service:
    """One started process (the leader of its own process group) and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to the whole group, SIGKILL to what is left after ``timeout_s``."""
        stop_group(self.pid, timeout_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def wait_until_ready(
    service: Service, ready: Callable[[], bool], wait_s: float, poll_s: float = 0.1
) -> None:
    """Poll ``ready`` until it is true; a StackError if the process exits or time runs out."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not service.running():
            raise StackError(
                f"{service.name} exited at start; see {service.log}:\n{tail(service.log)}"
            )
        if ready():
            return
        time.sleep(poll_s)
    service.stop()
    raise StackError(f"{service.name} did not answer within {wait_s:.0f} s; see {service.log}")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of a process group."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (OSError, psutil.Error):
            continue  # gone meanwhile
    return members


def stop_group(pgid: int, timeout_s: float = 30.0) -> bool:
    """SIGTERM to a group we started, wait until all of it is gone, then SIGKILL; False if none."""
    members = group_members(pgid)
    if not members:
        return False
    _signal_group(pgid, signal.SIGTERM)
    _, lingering = psutil.wait_procs(members, timeout=timeout_s)
    if lingering or group_members(pgid):
        _signal_group(pgid, signal.SIGKILL)
        psutil.wait_procs(group_members(pgid), timeout=10)
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
