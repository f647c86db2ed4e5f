from __future__ import annotations

from pathlib import Path

import pytest

from model_archive.config import COMPOSE, LOCAL, ServerConfig
from model_archive.server import ServerError, check_java

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


def test_java_is_found_here() -> None:
    assert check_java() >= 17


def test_missing_java_names_java_17(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # a JAVA_HOME without bin/java
    with pytest.raises(ServerError, match="Java 17"):
        check_java()


def test_an_older_java_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ServerError, match=r"Java 11 is too old\. TorchServe needs Java 17"):
        check_java()
