"""The gateway's /metrics: Prometheus text, read with a metrics (or admin) key only, counting
requests under their route and the images generate made."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from services.app import create_app
from tests.services.conftest import AUTH, Gateway
from workers.keys import KeyStore

SCRAPER = "scraper-key-0123456789abc"


def key_with(gateway: Gateway, *scopes: str) -> dict[str, str]:
    key, _record = KeyStore(gateway.store.redis).create("scraper", frozenset(scopes))
    return {"Authorization": f"Bearer {key}"}


def samples(gateway: Gateway, headers: dict[str, str]) -> dict[tuple[str, frozenset], float]:
    answer = gateway.client.get("/metrics", headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def generated(route_status: str) -> tuple[str, frozenset]:
    labels = {"route": "/v1/models/<name>/generate", "method": "POST", "status": route_status}
    return "ganfoundry_gateway_requests_total", frozenset(labels.items())


def test_metrics_need_a_metrics_or_admin_key(gateway: Gateway) -> None:
    assert gateway.client.get("/metrics").status_code == 401
    refused = gateway.client.get("/metrics", headers=key_with(gateway, "generate", "train"))
    assert refused.status_code == 403
    assert "'metrics' scope" in refused.json["detail"]
    assert gateway.client.get("/metrics", headers=key_with(gateway, "metrics")).status_code == 200
    assert gateway.client.get("/metrics", headers=AUTH).status_code == 200
    # a metrics key reads nothing else
    assert gateway.client.get("/v1/models", headers=key_with(gateway, "metrics")).status_code == 403


def test_requests_count_by_route_and_status_and_images_by_model(
    gateway: Gateway, digits: str
) -> None:
    scraper = key_with(gateway, "metrics")
    before = samples(gateway, scraper)
    path = f"/v1/models/{digits}/generate"
    for _ in range(3):
        assert gateway.client.post(path, json={"n": 4, "label": 1}, headers=AUTH).status_code == 200
    assert gateway.client.post(path, json={"n": 4, "label": 99}, headers=AUTH).status_code == 422
    after = samples(gateway, scraper)

    def grew(key: tuple[str, frozenset]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew(generated("200")) == 3
    assert grew(generated("422")) == 1
    images = ("ganfoundry_gateway_images_total", frozenset({("model", digits)}))
    assert grew(images) == 12  # the refused request made none
    latency = (
        "ganfoundry_gateway_request_seconds_count",
        frozenset({("route", "/v1/models/<name>/generate"), ("method", "POST")}),
    )
    assert grew(latency) == 4
    # ids are not labels: a job's path is counted under its rule
    gateway.client.get("/v1/jobs/" + "0" * 32, headers=AUTH)
    rules = {dict(labels).get("route") for _name, labels in samples(gateway, scraper)}
    assert "/v1/jobs/<job_id>" in rules and "/v1/jobs/" + "0" * 32 not in rules


def test_a_metrics_key_from_the_settings_reads_metrics_and_nothing_else(gateway: Gateway) -> None:
    settings = gateway.app.extensions["ganfoundry"].settings
    scraping = settings.model_copy(update={"metrics_keys": (SCRAPER,)})
    app = create_app(scraping, store=gateway.store, torchserve=gateway.torchserve)  # type: ignore[arg-type]
    client, headers = app.test_client(), {"Authorization": f"Bearer {SCRAPER}"}
    assert client.get("/metrics", headers=headers).status_code == 200
    for path in ("/v1/models", "/v1/jobs", "/v1/keys"):
        assert client.get(path, headers=headers).status_code == 403
