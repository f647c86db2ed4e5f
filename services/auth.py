"""API keys: Authorization: Bearer <key>, compared in constant time.

Blueprints that hold keyed resources run ``check_key`` before each view, so a request without a
key is refused before its inputs are validated or Redis is asked. Every view there needs a key;
one marked ``public_read`` lets anyone through when GANFOUNDRY_PUBLIC_READS is on. A view that
lost its mark (decorators in the wrong order) is stricter, never looser.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from services.errors import ApiError

View = TypeVar("View", bound=Callable[..., Any])
PUBLIC_READ = "ganfoundry_public_read"


def key_is_valid(header: str | None, keys: tuple[str, ...]) -> bool:
    """Check every key, so the time taken does not tell which one (or how much) matched."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.strip().encode(), key.encode())
    return matched


def key_fingerprint() -> str | None:
    """Who sent the request: the start of the SHA-256 of its key (the key itself is never kept)."""
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return hashlib.sha256(given.strip().encode()).hexdigest()[:16]


def public_read(view: View) -> View:
    """Mark a read as open to anyone when GANFOUNDRY_PUBLIC_READS is on (below the route)."""
    setattr(view, PUBLIC_READ, True)
    return view


def check_key() -> None:
    """Before every view of a keyed blueprint: 401 without a valid key."""
    if request.method == "OPTIONS":  # Flask's own answer (Allow), no view runs
        return
    settings = current_app.extensions["ganfoundry"].settings
    view = current_app.view_functions.get(request.endpoint or "")
    if settings.public_reads and getattr(view, PUBLIC_READ, False):
        return
    if not key_is_valid(request.headers.get("Authorization"), settings.api_keys):
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <API key>'")
