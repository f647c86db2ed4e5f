"""Stopping a child process we started: politely, then firmly."""

from __future__ import annotations

import subprocess


def terminate(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL; a process already gone is left alone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
