"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.stack.processes import free_port
from services.stack.redis import RedisProcess, start_redis
from workers.store import JobStore

TESTS = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/compose builds images and runs the stack in containers (minutes, podman): only
    ``make compose-test`` (pytest tests/compose) runs it, not the plain suite."""
    if collection_path == TESTS / "compose":
        asked = [Path(arg.split("::")[0]).resolve() for arg in config.args]
        if not any(path == collection_path or collection_path in path.parents for path in asked):
            return True
    return None


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
