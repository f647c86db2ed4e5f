"""The compose stack in containers, driven with podman-compose: build, up, faults, removal.

The compose test (``tests/compose``) and ``bench/compose.py`` use it; both run the real
``docker/compose.yaml`` with the CPU override on podman (``scripts/setup-containers.sh`` installs
it). Each stack has a project name of its own, so its containers, networks, volumes and images are
its own and ``remove`` takes away exactly those. Podman 4.3 runs no healthcheck by itself without
systemd and podman-compose ignores ``condition: service_healthy`` on it, so ``wait_healthy`` runs
each service's own compose healthcheck with ``podman healthcheck run`` until it passes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCAL_BASE = "localhost/ganfoundry-base:bookworm-slim"  # scripts/setup-containers.sh makes it
SERVICES = ("redis", "torchserve", "gateway", "worker")
MONITORING = ("flower", "prometheus")  # compose's "monitoring" profile (flower: the gateway image)
COMPOSE_FILES = ("docker/compose.yaml", "docker/compose.cpu.yaml")
CA_IN_BUILD = "/run/ganfoundry/ca.crt"  # a path of its own: not over the image's own bundle


class ComposeError(RuntimeError):
    """A podman or podman-compose command failed; the message carries its output."""


def podman_compose() -> str:
    """podman-compose from this virtual environment, else from PATH."""
    beside = Path(sys.executable).with_name("podman-compose")
    found = str(beside) if beside.exists() else shutil.which("podman-compose")
    if found is None or shutil.which("podman") is None:
        raise ComposeError("podman and podman-compose are needed: run make setup-containers")
    return found


def run(
    command: list[str], timeout_s: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if check and done.returncode != 0:
        raise ComposeError(
            f"{shlex.join(command)} -> {done.returncode}\n{done.stdout}{done.stderr}"
        )
    return done


def pip_config() -> dict[str, str]:
    """This machine's pip settings (``pip config list``): its index and CA bundle, if any."""
    listing = run([sys.executable, "-m", "pip", "config", "list"], 60, check=False).stdout
    found: dict[str, str] = {}
    for line in listing.splitlines():
        match = re.fullmatch(r"[\w:.]+?\.([\w-]+)='(.*)'", line.strip())
        if match:
            found.setdefault(match[1], match[2])
    return found


def host_build_args(config: dict[str, str]) -> list[str]:
    """podman build options that let pip inside a build use this host's index and CA bundle:
    the local indexes mounted read-only where pip.conf names them, the CA at a path of its own."""
    args: list[str] = []
    indexes = config.get("extra-index-url", "").split()
    for url in indexes:
        if url.startswith("file://"):
            folder = url.removeprefix("file://").rstrip("/").removesuffix("/simple")
            args.append(f"--volume={folder}:{folder}:ro")
    if indexes:
        args.append(f"--build-arg=PIP_EXTRA_INDEX_URL={' '.join(indexes)}")
    cert = config.get("cert")
    if cert and Path(cert).is_file():
        args += [f"--volume={cert}:{CA_IN_BUILD}:ro", f"--build-arg=PIP_CERT={CA_IN_BUILD}"]
    return args


