"""The CLI shows an API error as one line, from the gateway's problem body."""

from __future__ import annotations

import json

from model_archive.problems import problem
from services.cli import _error_line


def test_a_problem_is_one_line_with_status_code_and_detail() -> None:
    body = problem(422, "invalid_request", "label: 42 is out of range: use 0-9", {"label": "..."})
    line = _error_line(422, json.dumps(body).encode())
    assert line == "422 invalid_request: label: 42 is out of range: use 0-9"


def test_older_gateways_and_other_servers_still_read() -> None:
    old = {"error": {"code": "invalid_request", "message": "label must be 0-9"}}
    assert _error_line(400, json.dumps(old).encode()) == "400 invalid_request: label must be 0-9"
    assert _error_line(502, b"<html>Bad Gateway</html>") == "502: <html>Bad Gateway</html>"
    assert _error_line(500, b'["a list"]') == '500: ["a list"]'
