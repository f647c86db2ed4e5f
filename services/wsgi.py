"""The production entry point: gunicorn 'services.wsgi:app' (settings from GANFOUNDRY_*)."""

from __future__ import annotations

import logging

from services.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
app = create_app()
