"""Keeps one TorchServe running: starts it, and starts it again whenever it dies.

The local stack runs TorchServe under this supervisor (compose has its restart policy instead):
a SIGKILLed or crashed TorchServe is started again on the same ports within a second or two of
its death, and the workers' reconciler then registers every recorded model. A TorchServe that
keeps dying soon after it starts is retried ever more slowly (``restart_delay``). SIGTERM stops
TorchServe (its whole process group), then the supervisor.

    python -m services.stack.supervisor FOLDER     # FOLDER/supervisor.json holds the config
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from model_archive.config import ServerConfig
from services.stack.processes import StackError, spawn, stop_group, wait_until_ready
from services.stack.torchserve import TorchServeProcess, key_file_in, start_torchserve

logger = logging.getLogger("ganfoundry.supervisor")
CONFIG_FILE = "supervisor.json"
PID_FILE = "torchserve.pid"  # the running TorchServe's process group, for drills and status
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
STEADY_S = 60.0  # a TorchServe that ran this long died of something new: start again soon
POLL_S = 0.2


def restart_delay(ran_s: float, previous_s: float | None) -> float:
    """Seconds to wait before the next start: short after a long run, doubling (at most
    MAX_DELAY_S) while TorchServe keeps dying within STEADY_S of its start."""
    if previous_s is None or ran_s >= STEADY_S:
        return FIRST_DELAY_S
    return min(previous_s * 2, MAX_DELAY_S)


def supervise(folder: Path, config: ServerConfig, stop: threading.Event) -> None:
    """Run TorchServe until ``stop`` is set, starting it again each time it ends."""
    delay: float | None = None
    while not stop.is_set():
        started = time.monotonic()
        server = _start(folder, config)
        if server is not None:
            (folder / PID_FILE).write_text(f"{server.pid}\n")
            while not stop.is_set() and server.running():
                stop.wait(POLL_S)
            stop_group(server.pid, timeout_s=30 if stop.is_set() else 5)  # what is left of it
            if stop.is_set():
                break
        ran_s = time.monotonic() - started
        delay = restart_delay(ran_s, delay)
        logger.warning("TorchServe ended after %.1f s; starting it again in %.1f s", ran_s, delay)
        stop.wait(delay)
    (folder / PID_FILE).unlink(missing_ok=True)


def _start(folder: Path, config: ServerConfig) -> TorchServeProcess | None:
    try:
        return start_torchserve(folder, config)
    except StackError as error:  # e.g. its ports not free yet
        logger.error("TorchServe did not start: %s", error)
        return None


def start_supervised(
    folder: Path, config: ServerConfig, wait_s: float = 120.0
) -> TorchServeProcess:
    """The supervisor as a process of its own (its own group); returns once TorchServe answers
    and its pid is known.

    The process returned is the supervisor's: stopping it stops TorchServe too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fields = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    (folder / CONFIG_FILE).write_text(json.dumps(fields, indent=2) + "\n")
    (folder / PID_FILE).unlink(missing_ok=True)  # an earlier supervisor's, if it was killed
    command = [sys.executable, "-m", "services.stack.supervisor", str(folder)]
    log = folder / "supervisor.log"
    supervisor = TorchServeProcess(
        "torchserve", spawn(command, log), log, config, key_file_in(folder)
    )
    # the pid file comes once TorchServe has started, just after it first answers
    ready = lambda: torchserve_pid(folder) is not None and supervisor.client.ping()  # noqa: E731
    wait_until_ready(supervisor, ready, wait_s, poll_s=0.2)
    return supervisor


def torchserve_pid(folder: Path) -> int | None:
    """The process group of the TorchServe the supervisor in ``folder`` runs now."""
    try:
        return int((folder / PID_FILE).read_text())
    except (OSError, ValueError):
        return None


def stop_left_over(folder: Path) -> bool:
    """Stop the TorchServe of a supervisor that was killed (SIGKILL leaves it running); False
    when there is none."""
    pid = torchserve_pid(folder)
    stopped = pid is not None and stop_group(pid)
    (folder / PID_FILE).unlink(missing_ok=True)
    return stopped


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    folder = Path((argv or sys.argv[1:])[0])
    fields = json.loads((folder / CONFIG_FILE).read_text())
    config = ServerConfig(**{**fields, "model_store": Path(fields["model_store"])})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    supervise(folder, config, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
