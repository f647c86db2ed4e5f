"""The compose stack for real: images built from the local base, run with podman-compose on the CPU
override, a project of its own removed at the end whether the tests pass or fail.

Run by ``make compose-test`` (after ``make setup-containers``), never by the plain ``make test``
(``tests/conftest.py`` leaves this folder out unless it is named).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from services.stack.compose import ComposeStack
from services.stack.processes import free_port


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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    compose = ComposeStack(
        project=f"gfct{secrets.token_hex(3)}",
        workdir=tmp_path_factory.mktemp("compose"),
        port=free_port(),
    )
    compose.write_env()
    try:
        compose.build()
        compose.up()
        compose.wait_healthy()
        yield compose
    finally:
        compose.remove()
