"""The production entry point: gunicorn 'services.wsgi:app' (settings from GANFOUNDRY_*)."""

from __future__ import annotations

from services.app import create_app
from services.logs import log_as_json

log_as_json()
app = create_app()
