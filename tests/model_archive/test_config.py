from __future__ import annotations

from pathlib import Path

import pytest

from model_archive.config import COMPOSE, LOCAL, ServerConfig

FOLDER = Path(__file__).resolve().parents[2] / "model_archive" / "torchserve"


def test_config_decisions() -> None:
    text = ServerConfig(Path("/store"), 1, 2, 3, 4, 5).render()
    for line in (
        "inference_address=http://127.0.0.1:1",
        "management_address=http://127.0.0.1:2",
        "metrics_address=http://127.0.0.1:3",
        "grpc_inference_port=4",
        "grpc_management_port=5",
        "model_store=/store",
        "enable_model_api=true",
        "disable_token_authorization=true",
        "metrics_mode=prometheus",
        "max_request_size=65536",
    ):
        assert line in text.splitlines()


@pytest.mark.parametrize(("name", "config"), [("local", LOCAL), ("compose", COMPOSE)])
def test_committed_properties_match_the_code(name: str, config: ServerConfig) -> None:
    committed = (FOLDER / f"{name}.properties").read_text()
    body = "\n".join(line for line in committed.splitlines() if not line.startswith("#")) + "\n"
    assert body == config.render()
