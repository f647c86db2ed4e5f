"""ganfoundry-worker: one Celery worker process per GPU (or one for the CPU), supervised.

Each process uses the solo pool: the task runs in the worker process itself, so nothing forks
after torch is loaded and CUDA is only ever initialised in the process that trains. Each is
pinned to its GPU with CUDA_VISIBLE_DEVICES and gets an equal share of the CPU threads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from workers.celery_app import TRAINING_QUEUE
from workers.engine.cpus import available_cpus
from workers.settings import EnvSettings, SettingsError


class SupervisorSettings(EnvSettings):
    # GPU indices, '0,1'; '' for none; unset or 'all': what nvidia-smi lists
    gpus: str | None = None
    # True (compose.yaml's GPU workers): no GPU is a clean exit, not a CPU run
    require_gpu: bool = False


NO_GPU = (
    "ganfoundry-worker: GANFOUNDRY_REQUIRE_GPU is set (docker/compose.yaml asks for NVIDIA GPUs) "
    "but no GPU is visible here, so this worker stops instead of training on the CPU. On a host "
    "without GPUs add the CPU override: -f docker/compose.yaml -f docker/compose.cpu.yaml"
)


def visible_gpus() -> list[str]:
    """GPU indices from GANFOUNDRY_GPUS ('0,1'; '' for none) or nvidia-smi; no CUDA init here."""
    configured = SupervisorSettings.from_env().gpus
    if configured is not None and configured.strip() != "all":
        picked = [g.strip() for g in configured.split(",") if g.strip()]
        if not all(g.isdigit() for g in picked):
            raise SettingsError(f"GANFOUNDRY_GPUS: {configured!r} is not a list like '0,1' or ''")
        return picked
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    query = [smi, "--query-gpu=index", "--format=csv,noheader"]
    listing = subprocess.run(query, capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        return []
    return [line.strip() for line in listing.stdout.splitlines() if line.strip().isdigit()]


def worker_commands(gpus: list[str], loglevel: str) -> list[tuple[list[str], dict[str, str]]]:
    """The celery command and environment of each worker process."""
    host = socket.gethostname()
    slots = gpus or [""]
    threads = max(1, available_cpus() // len(slots))
    commands = []
    metrics_port = int(os.environ.get("GANFOUNDRY_WORKER_METRICS_PORT") or 0)
    for index, gpu in enumerate(slots):
        name = f"gpu{gpu}@{host}" if gpu else f"cpu@{host}"
        command = [
            sys.executable, "-m", "celery", "-A", "workers.worker_app", "worker",
            "--queues", TRAINING_QUEUE, "--pool", "solo", "--concurrency", "1",
            "--hostname", name, "--loglevel", loglevel, "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        env = {
            "CUDA_VISIBLE_DEVICES": gpu,
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # number GPUs as nvidia-smi does
            "GANFOUNDRY_TORCH_THREADS": str(threads),
        }
        if metrics_port:  # one port each, numbered on from the one set
            env["GANFOUNDRY_WORKER_METRICS_PORT"] = str(metrics_port + index)
        commands.append((command, env))
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ganfoundry-worker", description=__doc__.split("\n")[0])
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)
    gpus = visible_gpus()
    if not gpus and SupervisorSettings.from_env().require_gpu:
        print(NO_GPU, file=sys.stderr, flush=True)
        return 0
    children = [
        subprocess.Popen(command, env={**os.environ, **env})
        for command, env in worker_commands(gpus, args.loglevel)
    ]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # One process gone (crashed, killed) ends the rest too, so a supervisor or a container's
    # restart policy brings the whole set back rather than leaving a GPU idle.
    while all(child.poll() is None for child in children):
        time.sleep(1)
    forward(signal.SIGTERM, None)
    return max(child.wait() for child in children)


if __name__ == "__main__":
    sys.exit(main())
