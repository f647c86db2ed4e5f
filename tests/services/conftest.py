"""The gateway under test: a real Redis, a stand-in TorchServe client, a recording job sender."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from model_archive.client import Response, TorchServeUnavailable
from services.app import create_app
from services.settings import GatewaySettings
from services.stack.redis import RedisProcess
from workers.store import JobStore

KEY = "test-key-0123456789abcdef"
META = {
    "family": "mnist-cgan",
    "num_classes": 10,
    "class_names": list("0123456789"),
    "latent_size": 100,
    "output_shape": [1, 28, 28],
}
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class FakeTorchServe:
    """Answers like TorchServe; records what it was asked."""

    calls: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    healthy: bool = True
    down: bool = False
    answer: Response | None = None

    problems: list[str] = field(default_factory=list)
    request_ids: list[str | None] = field(default_factory=list)

    def ping(self, timeout_s: float = 2.0) -> bool:
        return self.healthy

    def start_problems(self) -> list[str]:
        return self.problems

    def infer(
        self,
        name: str,
        payload: dict[str, Any],
        version: str | None = None,
        check: bool = True,
        request_id: str | None = None,
    ) -> Response:
        self.request_ids.append(request_id)
        if self.down:
            raise TorchServeUnavailable("http://torchserve did not answer")
        self.calls.append((name, payload, version))
        if self.answer is not None:
            return self.answer
        if payload.get("format") == "grid":
            return Response(200, "image/png", b"\x89PNG fake")
        return Response(
            200, "application/json", json.dumps({"images": ["x"], "seeds": [1]}).encode()
        )


@dataclass
class Gateway:
    app: Flask
    client: FlaskClient
    store: JobStore
    torchserve: FakeTorchServe
    sent: list[str]
    artifact_root: Path


def settings_for(redis_url: str, artifact_root: Path, **extra: Any) -> GatewaySettings:
    return GatewaySettings(
        redis_url=redis_url,
        api_keys=(KEY, "another-key-0123456789"),
        torchserve_inference_url="http://127.0.0.1:9",
        artifact_root=artifact_root,
        **extra,
    )


@pytest.fixture
def gateway(redis_server: RedisProcess, tmp_path: Path) -> Gateway:
    url = redis_server.url.rsplit("/", 1)[0] + "/2"  # a database of the gateway tests' own
    store = JobStore.from_url(url, timeout_s=0.5)
    store.redis.flushdb()
    torchserve, sent = FakeTorchServe(), []
    settings = settings_for(url, tmp_path)
    app = create_app(settings, store=store, torchserve=torchserve, send_job=sent.append)  # type: ignore[arg-type]
    return Gateway(app, app.test_client(), store, torchserve, sent, tmp_path)


@pytest.fixture
def digits(gateway: Gateway) -> str:
    """'digits' with versions 1 and 2 (the default) recorded."""
    gateway.store.record_model("digits", "1", "a" * 32, META)
    gateway.store.record_model("digits", "2", "b" * 32, META)
    return "digits"
