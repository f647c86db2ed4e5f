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
        "grpc_inference_address=127.0.0.1",  # gRPC on the loopback, the management one too
        "grpc_inference_port=4",
        "grpc_management_address=127.0.0.1",
        "grpc_management_port=5",
        "model_store=/store",
        "enable_model_api=true",
        "disable_token_authorization=false",
        "token_expiration_min=5256000",  # ten years: the keys end with the process
        "metrics_mode=prometheus",
        "max_request_size=65536",
    ):
        assert line in text.splitlines()


def test_the_management_api_may_be_a_unix_socket_and_no_port() -> None:
    config = ServerConfig(
        Path("/store"), 1, 2, 3, bind="0.0.0.0", management_socket=Path("/m/s.sock")
    )
    lines = config.render().splitlines()
    assert "inference_address=http://0.0.0.0:1" in lines
    assert "metrics_address=http://127.0.0.1:3" in lines  # never beyond the container
    assert "management_address=unix:/m/s.sock" in lines
    assert config.management_url == "unix:/m/s.sock"
    assert config.inference_url == "http://127.0.0.1:1"
    assert not any(":2" in line for line in lines)
    assert (
        "management_address=unix:/home/model-server/management/management.sock" in COMPOSE.render()
    )


@pytest.mark.parametrize(("name", "config"), [("local", LOCAL), ("compose", COMPOSE)])
def test_committed_properties_match_the_code(name: str, config: ServerConfig) -> None:
    committed = (FOLDER / f"{name}.properties").read_text()
    body = "\n".join(line for line in committed.splitlines() if not line.startswith("#")) + "\n"
    assert body == config.render()
