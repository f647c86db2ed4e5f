"""A TorchServe of our own: for tests, benchmarks and the local stack.

Each instance gets its own folder (config, logs, pid file via TMPDIR, and the key file TorchServe
writes into its working directory) and its own process group, so stopping it ends exactly the
processes it started: the launcher, the Java frontend and the Python model workers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from model_archive.client import TorchServeClient
from model_archive.config import KEY_FILE, ServerConfig
from services.stack.processes import Service, StackError, free_port, spawn, wait_until_ready

JAVA_MAJOR = 17
JAVA_HINT = f"TorchServe needs Java {JAVA_MAJOR}: install it (Debian: apt-get install openjdk-17-jre-headless)"


def check_java() -> int:
    """The Java major version, or a StackError that says how to install Java 17."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if java is None or not os.path.exists(java):
        raise StackError(f"java not found. {JAVA_HINT}")
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', done.stderr + done.stdout)
    if match is None:
        raise StackError(f"cannot tell the Java version ({done.stderr.strip()}). {JAVA_HINT}")
    major = int(match.group(1))
    if major < JAVA_MAJOR:
        raise StackError(f"Java {major} is too old. {JAVA_HINT}")
    return major


def config_on_free_ports(model_store: Path) -> ServerConfig:
    """A private TorchServe's addresses: every port free (two servers need two of each)."""
    return ServerConfig(
        model_store,
        inference_port=free_port(),
        management_port=free_port(),
        metrics_port=free_port(),
        grpc_inference_port=free_port(),
        grpc_management_port=free_port(),
    )


def key_file_in(folder: Path) -> Path:
    """Where the TorchServe started in ``folder`` writes its keys (known before it starts)."""
    return folder / KEY_FILE


@dataclass
class TorchServeProcess(Service):
    config: ServerConfig
    key_file: Path

    @property
    def client(self) -> TorchServeClient:
        return TorchServeClient(
            self.config.inference_url, self.config.management_url, key_file=self.key_file
        )


def start_torchserve(
    folder: Path, config: ServerConfig, wait_s: float = 120.0
) -> TorchServeProcess:
    """Start TorchServe in the foreground of a new process group and wait until it answers.

    The folder is private (0700): TorchServe writes its key file before it narrows the file's mode.
    """
    check_java()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    key_file = key_file_in(folder)
    key_file.unlink(missing_ok=True)  # a previous run's keys would be refused: wait for new ones
    config.model_store.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    properties = config.write(folder / "config.properties")
    env = {
        "TMPDIR": str(folder / "tmp"),  # TorchServe keeps its pid file there: one per instance
        "LOG_LOCATION": str(folder / "logs"),
        "METRICS_LOCATION": str(folder / "logs"),
    }
    launcher = Path(sys.executable).parent / "torchserve"
    command = [
        str(launcher) if launcher.exists() else "torchserve",
        "--start", "--foreground", "--ncs",
        "--ts-config", str(properties), "--model-store", str(config.model_store),
    ]  # fmt: skip
    log = folder / "torchserve.log"
    process = spawn(command, log, env, cwd=folder)  # the key file lands in the working directory
    server = TorchServeProcess("torchserve", process, log, config, key_file)
    wait_until_ready(server, server.client.ping, wait_s, poll_s=0.2)  # /ping wants the key too
    key_file.chmod(0o600)  # TorchServe 0.12 does so itself; a later version might not
    return server
