"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


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
