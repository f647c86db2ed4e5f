"""TorchServe's token authorisation, against a real TorchServe: which key opens which API, the
key file's mode, and a client that outlives a TorchServe restart."""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from model_archive.client import TorchServeClient, TorchServeKeyRefused
from services.stack.torchserve import (
    TorchServeProcess,
    config_on_free_ports,
    key_file_in,
    start_torchserve,
)


def keys_of(server: TorchServeProcess) -> dict[str, str]:
    written = json.loads(server.key_file.read_text())
    return {api: written[api]["key"] for api in ("management", "inference", "API")}


def status_of(url: str, key: str | None) -> tuple[int, dict]:
    """A raw GET, with ``Authorization: Bearer <key>`` when a key is given."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_key_file_is_the_servers_own_and_private(torchserve: TorchServeProcess) -> None:
    assert torchserve.key_file == key_file_in(torchserve.log.parent)
    assert stat.S_IMODE(torchserve.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(torchserve.key_file.parent.stat().st_mode) == 0o700
    written = json.loads(torchserve.key_file.read_text())
    assert set(written) == {"management", "inference", "API"}
    assert written["management"]["expiration time"] > "2030"  # token_expiration_min: ten years


@pytest.mark.parametrize("key", [None, "inference", "API", "not-a-key"])
def test_the_management_api_wants_the_management_key(
    torchserve: TorchServeProcess, key: str | None
) -> None:
    given = keys_of(torchserve).get(key or "", key)
    status, body = status_of(f"{torchserve.config.management_url}/models", given)
    assert (status, body["type"]) == (400, "InvalidKeyException")  # TorchServe 0.12's "401"


def test_the_management_key_opens_the_management_api_only(torchserve: TorchServeProcess) -> None:
    keys = keys_of(torchserve)
    assert status_of(f"{torchserve.config.management_url}/models", keys["management"])[0] == 200
    assert status_of(f"{torchserve.config.inference_url}/ping", keys["management"])[0] == 400
    assert status_of(f"{torchserve.config.inference_url}/ping", keys["inference"]) == (
        200,
        {"status": "Healthy"},
    )
    assert status_of(f"{torchserve.config.inference_url}/ping", None)[0] == 400  # /ping too


def test_the_client_without_keys_or_with_the_inference_key_is_refused(
    torchserve: TorchServeProcess, tmp_path: Path
) -> None:
    config = torchserve.config
    with pytest.raises(TorchServeKeyRefused):
        TorchServeClient(config.inference_url, config.management_url).list_models()
    keys = keys_of(torchserve)
    swapped = tmp_path / "key_file.json"
    swapped.write_text(json.dumps({"management": {"key": keys["inference"]}}))
    with pytest.raises(TorchServeKeyRefused) as refused:
        TorchServeClient(config.inference_url, config.management_url, key_file=swapped).register(
            "digits.v1.mar", "intruder", timeout_s=10
        )
    assert refused.value.status == 401
    assert "intruder" not in {m["modelName"] for m in torchserve.client.list_models()}


def test_metrics_need_no_key(torchserve: TorchServeProcess) -> None:
    url = f"http://127.0.0.1:{torchserve.config.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200


def test_a_client_reads_the_new_keys_of_a_restarted_torchserve(tmp_path: Path) -> None:
    config = config_on_free_ports(tmp_path / "store")
    server = start_torchserve(tmp_path / "server", config)
    client = server.client  # the workers' client lives longer than one TorchServe
    try:
        assert client.list_models() == [] and client.ping()
        before = keys_of(server)
        server.stop()
        server = start_torchserve(tmp_path / "server", config)
        after = keys_of(server)
        assert after["management"] != before["management"]
        assert after["inference"] != before["inference"]
        assert client.list_models() == [] and client.ping()  # refused once, read again, answered
        assert stat.S_IMODE(server.key_file.stat().st_mode) == 0o600
    finally:
        server.stop()
