"""A real TorchServe on free ports, serving a briefly trained conditional generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from model_archive.builder import build_archive
from model_archive.config import ServerConfig
from model_archive.server import TorchServeProcess, start_torchserve
from workers.engine.pipeline import run_job
from workers.spec import JobSpec


@pytest.fixture(scope="session")
def cgan_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = JobSpec(model="mnist-cgan", training={"max_steps": 150, "seed": 3})
    outcome = run_job(spec, tmp_path_factory.mktemp("served-cgan"), with_evaluation=False)
    return Path(outcome.artifacts["generator"])


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServeProcess]:
    root = tmp_path_factory.mktemp("torchserve")
    config = ServerConfig.on_free_ports(root / "store")
    server = start_torchserve(root / "server", config)
    try:
        yield server
    finally:
        server.stop()
        assert not server.running()


@pytest.fixture(scope="session")
def digits(torchserve: TorchServeProcess, cgan_artifact: Path) -> str:
    """'digits' version 1 registered and answering."""
    build_archive(cgan_artifact, "digits", "1", torchserve.config.model_store)
    torchserve.client.register("digits.v1.mar", "digits")
    return "digits"
