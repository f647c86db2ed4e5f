"""Rate limits and the images quota, with Flask-Limiter on the job store's Redis.

Each call to a keyed blueprint (jobs, models, keys, metrics) counts in one bucket per key and
scope: the scope the view needs, sized by GANFOUNDRY_RATE_LIMIT_<SCOPE>. Calls without a valid key
count per client address (GANFOUNDRY_RATE_LIMIT_ANONYMOUS), so guessing keys is slow too. Images
count per key and minute (GANFOUNDRY_IMAGES_PER_MINUTE) once a valid request goes to the model
server. A refusal is a 429 problem with Retry-After. Every limited answer carries RateLimit-Limit,
RateLimit-Remaining, RateLimit-Reset (seconds) and RateLimit-Policy. While Redis is away each
gateway process keeps the limits in its memory.
"""

from __future__ import annotations

import math
import time

import redis
from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from limits import RateLimitItem, RateLimitItemPerMinute

from services.auth import request_principal, view_scope
from services.errors import ApiError, problem_response
from services.settings import GatewaySettings
from workers.keys import Principal

LIMITED_BLUEPRINTS = frozenset({"jobs", "models", "keys", "metrics"})
IMAGES = "images"


def make_limiter(app: Flask, settings: GatewaySettings) -> Limiter:
    """Flask-Limiter on ``app``: the per-scope limits, their headers and their 429."""
    limiter = Limiter(
        key_func=_bucket,
        app=app,
        application_limits=[_limit_text],
        application_limits_exempt_when=_exempt,
        storage_uri=settings.redis_url,
        storage_options={  # a Redis that is away costs a call at most this long
            "socket_timeout": settings.backend_timeout_s,  # type: ignore[dict-item]
            "socket_connect_timeout": settings.backend_timeout_s,  # type: ignore[dict-item]
        },
        strategy="sliding-window-counter",
        headers_enabled=False,  # ours below: RateLimit-* with the reset in seconds
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix="gf:limits",
        enabled=settings.rate_limits,
    )
    app.after_request(_headers)
    app.register_error_handler(RateLimitExceeded, _refused)
    return limiter


def charge_images(count: int) -> None:
    """Before making ``count`` images: count them against the key's images per minute (one
    Redis call), or 429 when they would run over, counting none."""
    limiter, item, who = _images()
    if limiter is None or limiter.limiter.hit(item, who, IMAGES, cost=count):
        return
    stats = limiter.limiter.get_window_stats(item, who, IMAGES)
    wait = _seconds_until(stats.reset_time, item)
    raise ApiError(
        429,
        "image_quota",
        f"this key may make {item.amount} images a minute and has {stats.remaining} left; "
        f"ask for fewer or wait {wait} s",
        headers={"Retry-After": str(wait)},
    )


def _images() -> tuple[Limiter | None, RateLimitItem, str]:
    services = current_app.extensions["ganfoundry"]
    item = RateLimitItemPerMinute(services.settings.images_per_minute)
    limiter = services.limiter if services.settings.rate_limits else None
    return limiter, item, _who()


def _principal() -> Principal | None:
    try:
        return request_principal()
    except redis.RedisError:  # the key could not be looked up: check_key answers 503
        return None


def _who() -> str:
    """The key's id, or the client's address for calls without a valid key."""
    principal = _principal()
    return principal.id if principal is not None else f"address:{request.remote_addr}"


def _anonymous() -> bool:
    return _principal() is None


def _bucket() -> str:
    return f"{_who()}:{'anonymous' if _anonymous() else view_scope()}"


def _limit_text() -> str:
    settings: GatewaySettings = current_app.extensions["ganfoundry"].settings
    if _anonymous():
        return settings.rate_limit_anonymous
    return str(getattr(settings, f"rate_limit_{view_scope()}"))


def _exempt() -> bool:
    """Health, docs and the console's files are not limited; nor is Flask's answer to OPTIONS."""
    return request.blueprint not in LIMITED_BLUEPRINTS or request.method == "OPTIONS"


def _current() -> RequestLimit | None:
    limiter = current_app.extensions["ganfoundry"].limiter
    return limiter.current_limit if limiter is not None else None


def _headers(response: Response) -> Response:
    try:
        limit = _current()
        if limit is None:
            return response
        reset_at, remaining = limit.window
    except redis.RedisError:  # the window could not be read: an answer without the headers
        return response
    response.headers["RateLimit-Limit"] = str(limit.limit.amount)
    response.headers["RateLimit-Remaining"] = str(max(0, remaining))
    response.headers["RateLimit-Reset"] = str(_seconds_until(reset_at, limit.limit))
    response.headers["RateLimit-Policy"] = f"{limit.limit.amount};w={limit.limit.get_expiry()}"
    return response


def _refused(error: RateLimitExceeded) -> Response:
    limit = _current()
    wait = _seconds_until(limit.window[0], limit.limit) if limit is not None else 1
    anonymous = _anonymous()
    who = "this address" if anonymous else "this key"
    calls = "calls without a valid key" if anonymous else f"'{view_scope()}' calls"
    return problem_response(
        ApiError(
            429,
            "rate_limited",
            f"{who} is past its limit of {error.limit.limit} for {calls}; "
            f"wait {wait} s (Retry-After)",
            headers={"Retry-After": str(wait)},
        )
    )


def _seconds_until(moment: float, limit: RateLimitItem) -> int:
    """Whole seconds from now to ``moment``, at least 1 and at most the limit's window."""
    return min(limit.get_expiry(), max(1, math.ceil(moment - time.time())))
