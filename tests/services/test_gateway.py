"""Every endpoint and every error of the gateway, with the Flask test client."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from model_archive.client import Response
from services.app import create_app
from tests.services.conftest import AUTH, KEY, META, FakeTorchServe, Gateway, settings_for
from workers.spec import JobSpec
from workers.store import JobStore

SPEC = {"model": "mnist-cgan", "training": {"epochs": 3}, "serve_as": "digits"}


def error_of(response) -> dict:  # type: ignore[no-untyped-def]
    """The problem body (RFC 9457), checked for its shape."""
    assert response.mimetype == "application/problem+json", response.data[:200]
    problem = response.json
    assert problem["type"] == "about:blank" and problem["status"] == response.status_code
    assert problem["title"] and problem["detail"] and problem["code"]
    return problem


# ---- health ---------------------------------------------------------------------------------


def test_health_needs_no_key(gateway: Gateway) -> None:
    assert gateway.client.get("/healthz").json == {"status": "ok"}
    ready = gateway.client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"redis": True, "torchserve": True}
    gateway.torchserve.healthy = False
    assert gateway.client.get("/readyz").status_code == 503


def test_readiness_says_what_torchserve_cannot_use(gateway: Gateway) -> None:
    gateway.torchserve.problems = ["torchserve-start: cannot read the model store /m"]
    ready = gateway.client.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["torchserve"] is False
    assert ready.json["problems"] == ["torchserve-start: cannot read the model store /m"]


def test_redis_down_is_a_fast_503(tmp_path: Path) -> None:
    from services.stack.processes import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(
        settings_for(dead, tmp_path),
        store=JobStore.from_url(dead, timeout_s=0.5),
        torchserve=FakeTorchServe(),
        send_job=lambda _: None,
    )  # type: ignore[arg-type]
    began = time.monotonic()
    response = app.test_client().post("/v1/jobs", json=SPEC, headers=AUTH)
    assert response.status_code == 503 and error_of(response)["code"] == "redis_unavailable"
    assert response.headers["Retry-After"].isdigit()
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"].isdigit()
    assert time.monotonic() - began < 2


# ---- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key-0123456789abc"},
        {"Authorization": KEY},
        {"Authorization": "Basic " + KEY},
        {"Authorization": "Bearer "},
    ],
)
def test_submitting_and_cancelling_need_a_key(gateway: Gateway, headers: dict) -> None:
    response = gateway.client.post("/v1/jobs", json=SPEC, headers=headers)
    assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # the key is checked first: a caller without one learns nothing about its input
    invalid = gateway.client.post("/v1/jobs", json={"model": "x"}, headers=headers)
    assert invalid.status_code == 401
    assert gateway.client.get("/v1/jobs?limit=abc", headers=headers).status_code == 401
    assert gateway.client.delete("/v1/jobs/" + "a" * 32, headers=headers).status_code == 401
    assert gateway.client.get("/v1/jobs", headers=headers).status_code == 401
    assert gateway.sent == []


def test_any_configured_key_works(gateway: Gateway) -> None:
    response = gateway.client.post(
        "/v1/jobs", json=SPEC, headers={"Authorization": "Bearer another-key-0123456789"}
    )
    assert response.status_code == 202


def test_public_reads_let_reading_through_but_not_submitting(redis_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = redis_server.url.rsplit("/", 1)[0] + "/3"
    app = create_app(
        settings_for(url, tmp_path, public_reads=True),
        store=JobStore.from_url(url),
        torchserve=FakeTorchServe(),
        send_job=lambda _: None,
    )  # type: ignore[arg-type]
    client = app.test_client()
    assert client.get("/v1/jobs").status_code == 200
    assert client.get("/v1/models/nothing").status_code == 404
    assert client.post("/v1/jobs", json=SPEC).status_code == 401
    assert client.delete("/v1/jobs/" + "a" * 32).status_code == 401


# ---- jobs --------------------------------------------------------------------------------------


def test_submit_returns_202_with_a_location_and_queues_the_id(gateway: Gateway) -> None:
    response = gateway.client.post("/v1/jobs", json=SPEC, headers=AUTH)
    assert response.status_code == 202
    job_id = response.json["id"]
    assert response.headers["Location"] == f"/v1/jobs/{job_id}" == response.json["url"]
    assert gateway.sent == [job_id]
    job = gateway.client.get(response.headers["Location"], headers=AUTH).json
    assert job["state"] == "queued" and job["spec"]["serve_as"] == "digits"


@pytest.mark.parametrize(
    ("training", "field", "says"),
    [
        ({"time_limit_s": 6 * 3600 + 1}, "training.time_limit_s", "longest job, 21600 s"),
        ({"max_steps": 5_000_001}, "training.max_steps", "limit of 5,000,000"),
        ({"mode": "book", "batch_size": 32}, "training", "one sample at a time"),
        ({"time_limit_s": 5}, "training.time_limit_s", "greater than or equal to 60"),
    ],
)
def test_limits_are_refused_at_submit_with_the_field_and_the_limit(
    gateway: Gateway, training: dict, field: str, says: str
) -> None:
    response = gateway.client.post(
        "/v1/jobs", json={"model": "mnist-gan", "training": training}, headers=AUTH
    )
    assert response.status_code == 422, response.json
    assert says in error_of(response)["fields"][field]
    assert gateway.sent == [] and gateway.store.list_jobs()[1] == 0  # nothing stored or sent


def test_one_key_may_queue_so_many_jobs_then_429_with_retry_after(gateway: Gateway) -> None:
    limit = gateway.app.extensions["ganfoundry"].settings.max_queued_per_key
    ids = [
        gateway.client.post("/v1/jobs", json=SPEC, headers=AUTH).json["id"] for _ in range(limit)
    ]
    refused = gateway.client.post("/v1/jobs", json=SPEC, headers=AUTH)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    problem = error_of(refused)
    assert problem["code"] == "too_many_jobs" and f"{limit} jobs" in problem["detail"]
    other = {"Authorization": "Bearer another-key-0123456789"}
    assert gateway.client.post("/v1/jobs", json=SPEC, headers=other).status_code == 202
    gateway.client.delete(f"/v1/jobs/{ids[0]}", headers=AUTH)  # a queued job cancels at once
    assert gateway.client.post("/v1/jobs", json=SPEC, headers=AUTH).status_code == 202
    shown = gateway.client.get(f"/v1/jobs/{ids[1]}", headers=AUTH).json
    assert "owner" not in shown


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "stylegan"}, "model"),
        ({"model": "mnist-gan", "training": {"lr": -1}}, "training.lr"),
        ({"model": "mnist-gan", "training": {"epochs": 10**9}}, "training.epochs"),
        ({"model": "mnist-gan", "extra": 1}, "extra"),
        ({"model": "mnist-gan", "serve_as": "../../etc"}, "serve_as"),
        ({"model": "mnist-gan", "dataset": {"source": "http://evil/x.csv"}}, "dataset.source"),
        ({}, "model"),
    ],
)
def test_invalid_specs_are_422_with_the_field(gateway: Gateway, body: dict, field: str) -> None:
    response = gateway.client.post("/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 422 and field in error_of(response)["fields"]
    assert error_of(response)["code"] == "invalid_request"
    assert error_of(response)["instance"] == "/v1/jobs"
    assert gateway.sent == []


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/models/digits/generate"])
def test_not_json_is_415_and_bad_json_is_400(gateway: Gateway, path: str) -> None:
    gateway.store.record_model("digits", "1", "a" * 32, META)
    response = gateway.client.post(path, data="model=mnist-gan", headers=AUTH)
    assert response.status_code == 415 and "application/json" in error_of(response)["detail"]
    json_type = AUTH | {"Content-Type": "application/json"}
    for broken in ("{oops", "", "[" * 30_000, "{" * 30_000, b"\xff\xfe"):
        response = gateway.client.post(path, data=broken, headers=json_type)
        assert response.status_code == 400, broken[:10]
        assert error_of(response)["code"] == "bad_request"
        assert "not valid JSON" in error_of(response)["detail"]
    response = gateway.client.post(path, json=[1, 2], headers=AUTH)
    assert response.status_code == 422 and "body" in error_of(response)["fields"]
    assert gateway.sent == [] and gateway.torchserve.calls == []


def test_a_huge_body_is_413(gateway: Gateway) -> None:
    response = gateway.client.post(
        "/v1/jobs",
        data="{" + " " * 100_000 + "}",
        headers=AUTH | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"


def test_listing_is_newest_first_paged_and_filtered(gateway: Gateway) -> None:
    ids = [gateway.client.post("/v1/jobs", json=SPEC, headers=AUTH).json["id"] for _ in range(3)]
    page = gateway.client.get("/v1/jobs?limit=2", headers=AUTH).json
    assert page["total"] == 3 and [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    assert [
        j["id"] for j in gateway.client.get("/v1/jobs?offset=2", headers=AUTH).json["jobs"]
    ] == [ids[0]]
    gateway.client.delete(f"/v1/jobs/{ids[1]}", headers=AUTH)
    cancelled = gateway.client.get("/v1/jobs?state=cancelled", headers=AUTH).json
    assert [j["id"] for j in cancelled["jobs"]] == [ids[1]]
    assert gateway.client.get("/v1/jobs?state=", headers=AUTH).json["total"] == 3
    for query in (
        "state=done",
        "limit=0",
        "limit=101",
        "offset=-1",
        "limit=abc",
        "offset=%C2%B2",  # "²": str.isdigit() says yes, int() says no
        "offset=1e3",
        "colour=red",
    ):
        response = gateway.client.get(f"/v1/jobs?{query}", headers=AUTH)
        assert response.status_code == 422, query
        assert query.split("=")[0] in error_of(response)["fields"]


@pytest.mark.parametrize("job_id", ["nope", "0" * 32, "A" * 32, "%2e%2e%2fetc", "*"])
def test_unknown_or_malformed_ids_are_404(gateway: Gateway, job_id: str) -> None:
    response = gateway.client.get(f"/v1/jobs/{job_id}", headers=AUTH)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_cancel_then_cancel_again_is_409(gateway: Gateway) -> None:
    job_id = gateway.client.post("/v1/jobs", json=SPEC, headers=AUTH).json["id"]
    first = gateway.client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    assert first.status_code == 202 and first.json["state"] == "cancelled"
    again = gateway.client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    assert again.status_code == 409 and "cancelled" in error_of(again)["detail"]


def finished_job(gateway: Gateway, files: dict[str, Path]) -> str:
    job = gateway.store.create(JobSpec.model_validate(SPEC))
    gateway.store.transition(job.id, "running")
    artifacts = {
        "loss_plot": str(files["loss"]),
        "samples": str(files["samples"]),
        "generator": "/secret/g.pt",
    }
    served = {"name": "digits", "version": "1", "archive": "/secret/digits.v1.mar"}
    gateway.store.transition(
        job.id,
        "succeeded",
        metrics={"conditional": {"mean_accuracy": 0.97}},
        artifacts=artifacts,
        served=served,
    )
    return job.id


def test_outputs_of_a_finished_job(gateway: Gateway) -> None:
    loss, samples = gateway.artifact_root / "loss.png", gateway.artifact_root / "samples.png"
    loss.write_bytes(b"\x89PNG loss")
    samples.write_bytes(b"\x89PNG samples")
    job_id = finished_job(gateway, {"loss": loss, "samples": samples})
    job = gateway.client.get(f"/v1/jobs/{job_id}", headers=AUTH).json
    assert job["served"] == {"name": "digits", "version": "1"}  # no server paths leak
    assert "/secret" not in str(job)
    picture = gateway.client.get(job["artifacts"]["loss_plot"], headers=AUTH)
    assert (
        picture.status_code == 200
        and picture.mimetype == "image/png"
        and picture.data == b"\x89PNG loss"
    )
    assert (
        gateway.client.get(f"/v1/jobs/{job_id}/samples.png", headers=AUTH).data
        == b"\x89PNG samples"
    )
    assert (
        gateway.client.get(f"/v1/jobs/{job_id}/metrics", headers=AUTH).json["conditional"][
            "mean_accuracy"
        ]
        == 0.97
    )


def test_outputs_before_success_or_outside_the_artifact_root_are_404(
    gateway: Gateway, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    job_id = gateway.client.post("/v1/jobs", json=SPEC, headers=AUTH).json["id"]
    for name in ("loss.png", "samples.png", "metrics"):
        assert gateway.client.get(f"/v1/jobs/{job_id}/{name}", headers=AUTH).status_code == 404
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.png"
    elsewhere.write_bytes(b"secret")
    stolen = finished_job(gateway, {"loss": elsewhere, "samples": elsewhere})
    assert gateway.client.get(f"/v1/jobs/{stolen}/loss.png", headers=AUTH).status_code == 404


# ---- models and images ------------------------------------------------------------------------


def test_models_list_and_describe(gateway: Gateway, digits: str) -> None:
    listed = gateway.client.get("/v1/models", headers=AUTH).json["models"]
    assert [m["name"] for m in listed] == ["digits"]
    model = gateway.client.get("/v1/models/digits", headers=AUTH).json
    assert model["default_version"] == "2" and model["versions"] == {"1": "a" * 32, "2": "b" * 32}
    assert model["class_names"][7] == "7" and model["output_shape"] == [1, 28, 28]
    assert gateway.client.get("/v1/models/nothing", headers=AUTH).status_code == 404
    assert gateway.client.get("/v1/models/BAD..name", headers=AUTH).status_code == 404


def test_generate_json_and_png(gateway: Gateway, digits: str) -> None:
    response = gateway.client.post(
        "/v1/models/digits/generate", json={"n": 16, "label": 7, "seed": 3}, headers=AUTH
    )
    assert response.status_code == 200 and response.json["images"] == ["x"]
    assert gateway.torchserve.calls[-1] == (
        "digits",
        {"n": 16, "label": 7, "seed": 3, "format": "json"},
        None,
    )
    png = gateway.client.post(
        "/v1/models/digits/generate?version=1",
        json={"n": 16, "label": 7},
        headers=AUTH | {"Accept": "image/png"},
    )
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert (
        gateway.torchserve.calls[-1][1]["format"] == "grid"
        and gateway.torchserve.calls[-1][2] == "1"
    )
    got = gateway.client.get("/v1/models/digits/generate?n=4&label=2&seed=9", headers=AUTH)
    assert got.mimetype == "image/png" and gateway.torchserve.calls[-1][1] == {
        "n": 4,
        "label": 2,
        "seed": 9,
        "format": "grid",
    }


def test_experiments_are_forwarded(gateway: Gateway, digits: str) -> None:
    body = {"label": 3, "experiment": {"kind": "interpolate", "seeds": [1, 2], "steps": 12}}
    assert (
        gateway.client.post("/v1/models/digits/generate", json=body, headers=AUTH).status_code
        == 200
    )
    assert gateway.torchserve.calls[-1][1]["experiment"]["steps"] == 12


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"n": 2}, "label"),
        ({"n": 2, "label": 10}, "label"),
        ({"n": 0, "label": 1}, "n"),
        ({"n": 65, "label": 1}, "n"),
        ({"n": "x", "label": 1}, "n"),
        ({"n": 1, "label": 1, "seed": -1}, "seed"),
        ({"n": 1, "label": 1, "format": "gif"}, "format"),
        ({"n": 1, "label": 1, "colour": 1}, "colour"),
        ({"label": 1, "experiment": {"kind": "warp", "seeds": [1, 2]}}, "experiment.kind"),
    ],
)
def test_bad_generation_requests_never_reach_torchserve(
    gateway: Gateway, digits: str, body: dict, field: str
) -> None:
    response = gateway.client.post("/v1/models/digits/generate", json=body, headers=AUTH)
    assert response.status_code == 422 and field in error_of(response).get("fields", {})
    assert gateway.torchserve.calls == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("n=%C2%B2&label=1", "n"),  # "²"
        ("n=two&label=1", "n"),
        ("n=65&label=1", "n"),
        ("n=1", "label"),
        ("n=1&label=10", "label"),
        ("label=1&seed=-1", "seed"),
        ("label=1&format=gif", "format"),
        ("label=1&evil=1", "evil"),
        ("label=1&version=v1", "version"),
    ],
)
def test_bad_query_parameters_are_422(
    gateway: Gateway, digits: str, query: str, field: str
) -> None:
    response = gateway.client.get(f"/v1/models/digits/generate?{query}", headers=AUTH)
    assert response.status_code == 422 and field in error_of(response)["fields"]
    assert gateway.torchserve.calls == []


def test_one_contract_for_the_gateway_and_the_model_server(gateway: Gateway) -> None:
    """The model's classes and the gateway's image limit come from the validation context."""
    gateway.store.record_model("noise", "1", "c" * 32, META | {"num_classes": 0, "class_names": []})
    refused = gateway.client.post(
        "/v1/models/noise/generate", json={"n": 1, "label": 1}, headers=AUTH
    )
    assert refused.status_code == 422
    assert "unconditional" in error_of(refused)["fields"]["label"]
    assert (
        gateway.client.post("/v1/models/noise/generate", json={"n": 64}, headers=AUTH).status_code
        == 200
    )
    assert gateway.torchserve.calls[-1][1] == {"n": 64, "format": "json"}


def test_generation_errors(gateway: Gateway, digits: str) -> None:
    assert (
        gateway.client.post("/v1/models/ghost/generate", json={"n": 1}, headers=AUTH).status_code
        == 404
    )
    assert (
        gateway.client.post(
            "/v1/models/digits/generate?version=9", json={"n": 1, "label": 1}, headers=AUTH
        ).status_code
        == 404
    )
    gateway.torchserve.down = True
    down = gateway.client.post(
        "/v1/models/digits/generate", json={"n": 1, "label": 1}, headers=AUTH
    )
    assert down.status_code == 503 and error_of(down)["code"] == "torchserve_unavailable"
    assert down.headers["Retry-After"].isdigit()


@pytest.mark.parametrize(
    ("answer", "status", "code", "fields"),
    [
        # today's handler: a problem body
        (
            Response(400, "application/problem+json", b'{"status": 400, "code": "invalid_request", '
                     b'"detail": "label: bad", "fields": {"label": "bad"}}'),
            422, "invalid_request", {"label": "bad"},
        ),
        # archives built before it: {"error": {...}}
        (
            Response(400, "application/json",
                     b'{"error": {"message": "label out of range", "fields": {"label": "bad"}}}'),
            422, "invalid_request", {"label": "bad"},
        ),
        (Response(400, "text/plain", b"Bad request, no JSON here"), 422, "invalid_request", None),
        (Response(400, "application/json", b"[" * 30_000), 422, "invalid_request", None),
        (Response(503, "application/json", b'{"message": "no worker"}'), 503, "model_not_ready", None),
        (Response(404, "application/json", b'{"message": "not found"}'), 503, "model_not_ready", None),
        (Response(500, "text/html", b"<html>"), 502, "model_server_error", None),
    ],
)  # fmt: skip
def test_the_model_servers_refusals_are_the_gateways(
    gateway: Gateway, digits: str, answer: Response, status: int, code: str, fields: dict | None
) -> None:
    gateway.torchserve.answer = answer
    refused = gateway.client.post(
        "/v1/models/digits/generate", json={"n": 1, "label": 1}, headers=AUTH
    )
    assert refused.status_code == status and error_of(refused)["code"] == code
    assert error_of(refused).get("fields") == fields
    assert ("Retry-After" in refused.headers) == (status == 503)


# ---- the rest ------------------------------------------------------------------------------------


OPERATIONS = {
    ("get", "/healthz"): "health",
    ("get", "/readyz"): "health",
    ("post", "/v1/jobs"): "jobs",
    ("get", "/v1/jobs"): "jobs",
    ("get", "/v1/jobs/{job_id}"): "jobs",
    ("delete", "/v1/jobs/{job_id}"): "jobs",
    ("get", "/v1/jobs/{job_id}/metrics"): "jobs",
    ("get", "/v1/jobs/{job_id}/events"): "jobs",
    ("get", "/v1/jobs/{job_id}/loss.png"): "jobs",
    ("get", "/v1/jobs/{job_id}/samples.png"): "jobs",
    ("get", "/v1/jobs/{job_id}/model.mar"): "jobs",
    ("get", "/v1/jobs/{job_id}/generator.pt"): "jobs",
    ("get", "/v1/models"): "models",
    ("get", "/v1/models/{name}"): "models",
    ("post", "/v1/models"): "models",
    ("put", "/v1/models/{name}/default"): "models",
    ("delete", "/v1/models/{name}"): "models",
    ("delete", "/v1/models/{name}/versions/{version}"): "models",
    ("post", "/v1/models/{name}/generate"): "models",
    ("get", "/v1/models/{name}/generate"): "models",
    ("post", "/v1/keys"): "keys",
    ("get", "/v1/keys"): "keys",
    ("delete", "/v1/keys/{key_id}"): "keys",
}


def test_openapi_describes_every_route(gateway: Gateway) -> None:
    spec = gateway.client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["apiKey"] == {"type": "http", "scheme": "bearer"}
    found = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert found == set(OPERATIONS)
    for (method, path), tag in OPERATIONS.items():
        operation = spec["paths"][path][method]
        assert operation["tags"] == [tag] and operation["summary"], path
        assert ("security" in operation) == (tag != "health"), path
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path != "/readyz":
                assert list(response["content"]) == ["application/problem+json"], (path, status)
    schemas = spec["components"]["schemas"]
    job_spec = schemas["JobSpec"]
    assert "model" in job_spec["properties"] and job_spec["additionalProperties"] is False
    assert {"GenerateRequest", "Experiment", "Problem", "JobList", "ModelPublic"} <= set(schemas)
    generate = spec["paths"]["/v1/models/{name}/generate"]
    assert generate["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GenerateRequest"
    }
    assert {"image/png", "application/json"} <= set(generate["post"]["responses"]["200"]["content"])
    query = {p["name"] for p in generate["get"]["parameters"] if p["in"] == "query"}
    assert query == {"n", "label", "seed", "format", "version"}
    listing = {p["name"] for p in spec["paths"]["/v1/jobs"]["get"]["parameters"]}
    assert listing == {"state", "offset", "limit"}
    assert "422" not in spec["paths"]["/v1/models"]["get"]["responses"]  # takes no input


def test_docs_page_is_swagger_served_by_the_gateway_itself(gateway: Gateway) -> None:
    import re

    page = gateway.client.get("/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.data.decode())
    assert len(assets) >= 3
    for asset in assets:
        assert "//" not in asset, asset  # nothing from a CDN
        fetched = gateway.client.get("/" + asset.lstrip("/"))
        assert fetched.status_code == 200 and len(fetched.data) > 1000, asset
    assert b'"validatorUrl": null' in page.data  # no badge from validator.swagger.io


def test_unknown_routes_and_methods_answer_problems(gateway: Gateway) -> None:
    missing = gateway.client.get("/v2/nothing")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert error_of(missing)["instance"] == "/v2/nothing"
    response = gateway.client.put("/v1/jobs", headers=AUTH)
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_request_ids(gateway: Gateway) -> None:
    assert len(gateway.client.get("/healthz").headers["X-Request-Id"]) == 32
    assert (
        gateway.client.get("/healthz", headers={"X-Request-Id": "abc123"}).headers["X-Request-Id"]
        == "abc123"
    )
    assert (
        gateway.client.get("/healthz", headers={"X-Request-Id": "bad id;drop"}).headers[
            "X-Request-Id"
        ]
        != "bad id;drop"
    )


def test_the_gateway_recovers_when_redis_returns(tmp_path: Path) -> None:
    from services.stack.processes import free_port
    from services.stack.redis import start_redis

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = create_app(
        settings_for(url, tmp_path),
        store=JobStore.from_url(url, timeout_s=0.5),
        torchserve=FakeTorchServe(),
        send_job=lambda _: None,
    )  # type: ignore[arg-type]
    client = app.test_client()
    server = start_redis(tmp_path / "redis", port)
    assert client.get("/v1/jobs", headers=AUTH).status_code == 200
    server.stop()
    began = time.monotonic()
    assert client.get("/v1/jobs", headers=AUTH).status_code == 503
    assert time.monotonic() - began < 1.5
    server = start_redis(tmp_path / "redis", port)
    try:
        assert client.get("/v1/jobs", headers=AUTH).status_code == 200
    finally:
        server.stop()
