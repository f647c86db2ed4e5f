"""JSON log lines for every process of the project, with what a line is about (a request id, a
job id) taken from the context it was written in.

JSON keeps user text (paths, names, ids) inside a quoted string, so a newline or a quote a
client sends cannot forge a log line. Imports nothing but the standard library.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

FIELDS = ("method", "path", "status", "ms")  # a request line's, passed as ``extra``
_CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("log_context", default=None)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Every line logged inside carries these fields (those that are not None)."""
    given = {name: value for name, value in fields.items() if value is not None}
    token = _CONTEXT.set((_CONTEXT.get() or {}) | given)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = _CONTEXT.get() or {}
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or context.get("request_id"),
        }
        entry |= {name: value for name, value in context.items() if name != "request_id"}
        entry |= {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def log_as_json(level: int | str = logging.INFO, *filters: logging.Filter) -> None:
    """Every log record of this process to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for extra in filters:
        handler.addFilter(extra)
    logging.basicConfig(level=level, handlers=[handler], force=True)