@dataclass
class ComposeStack:
    """One compose project: its env file, its published gateway port, its key."""

    project: str
    workdir: Path
    port: int
    key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    files: tuple[str, ...] = COMPOSE_FILES
    base_image: str = LOCAL_BASE
    # with the monitoring profile: Flower and Prometheus on these host ports (loopback), and
    # the secrets they need generated
    monitoring_ports: tuple[int, int] | None = None
    metrics_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    flower_auth: str = field(default_factory=lambda: f"operator:{secrets.token_urlsafe(18)}")
    # every image id there was before this stack first built: what ``remove`` leaves alone
    images_before: set[str] | None = None

    @property
    def env_file(self) -> Path:
        return self.workdir / ".env"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tag(self) -> str:
        return self.project

    @property
    def services(self) -> tuple[str, ...]:
        return SERVICES + (MONITORING if self.monitoring_ports else ())

    def images(self) -> list[str]:
        built = SERVICES + (("prometheus",) if self.monitoring_ports else ())
        return [f"localhost/ganfoundry/{service}:{self.tag}" for service in built]

    def write_env(self) -> Path:
        """The project's .env: a generated key, its port, the local base for every image."""
        values = {
            "GANFOUNDRY_API_KEYS": self.key,
            "GANFOUNDRY_GATEWAY_PORT": str(self.port),
            "GANFOUNDRY_TAG": self.tag,
            "GANFOUNDRY_CUDA_BASE_IMAGE": self.base_image,
            "GANFOUNDRY_SLIM_BASE_IMAGE": self.base_image,
        }
        if self.monitoring_ports:
            flower, prometheus = self.monitoring_ports
            values |= {
                "GANFOUNDRY_METRICS_KEY": self.metrics_key,
                "GANFOUNDRY_FLOWER_AUTH": self.flower_auth,
                "GANFOUNDRY_FLOWER_PORT": str(flower),
                "GANFOUNDRY_PROMETHEUS_PORT": str(prometheus),
            }
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
        self.env_file.chmod(0o600)
        return self.env_file

    def compose(
        self, *args: str, timeout_s: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [podman_compose(), "--env-file", str(self.env_file), "-p", self.project]
        for name in self.files:
            command += ["-f", str(ROOT / name)]
        if self.monitoring_ports:
            command += ["--profile", "monitoring"]
        return run([*command, *args], timeout_s, check)

    def build(self, timeout_s: float = 1800, no_cache: bool = False) -> float:
        """Every image, one at a time (the worker and TorchServe then share the torch stage's
        layers from the build cache); seconds taken. ``no_cache``: every layer made again."""
        if self.images_before is None:
            self.images_before = self.image_ids()
        began = time.monotonic()
        options = host_build_args(pip_config()) + (["--no-cache"] if no_cache else [])
        build_args = " ".join(shlex.quote(a) for a in options)
        self.compose(
            "--parallel", "1", "--podman-build-args", build_args, "build", timeout_s=timeout_s
        )
        return time.monotonic() - began

    def image_ids(self) -> set[str]:
        return set(self.podman("images", "-aq", "--no-trunc").stdout.split())

    def up(self) -> None:
        self.compose("up", "-d", "--no-build", timeout_s=300)

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def podman(
        self, *args: str, timeout_s: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(["podman", *args], timeout_s, check)

    def healthy(self, service: str) -> bool:
        """The service's compose healthcheck, run now (it also records the container's health)."""
        return (
            self.podman("healthcheck", "run", self.container(service), check=False).returncode == 0
        )

    def wait_healthy(self, timeout_s: float = 300) -> float:
        began = time.monotonic()
        waiting = list(self.services)
        while waiting:
            waiting = [s for s in waiting if not self.healthy(s)]
            if waiting and time.monotonic() - began > timeout_s:
                raise ComposeError(f"not healthy after {timeout_s:.0f} s: {waiting}\n{self.logs()}")
            if waiting:
                time.sleep(2)
        return time.monotonic() - began

    def inspect(self, service: str) -> dict[str, Any]:
        out = self.podman("inspect", self.container(service)).stdout
        return dict(json.loads(out)[0])

    def kill_main_process(self, service: str) -> int:
        """SIGKILL the container's first process from the host, as a crash or the OOM killer
        would: the container exits 137 and its restart policy decides what happens next."""
        pid = int(self.inspect(service)["State"]["Pid"])
        os.kill(pid, signal.SIGKILL)
        return pid

    def exec(
        self, service: str, *command: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", self.container(service), *command, check=check)

    def logs(self, tail: int = 40) -> str:
        parts = []
        for service in self.services:
            out = self.podman("logs", "--tail", str(tail), self.container(service), check=False)
            parts.append(f"--- {service}\n{out.stdout}{out.stderr}")
        return "\n".join(parts)

    def down(self, volumes: bool = False) -> None:
        self.compose("down", *(["--volumes"] if volumes else []), timeout_s=300, check=False)

    def remove(self) -> None:
        """Every container, network, volume and image this project made (not the base)."""
        self.down(volumes=True)
        label = f"label=io.podman.compose.project={self.project}"
        for kind in ("container", "volume", "network"):  # what down left (a test's own runs)
            listing = ("ps", "-aq") if kind == "container" else (kind, "ls", "-q")
            listed = self.podman(*listing, "--filter", label, check=False)
            for name in listed.stdout.split():
                self.podman(kind, "rm", "-f", name, check=False)
        for image in self.images():
            self.podman("rmi", "-f", image, check=False)
        if self.images_before is not None:  # the build's intermediate layers too
            made_here = sorted(self.image_ids() - self.images_before)
            if made_here:
                self.podman("rmi", "-f", *made_here, timeout_s=600, check=False)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def call(stack: ComposeStack, method: str, path: str, body: Any = None, key: bool = True) -> Answer:
    """One request to the published gateway port; errors are answers too."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {stack.key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read(), dict(error.headers))
    except (urllib.error.URLError, ConnectionError) as error:  # the gateway itself is away
        return Answer(0, str(error).encode(), {})


def wait_for(what: str, check: Any, timeout_s: float, every_s: float = 1.0) -> Any:
    """``check()`` until it gives something true; its last value in the failure message."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s (last: {value!r})")
        time.sleep(every_s)
