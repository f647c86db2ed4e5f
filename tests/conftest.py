"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.stack.processes import free_port
from services.stack.redis import RedisProcess, start_redis
from workers.store import JobStore


@pytest.fixture(scope="session", autouse=True)
def evaluator_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Each test session trains the evaluator once, in its own cache, never the user's."""
    cache = tmp_path_factory.mktemp("ganfoundry-cache")
    previous = os.environ.get("GANFOUNDRY_CACHE")
    os.environ["GANFOUNDRY_CACHE"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("GANFOUNDRY_CACHE", None)
    else:
        os.environ["GANFOUNDRY_CACHE"] = previous


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A redis-server of the tests' own, on a free port, stopped at the end."""
    server = start_redis(tmp_path_factory.mktemp("redis"), free_port())
    yield server
    server.stop()


@pytest.fixture
def store(redis_server: RedisProcess) -> JobStore:
    return JobStore.from_url(redis_server.url)
