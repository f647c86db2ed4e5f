"""Rate limits per key and scope, per address without a key, and images per minute, on a real
Redis: 429 problems with Retry-After, the RateLimit headers, and private images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.app import create_app
from services.settings import GatewaySettings
from services.stack.redis import RedisProcess
from tests.services.conftest import AUTH, META, FakeTorchServe, Gateway, settings_for
from workers.keys import KeyStore
from workers.store import JobStore

GENERATE = "/v1/models/digits/generate"


def limited_gateway(redis_server: RedisProcess, root: Path, **limits: Any) -> Gateway:
    url = redis_server.url.rsplit("/", 1)[0] + "/2"
    store = JobStore.from_url(url, timeout_s=0.5)
    store.redis.flushdb()
    store.record_model("digits", "1", "a" * 32, META)
    torchserve, sent = FakeTorchServe(), []
    app = create_app(
        settings_for(url, root, **limits), store=store, torchserve=torchserve, send_job=sent.append
    )  # type: ignore[arg-type]
    return Gateway(app, app.test_client(), store, torchserve, sent, root)


@pytest.fixture
def small(redis_server: RedisProcess, tmp_path: Path) -> Gateway:
    return limited_gateway(
        redis_server,
        tmp_path,
        rate_limit_generate="3/minute",
        rate_limit_train="2/minute",
        rate_limit_anonymous="2/minute",
    )


def issued(gateway: Gateway, *scopes: str) -> dict[str, str]:
    key, _record = KeyStore(gateway.store.redis).create("client", frozenset(scopes))
    return {"Authorization": f"Bearer {key}"}


def test_a_key_past_its_scopes_limit_gets_a_429_naming_it_and_when_to_retry(
    small: Gateway,
) -> None:
    answers = [small.client.get("/v1/models", headers=AUTH) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Policy"] == "3;w=60"
    assert 1 <= int(answers[0].headers["RateLimit-Reset"]) <= 60

    refused = small.client.post(GENERATE, json={"n": 1, "label": 1}, headers=AUTH)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "rate_limited"
    # the view's scope names the bucket, whoever calls: an admin's generate calls count there
    assert (
        "this key is past its limit of 3 per 1 minute for 'generate' calls"
        in (refused.json["detail"])
    )
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert small.torchserve.calls == []  # refused before it reached the model server


def test_limits_are_per_key_and_per_scope(small: Gateway, redis_server: RedisProcess) -> None:
    both = issued(small, "generate", "train")
    for _ in range(3):
        assert small.client.get("/v1/models", headers=both).status_code == 200
    assert small.client.get("/v1/models", headers=both).status_code == 429
    # the same key's train bucket is its own, and another key's generate bucket too
    assert small.client.get("/v1/jobs", headers=both).status_code == 200
    other = issued(small, "generate")
    assert small.client.get("/v1/models", headers=other).status_code == 200
    detail = small.client.get("/v1/models", headers=both).json["detail"]
    assert "this key is past its limit" in detail and "'generate' calls" in detail


def test_calls_without_a_valid_key_are_limited_per_address(small: Gateway) -> None:
    wrong = {"Authorization": "Bearer not-a-key-at-all-0123456789"}
    assert [small.client.get("/v1/jobs", headers=wrong).status_code for _ in range(2)] == [
        401,
        401,
    ]
    refused = small.client.get("/v1/jobs", headers=wrong)
    assert refused.status_code == 429
    assert "without a valid key" in refused.json["detail"]
    # another address, and a valid key from the same one, are not held back by it
    elsewhere = small.client.get(
        "/v1/jobs", headers=wrong, environ_base={"REMOTE_ADDR": "10.1.1.1"}
    )
    assert elsewhere.status_code == 401
    assert small.client.get("/v1/jobs", headers=AUTH).status_code == 200


def test_health_docs_and_the_console_are_not_limited(small: Gateway) -> None:
    for path in ("/healthz", "/openapi.json", "/"):
        answers = [small.client.get(path) for _ in range(5)]
        assert {a.status_code for a in answers} == {200}, path
        assert "RateLimit-Limit" not in answers[-1].headers


def test_images_count_against_a_keys_minute_and_refusals_cost_none(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    gateway = limited_gateway(redis_server, tmp_path, images_per_minute=10, max_images=8)
    body = {"n": 6, "label": 1}
    assert gateway.client.post(GENERATE, json=body, headers=AUTH).status_code == 200
    bad = gateway.client.post(GENERATE, json={"n": 4, "label": 11}, headers=AUTH)
    assert bad.status_code == 422  # refused: counts no images
    assert gateway.client.post(GENERATE, json={"n": 4, "label": 1}, headers=AUTH).status_code == 200
    over = gateway.client.post(GENERATE, json={"n": 1, "label": 1}, headers=AUTH)
    assert over.status_code == 429
    assert over.json["code"] == "image_quota"
    assert "10 images a minute and has 0 left" in over.json["detail"]
    assert int(over.headers["Retry-After"]) >= 1
    assert len(gateway.torchserve.calls) == 2  # the refused ones never reached it
    other = issued(gateway, "generate")
    assert gateway.client.post(GENERATE, json=body, headers=other).status_code == 200


def test_images_and_job_files_are_private(gateway: Gateway, digits: str) -> None:
    answer = gateway.client.post(GENERATE, json={"n": 1, "label": 1}, headers=AUTH)
    assert answer.headers["Cache-Control"] == "private, no-store"
    grid = gateway.client.get(f"{GENERATE}?label=1", headers=AUTH)
    assert grid.status_code == 200 and grid.headers["Cache-Control"] == "private, no-store"


def test_switched_off_the_limits_count_nothing(redis_server: RedisProcess, tmp_path: Path) -> None:
    gateway = limited_gateway(
        redis_server, tmp_path, rate_limits=False, rate_limit_admin="1/minute"
    )
    answers = [gateway.client.get("/v1/models", headers=AUTH) for _ in range(3)]
    assert {a.status_code for a in answers} == {200}
    assert "RateLimit-Limit" not in answers[-1].headers


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"rate_limit_generate": "lots"}, "'lots' is not a rate limit"),
        ({"rate_limit_train": "10 per fortnight"}, "is not a rate limit"),
        ({"images_per_minute": 10, "max_images": 64}, "the largest request could never pass"),
    ],
)
def test_limits_that_cannot_work_are_refused_at_start(
    values: dict[str, Any], named: str, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match=named):
        GatewaySettings(
            redis_url="redis://127.0.0.1:9/0",
            api_keys=("k" * 8 + "0123456789",),
            torchserve_inference_url="http://127.0.0.1:9",
            artifact_root=tmp_path,
            **values,
        )
