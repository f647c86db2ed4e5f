"""The gateway's JSON log lines: one per request, with its id; what a client sends stays inside
its quoted field."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from services.logs import RequestIdFilter
from tests.services.conftest import AUTH, Gateway
from workers.logs import JsonFormatter


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("ganfoundry.gateway")
    logger.addHandler(handler)
    # (a logging config read by an earlier test may have disabled the loggers it did not name)
    level, disabled = logger.level, logger.disabled
    logger.disabled = False
    logger.setLevel(logging.INFO)  # (setLevel, not .level: it clears the enabled-for cache)
    yield stream
    logger.removeHandler(handler)
    logger.disabled = disabled
    logger.setLevel(level)


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_is_one_json_line_with_its_id(gateway: Gateway, lines: io.StringIO) -> None:
    answer = gateway.client.get("/v1/jobs", headers=AUTH | {"X-Request-Id": "trace42"})
    assert answer.headers["X-Request-Id"] == "trace42"
    (line,) = records(lines)
    assert line["request_id"] == "trace42" and line["message"] == "request"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/v1/jobs", 200)
    assert line["ms"] >= 0


def test_what_a_client_sends_cannot_forge_a_line(gateway: Gateway, lines: io.StringIO) -> None:
    forged = '/v1/jobs/x%0A{"level": "ERROR", "message": "forged"}'
    gateway.client.get(forged, headers=AUTH | {"X-Request-Id": 'bad"id'})
    (line,) = records(lines)  # one line, however many newlines the client sent
    assert line["path"].startswith("/v1/jobs/x\n")
    assert line["request_id"] != 'bad"id' and line["request_id"].isalnum()  # replaced


def test_the_request_id_goes_along_to_the_model_server(gateway: Gateway, digits: str) -> None:
    headers = AUTH | {"X-Request-Id": "trace43"}
    path = f"/v1/models/{digits}/generate"
    assert gateway.client.post(path, json={"n": 1, "label": 1}, headers=headers).status_code == 200
    assert gateway.torchserve.request_ids == ["trace43"]
