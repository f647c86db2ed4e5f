"""Run the gateway under gunicorn (gthread workers) as a process of our own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from workers.processes import terminate


class GatewayError(RuntimeError):
    pass


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        terminate(self.process)


def gunicorn_command(
    port: int, workers: int = 2, threads: int = 8, bind: str = "127.0.0.1"
) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "services.wsgi:app",
        "--bind", f"{bind}:{port}", "--worker-class", "gthread",
        "--workers", str(workers), "--threads", str(threads),
        "--timeout", "60", "--graceful-timeout", "10", "--access-logfile", "-",
    ]  # fmt: skip


def start_gateway(
    env: dict[str, str], port: int, log: Path, wait_s: float = 30.0, new_session: bool = False
) -> GatewayProcess:
    with open(log, "ab") as handle:
        process = subprocess.Popen(
            gunicorn_command(port),
            env={**os.environ, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    gateway = GatewayProcess(process, port)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GatewayError(f"the gateway exited at start; see {log}")
        try:
            with urllib.request.urlopen(f"{gateway.url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return gateway
        except OSError:
            time.sleep(0.1)
    gateway.stop()
    raise GatewayError(f"the gateway did not answer within {wait_s:.0f} s; see {log}")
