"""Settings come from GANFOUNDRY_* once, are checked at start, and travel to child processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.settings import GatewaySettings
from workers.settings import SettingsError, WorkerSettings

GATEWAY_ENV = {
    "GANFOUNDRY_REDIS_URL": "redis://127.0.0.1:6380/0",
    "GANFOUNDRY_API_KEYS": "first-key-0123456789, second-key-0123456789",
    "GANFOUNDRY_TORCHSERVE_INFERENCE_URL": "http://127.0.0.1:8080",
    "GANFOUNDRY_ARTIFACT_ROOT": "/var/lib/ganfoundry/artifacts",
    "GANFOUNDRY_PUBLIC_READS": "yes",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in GATEWAY_ENV | {"GANFOUNDRY_MAX_IMAGES": "", "GANFOUNDRY_LOCK_LEASE_S": ""}:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_gateway_reads_its_environment(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in GATEWAY_ENV.items():
        clean_env.setenv(name, value)
    settings = GatewaySettings.from_env()
    assert settings.api_keys == ("first-key-0123456789", "second-key-0123456789")
    assert settings.public_reads is True and settings.max_images == 64
    assert settings.artifact_root == Path("/var/lib/ganfoundry/artifacts")


def test_every_missing_or_bad_variable_is_named(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GANFOUNDRY_API_KEYS", "short")
    clean_env.setenv("GANFOUNDRY_MAX_IMAGES", "many")
    with pytest.raises(SettingsError) as error:
        GatewaySettings.from_env()
    message = str(error.value)
    assert "GANFOUNDRY_REDIS_URL: is not set" in message
    assert "GANFOUNDRY_API_KEYS: every key needs at least 16 characters" in message
    assert "GANFOUNDRY_MAX_IMAGES" in message and "integer" in message


@pytest.mark.parametrize(
    "key",
    ["change-me-change-me", "your-api-key-goes-here", "xxxxxxxxxxxxxxxxxxxx", "my-secret-key-1234"],
)
def test_a_placeholder_key_is_refused_at_start_by_name(
    clean_env: pytest.MonkeyPatch, key: str
) -> None:
    for name, value in GATEWAY_ENV.items():
        clean_env.setenv(name, value)
    clean_env.setenv("GANFOUNDRY_API_KEYS", f"first-key-0123456789,{key}")
    with pytest.raises(SettingsError, match="GANFOUNDRY_API_KEYS: a key is a placeholder"):
        GatewaySettings.from_env()


def test_settings_survive_the_trip_through_a_child_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    worker = WorkerSettings(
        redis_url="redis://127.0.0.1:1/0",
        artifact_root=tmp_path / "artifacts",
        data_root=tmp_path / "data",
        model_store=tmp_path / "store",
        torchserve_inference_url="http://127.0.0.1:2",
        torchserve_management_url="http://127.0.0.1:3",
        torchserve_key_file=tmp_path / "torchserve" / "key_file.json",
        heartbeat_s=3.5,
    )
    gateway = GatewaySettings(
        **{k.removeprefix("GANFOUNDRY_").lower(): v for k, v in GATEWAY_ENV.items()}
    )
    assert gateway.torchserve_key_file is None  # left out of the environment, read back as None
    assert "GANFOUNDRY_TORCHSERVE_KEY_FILE" not in gateway.to_env()
    for settings in (worker, gateway):
        clean_env.delenv("GANFOUNDRY_TORCHSERVE_KEY_FILE", raising=False)  # the worker's
        for name, value in settings.to_env().items():
            clean_env.setenv(name, value)
        assert type(settings).from_env() == settings
