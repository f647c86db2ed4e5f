"""The CLI shows an API error as one line, and follows a job's event stream through drops."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from model_archive.problems import problem
from services.cli import Gateway, _error_line, job_events


def test_a_problem_is_one_line_with_status_code_and_detail() -> None:
    body = problem(422, "invalid_request", "label: 42 is out of range: use 0-9", {"label": "..."})
    line = _error_line(422, json.dumps(body).encode())
    assert line == "422 invalid_request: label: 42 is out of range: use 0-9"


def test_older_gateways_and_other_servers_still_read() -> None:
    old = {"error": {"code": "invalid_request", "message": "label must be 0-9"}}
    assert _error_line(400, json.dumps(old).encode()) == "400 invalid_request: label must be 0-9"
    assert _error_line(502, b"<html>Bad Gateway</html>") == "502: <html>Bad Gateway</html>"
    assert _error_line(500, b'["a list"]') == '500: ["a list"]'


class DroppingStream(BaseHTTPRequestHandler):
    """Sends two events and drops the connection; asked again after the second, sends the end."""

    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        last = self.headers.get("Last-Event-ID")
        self.seen.append(last)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", "100000")  # then cut short: a dropped stream
        self.end_headers()
        if last is None:
            progress = {"step": 1, "total_steps": 2, "epoch": 1, "epochs": 1}
            progress |= {"d_loss": 0.7, "g_loss": 0.7}
            self.wfile.write(
                b'retry: 2000\n\nid: 1-0\nevent: state\ndata: {"state": "running"}\n\n'
            )
            self.wfile.write(f"id: 2-0\nevent: progress\ndata: {json.dumps(progress)}\n\n".encode())
        else:
            self.wfile.write(
                b': heartbeat\n\nid: 3-0\nevent: end\ndata: {"state": "succeeded"}\n\n'
            )
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


def test_a_dropped_event_stream_is_followed_on_from_the_last_id() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DroppingStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gateway = Gateway(f"http://127.0.0.1:{server.server_port}", "key")
        got = [(i, kind) for i, kind, _ in job_events(gateway, "a" * 32)]
    finally:
        server.shutdown()
        server.server_close()
    assert got == [("1-0", "state"), ("2-0", "progress"), ("3-0", "end")]
    assert DroppingStream.seen == [None, "2-0"]
