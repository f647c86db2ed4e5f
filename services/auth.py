"""API keys: Authorization: Bearer <key>, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, request

from services.errors import ApiError

View = TypeVar("View", bound=Callable[..., Any])


def key_is_valid(header: str | None, keys: tuple[str, ...]) -> bool:
    """Check every key, so the time taken does not tell which one (or how much) matched."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.strip().encode(), key.encode())
    return matched


def require_key(always: bool = True) -> Callable[[View], View]:
    """Refuse with 401 without a valid key; ``always=False`` lets public reads through."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            settings = current_app.extensions["ganfoundry"].settings
            if (always or not settings.public_reads) and not key_is_valid(
                request.headers.get("Authorization"), settings.api_keys
            ):
                raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <API key>'")
            return view(*args, **kwargs)

        return cast(View, guarded)

    return decorate
