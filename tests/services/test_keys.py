"""Keys with scopes and owners, through the gateway: every route against no key, a wrong key and a
key of each scope (a new route without an entry here fails), jobs and served names owned by the
key that made them, keys issued, listed and revoked by an admin."""

from __future__ import annotations

import pytest

from tests.services.conftest import AUTH, META, Gateway
from workers.keys import KeyStore

JOB = "0" * 32
# every keyed route → the scope it needs; a route missing here fails the first test
SCOPES = {
    ("POST", "/v1/jobs"): "train",
    ("GET", "/v1/jobs"): "train",
    ("GET", "/v1/jobs/<job_id>"): "train",
    ("DELETE", "/v1/jobs/<job_id>"): "train",
    ("GET", "/v1/jobs/<job_id>/events"): "train",
    ("GET", "/v1/jobs/<job_id>/metrics"): "train",
    ("GET", "/v1/jobs/<job_id>/loss.png"): "train",
    ("GET", "/v1/jobs/<job_id>/samples.png"): "train",
    ("GET", "/v1/jobs/<job_id>/model.mar"): "train",
    ("GET", "/v1/jobs/<job_id>/generator.pt"): "train",
    ("GET", "/v1/models"): "generate",
    ("GET", "/v1/models/<name>"): "generate",
    ("POST", "/v1/models/<name>/generate"): "generate",
    ("GET", "/v1/models/<name>/generate"): "generate",
    ("POST", "/v1/models"): "train",
    ("PUT", "/v1/models/<name>/default"): "train",
    ("DELETE", "/v1/models/<name>"): "train",
    ("DELETE", "/v1/models/<name>/versions/<version>"): "train",
    ("POST", "/v1/keys"): "admin",
    ("GET", "/v1/keys"): "admin",
    ("DELETE", "/v1/keys/<key_id>"): "admin",
}
BODIES = {
    ("POST", "/v1/jobs"): {"model": "mnist-cgan"},
    ("POST", "/v1/models/<name>/generate"): {"n": 1, "label": 1},
    ("POST", "/v1/models"): {"job_id": JOB, "name": "nobody"},
    ("PUT", "/v1/models/<name>/default"): {"version": "1"},
    ("POST", "/v1/keys"): {"name": "probe", "scopes": ["generate"]},
}
VALUES = {"job_id": JOB, "name": "nobody", "version": "1", "key_id": "0" * 16}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def keyed_routes(gateway: Gateway) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in gateway.app.url_map.iter_rules()
        if rule.rule.startswith("/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def call(gateway: Gateway, route: tuple[str, str], headers: dict[str, str]) -> int:
    method, rule = route
    path = rule
    for name, value in VALUES.items():
        path = path.replace(f"<{name}>", value)
    answer = gateway.client.open(path, method=method, json=BODIES.get(route), headers=headers)
    return answer.status_code


def test_every_route_refuses_what_its_scope_does_not_allow(gateway: Gateway) -> None:
    assert keyed_routes(gateway) == set(SCOPES)  # a new route needs its entry above
    store = KeyStore(gateway.store.redis)
    holders = {scope: store.create(f"{scope} key", [scope])[0] for scope in ("generate", "train")}
    for route, scope in SCOPES.items():
        assert call(gateway, route, {}) == 401, route
        assert call(gateway, route, bearer("gf_not-a-key-anyone-issued")) == 401, route
        for held, key in holders.items():
            status = call(gateway, route, bearer(key))
            if held == scope:
                assert status not in (401, 403), (route, held, status)
            else:
                assert status == 403, (route, held, status)
        assert call(gateway, route, AUTH) not in (401, 403), route  # the settings' key: admin


def test_a_refusal_names_the_missing_scope(gateway: Gateway) -> None:
    key, _ = KeyStore(gateway.store.redis).create("viewer", ["generate"])
    refused = gateway.client.post("/v1/jobs", json={"model": "mnist-cgan"}, headers=bearer(key))
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "'train' scope" in refused.json["detail"] and refused.json["code"] == "forbidden"


def test_a_keys_jobs_are_its_own(gateway: Gateway) -> None:
    store = KeyStore(gateway.store.redis)
    alice, bob = store.create("alice", ["train"])[0], store.create("bob", ["train"])[0]
    submitted = gateway.client.post("/v1/jobs", json={"model": "mnist-cgan"}, headers=bearer(alice))
    assert submitted.status_code == 202
    url = submitted.json["url"]
    assert gateway.client.get(url, headers=bearer(alice)).status_code == 200
    for method in ("GET", "DELETE"):  # as unknown to another key as a job that never was
        assert gateway.client.open(url, method=method, headers=bearer(bob)).status_code == 404
    assert gateway.client.get(url + "/events", headers=bearer(bob)).status_code == 404
    listed = gateway.client.get("/v1/jobs", headers=bearer(bob)).json
    assert listed["jobs"] == [] and listed["total"] == 0
    mine = gateway.client.get("/v1/jobs?state=queued", headers=bearer(alice)).json
    assert [job["id"] for job in mine["jobs"]] == [submitted.json["id"]] and mine["total"] == 1
    assert gateway.client.get("/v1/jobs?state=running", headers=bearer(alice)).json["total"] == 0
    assert gateway.client.get(url, headers=AUTH).status_code == 200  # an admin sees every job
    assert gateway.client.delete(url, headers=bearer(alice)).status_code == 202


def test_a_served_name_belongs_to_the_key_that_first_served_it(gateway: Gateway) -> None:
    store = KeyStore(gateway.store.redis)
    (alice, record), bob = store.create("alice", ["train"]), store.create("bob", ["train"])[0]
    gateway.store.record_model("alices", "1", "a" * 32, META, owner=record.id)
    gateway.store.record_model("alices", "2", "b" * 32, META, owner="someone-else")
    assert gateway.store.get_model("alices")["owner"] == record.id  # the first stays the owner
    spec = {"model": "mnist-cgan", "serve_as": "alices"}
    taken = gateway.client.post("/v1/jobs", json=spec, headers=bearer(bob))
    assert taken.status_code == 403 and "served by another key" in taken.json["detail"]
    assert gateway.client.put(
        "/v1/models/alices/default", json={"version": "1"}, headers=bearer(bob)
    ).status_code == 403  # fmt: skip
    assert gateway.client.delete("/v1/models/alices", headers=bearer(bob)).status_code == 403
    assert gateway.store.get_model("alices")["default_version"] == "2"  # nothing changed
    assert gateway.client.post("/v1/jobs", json=spec, headers=bearer(alice)).status_code == 202
    assert gateway.client.put(
        "/v1/models/alices/default", json={"version": "1"}, headers=bearer(alice)
    ).status_code == 200  # fmt: skip
    shown = gateway.client.get("/v1/models/alices", headers=AUTH).json
    assert "owner" not in shown  # the owner's id stays in Redis
    assert all(
        "owner" not in m for m in gateway.client.get("/v1/models", headers=AUTH).json["models"]
    )


def test_keys_are_issued_listed_and_revoked_by_an_admin(gateway: Gateway) -> None:
    issued = gateway.client.post(
        "/v1/keys", json={"name": "ci bot", "scopes": ["train", "generate"]}, headers=AUTH
    )
    assert issued.status_code == 201
    key, key_id = issued.json["key"], issued.json["id"]
    assert (
        key.startswith("gf_") and len(key) > 40 and issued.json["scopes"] == ["generate", "train"]
    )
    listed = gateway.client.get("/v1/keys", headers=AUTH).json["keys"]
    assert [k["id"] for k in listed] == [key_id] and "key" not in listed[0]
    stored = gateway.store.redis.hgetall("gf:keys")
    assert key not in str(stored) and len(stored) == 1  # only its hash is kept
    assert gateway.client.get("/v1/jobs", headers=bearer(key)).status_code == 200
    assert gateway.client.get("/v1/keys", headers=bearer(key)).status_code == 403
    assert gateway.client.delete(f"/v1/keys/{key_id}", headers=AUTH).status_code == 204
    assert gateway.client.get("/v1/jobs", headers=bearer(key)).status_code == 401  # at once
    assert gateway.client.delete(f"/v1/keys/{key_id}", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["root"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["train"]}, "name"),
        ({"name": "<script>", "scopes": ["train"]}, "name"),
        ({"name": "x", "scopes": ["train"], "key": "mine"}, "key"),
    ],
)
def test_a_bad_key_request_names_its_field_and_issues_nothing(
    gateway: Gateway, body: dict, field: str
) -> None:
    refused = gateway.client.post("/v1/keys", json=body, headers=AUTH)
    assert refused.status_code == 422 and field in refused.json["fields"], refused.json
    assert gateway.store.redis.hlen("gf:keys") == 0
