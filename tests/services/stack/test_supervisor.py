"""The supervisor that keeps the local stack's TorchServe running: its backoff, and a real drill
(TorchServe SIGKILLed, started again on the same ports without anyone asking)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from services.stack.processes import group_members
from services.stack.supervisor import (
    FIRST_DELAY_S,
    MAX_DELAY_S,
    STEADY_S,
    restart_delay,
    start_supervised,
    stop_left_over,
    torchserve_pid,
)
from services.stack.torchserve import config_on_free_ports


def test_restarts_slow_down_while_torchserve_keeps_dying_and_reset_after_a_long_run() -> None:
    delays = [restart_delay(2.0, None)]
    for _ in range(8):
        delays.append(restart_delay(2.0, delays[-1]))
    assert delays[0] == FIRST_DELAY_S and delays[1] == 2 * FIRST_DELAY_S
    assert delays == sorted(delays) and delays[-1] == MAX_DELAY_S
    assert restart_delay(STEADY_S + 1, MAX_DELAY_S) == FIRST_DELAY_S


def test_a_killed_torchserve_is_started_again_on_its_ports(tmp_path: Path) -> None:
    config = config_on_free_ports(tmp_path / "store")
    folder = tmp_path / "torchserve"
    supervisor = start_supervised(folder, config)
    try:
        first = torchserve_pid(folder)
        assert first is not None and supervisor.client.ping()
        members = [psutil.Process(first), *psutil.Process(first).children(recursive=True)]
        killed = time.monotonic()
        os.killpg(first, signal.SIGKILL)
        psutil.wait_procs(members, timeout=10)
        deadline = killed + 60
        while not (supervisor.client.ping() and torchserve_pid(folder) not in (None, first)):
            assert time.monotonic() < deadline, (folder / "supervisor.log").read_text()[-2000:]
            time.sleep(0.2)
        print(f"TorchServe answered again {time.monotonic() - killed:.1f} s after the kill")
        assert supervisor.running()  # the supervisor lives on in a group of its own
        second = torchserve_pid(folder)
        assert "starting it again" in (folder / "supervisor.log").read_text()
    finally:
        supervisor.stop()
    assert second is not None and not group_members(second) and not group_members(supervisor.pid)
    assert torchserve_pid(folder) is None


def test_the_torchserve_of_a_killed_supervisor_is_stopped_by_down(tmp_path: Path) -> None:
    folder = tmp_path / "torchserve"
    supervisor = start_supervised(folder, config_on_free_ports(tmp_path / "store"))
    orphan = torchserve_pid(folder)
    assert orphan is not None
    try:
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.process.wait(timeout=10)
        assert group_members(orphan)  # SIGKILL gave the supervisor no time to stop it
    finally:
        assert stop_left_over(folder)  # what `ganfoundry-stack down` does after its own pids
    assert not group_members(orphan) and torchserve_pid(folder) is None
    assert not stop_left_over(folder)
