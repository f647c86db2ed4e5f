"""The compose stack for real: images built from the local base, run with podman-compose on the CPU
override, a project of its own removed at the end whether the tests pass or fail.

Run by ``make compose-test`` (after ``make setup-containers``), never by the plain ``make test``
(``tests/conftest.py`` leaves this folder out unless it is named).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from services.stack.compose import ComposeStack
from services.stack.processes import free_port


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    compose = ComposeStack(
        project=f"gfct{secrets.token_hex(3)}",
        workdir=tmp_path_factory.mktemp("compose"),
        port=free_port(),
        monitoring_ports=(free_port(), free_port()),  # Flower and Prometheus too
    )
    compose.write_env()
    try:
        compose.build()
        compose.up()
        compose.wait_healthy()
        yield compose
    finally:
        compose.remove()
