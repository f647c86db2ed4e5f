"""Start and stop a TorchServe process of our own: for tests, benchmarks and the local stack.

Each instance gets its own folder (config, logs, pid file via TMPDIR) and its own process group,
so stopping it ends exactly the processes it started: the launcher, the Java frontend and the
Python model workers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from model_archive.config import ServerConfig, free_port  # noqa: F401  (re-exported)
from services.torchserve_client import TorchServeClient

JAVA_MAJOR = 17
JAVA_HINT = f"TorchServe needs Java {JAVA_MAJOR}: install it (Debian: apt-get install openjdk-17-jre-headless)"


class ServerError(RuntimeError):
    """TorchServe could not be started; the message says why."""


def check_java() -> int:
    """The Java major version, or a ServerError that says how to install Java 17."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if java is None or not os.path.exists(java):
        raise ServerError(f"java not found. {JAVA_HINT}")
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', done.stderr + done.stdout)
    if match is None:
        raise ServerError(f"cannot tell the Java version ({done.stderr.strip()}). {JAVA_HINT}")
    major = int(match.group(1))
    if major < JAVA_MAJOR:
        raise ServerError(f"Java {major} is too old. {JAVA_HINT}")
    return major


@dataclass
class TorchServeProcess:
    process: subprocess.Popen[bytes]
    config: ServerConfig
    folder: Path

    @property
    def client(self) -> TorchServeClient:
        host = "127.0.0.1" if self.config.bind in ("0.0.0.0", "127.0.0.1") else self.config.bind
        return TorchServeClient(
            f"http://{host}:{self.config.inference_port}",
            f"http://{host}:{self.config.management_port}",
        )

    @property
    def log(self) -> Path:
        return self.folder / "torchserve.log"

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to our process group, then SIGKILL if it lingers."""
        if not self.running():
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        _signal_group(self.process.pid, signal.SIGKILL)  # model workers that outlived the frontend


def start_torchserve(
    folder: Path, config: ServerConfig, wait_s: float = 120.0
) -> TorchServeProcess:
    """Start TorchServe in the foreground of a new process group and wait until it answers."""
    check_java()
    folder.mkdir(parents=True, exist_ok=True)
    config.model_store.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    properties = config.write(folder / "config.properties")
    env = dict(os.environ)
    env.update(
        TMPDIR=str(folder / "tmp"),  # TorchServe keeps its pid file there: one per instance
        LOG_LOCATION=str(folder / "logs"),
        METRICS_LOCATION=str(folder / "logs"),
    )
    launcher = Path(sys.executable).parent / "torchserve"
    command = [
        str(launcher) if launcher.exists() else "torchserve",
        "--start",
        "--foreground",
        "--ncs",
        "--ts-config",
        str(properties),
        "--model-store",
        str(config.model_store),
    ]
    with open(folder / "torchserve.log", "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = TorchServeProcess(process, config, folder)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not server.running():
            raise ServerError(f"TorchServe exited at start; see {server.log}:\n{_tail(server.log)}")
        if server.client.ping():
            return server
        time.sleep(0.2)
    server.stop()
    raise ServerError(f"TorchServe did not answer within {wait_s:.0f} s; see {server.log}")


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)  # the group we created with start_new_session: only our processes


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
