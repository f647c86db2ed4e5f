"""The gateway under gunicorn (gevent workers, services/gunicorn_conf.py) as a process of our own."""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from services.stack.processes import Service, spawn, wait_until_ready


@dataclass
class GatewayProcess(Service):
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def gunicorn_command(port: int, bind: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "--config", "python:services.gunicorn_conf",
        "--bind", f"{bind}:{port}", "services.wsgi:app",
    ]  # fmt: skip


def start_gateway(
    settings_env: dict[str, str], port: int, log: Path, wait_s: float = 30.0
) -> GatewayProcess:
    """Start gunicorn with these GANFOUNDRY_* settings and wait until /healthz answers."""
    gateway = GatewayProcess("gateway", spawn(gunicorn_command(port), log, settings_env), log, port)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{gateway.url}/healthz", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    wait_until_ready(gateway, healthy, wait_s)
    return gateway
