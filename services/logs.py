"""The gateway's logs: JSON lines (``workers.logs``) with the id of the request they are about."""

from __future__ import annotations

import logging

from flask import g, has_request_context

from workers import logs


class RequestIdFilter(logging.Filter):
    """Adds the id of the request being answered (none outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def log_as_json(level: int = logging.INFO) -> None:
    """Every log record of the gateway's process to stderr as JSON lines."""
    logs.log_as_json(level, RequestIdFilter())
