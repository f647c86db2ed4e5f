"""The gateway's logs: one JSON object per line, with the request id of the request it is about.

JSON keeps user text (paths, names, ids) inside a quoted string, so a newline or a quote a
client sends cannot forge a log line.
"""

from __future__ import annotations

import json
import logging
import sys

from flask import g, has_request_context

FIELDS = ("method", "path", "status", "ms")  # the request line's, passed as ``extra``


class RequestIdFilter(logging.Filter):
    """Adds the id of the request being answered (none outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry |= {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def log_as_json(level: int = logging.INFO) -> None:
    """Every log record of this process to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
