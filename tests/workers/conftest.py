from __future__ import annotations

from collections.abc import Iterator

import pytest

from model_archive.server import free_port
from workers.redis_server import RedisProcess, start_redis
from workers.store import JobStore


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = start_redis(tmp_path_factory.mktemp("redis"), free_port())
    yield server
    server.stop()


@pytest.fixture
def store(redis_server: RedisProcess) -> JobStore:
    return JobStore.from_url(redis_server.url)
