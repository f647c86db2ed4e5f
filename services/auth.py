"""API keys and their scopes: Authorization: Bearer <key>.

Blueprints that hold keyed resources run ``check_key`` before each view, so a request without a
valid key is refused (401) before its inputs are validated, and one whose key lacks the view's
scope is refused (403). A view names its scope with ``@needs("generate")`` or ``@needs("train")``
(below the route); a view without the mark needs ``admin``. One marked ``public_read`` also lets
anyone through when GANFOUNDRY_PUBLIC_READS is on. A view that lost a mark is stricter, never
looser.

The settings' keys (GANFOUNDRY_API_KEYS) are admins and GANFOUNDRY_METRICS_KEYS read /metrics
only, both compared in constant time without Redis;
every other key is looked up by its SHA-256 in Redis (workers/keys.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from services.errors import ApiError
from workers.keys import Principal, fingerprint

View = TypeVar("View", bound=Callable[..., Any])
PUBLIC_READ = "ganfoundry_public_read"
SCOPE = "ganfoundry_scope"


def bearer(header: str | None) -> str | None:
    scheme, _, given = (header or "").partition(" ")
    return given.strip() or None if scheme.lower() == "bearer" else None


def static_key(given: str, keys: tuple[str, ...]) -> bool:
    """Check every key, so the time taken does not tell which one (or how much) matched."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def identify(header: str | None) -> Principal | None:
    """The principal a request's key names, or None (no key, or one nobody issued)."""
    given = bearer(header)
    if given is None:
        return None
    services = current_app.extensions["ganfoundry"]
    settings = services.settings
    if static_key(given, settings.api_keys):
        return Principal(fingerprint(given), "settings key", frozenset({"admin"}))
    if settings.metrics_keys and static_key(given, settings.metrics_keys):
        return Principal(fingerprint(given), "settings metrics key", frozenset({"metrics"}))
    return services.keys.find(given)


def request_principal() -> Principal | None:
    """The principal of this request's key, looked up once per request (the rate limits ask
    before ``check_key`` does)."""
    if "principal" not in g:
        g.principal = identify(request.headers.get("Authorization"))
    principal: Principal | None = g.principal
    return principal


def public_read(view: View) -> View:
    """Mark a read as open to anyone when GANFOUNDRY_PUBLIC_READS is on (below the route)."""
    setattr(view, PUBLIC_READ, True)
    return view


def needs(scope: str) -> Callable[[View], View]:
    """The scope a view needs (below the route); unmarked views need admin."""

    def mark(view: View) -> View:
        setattr(view, SCOPE, scope)
        return view

    return mark


def view_scope() -> str:
    """The scope of the view this request goes to (unmarked: admin)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return str(getattr(view, SCOPE, "admin"))


def check_key() -> None:
    """Before every view of a keyed blueprint: 401 without a valid key, 403 without the scope."""
    if request.method == "OPTIONS":  # Flask's own answer (Allow), no view runs
        return
    settings = current_app.extensions["ganfoundry"].settings
    view = current_app.view_functions.get(request.endpoint or "")
    principal = request_principal()
    if principal is None and settings.public_reads and getattr(view, PUBLIC_READ, False):
        return  # anyone may read: g.principal None sees what an admin sees, read-only
    if principal is None:
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <API key>'")
    scope = view_scope()
    if not principal.can(scope):
        raise ApiError(
            403,
            "forbidden",
            f"this key lacks the '{scope}' scope: ask an admin for a key with it "
            f"(ganfoundry keys create --scopes {scope})",
        )


def caller() -> Principal | None:
    """The request's principal (None: an anonymous public read)."""
    principal: Principal | None = g.get("principal")
    return principal


def caller_id() -> str | None:
    principal = caller()
    return principal.id if principal else None


def may_see(owner: str | None) -> bool:
    """Whether the caller may see what ``owner`` made: its own, or everything for an admin
    (and for anonymous public reads, which only read)."""
    principal = caller()
    return principal is None or principal.admin or owner == principal.id


def may_change(owner: str | None) -> bool:
    """Whether the caller may change what ``owner`` made (a served name: its first server; a
    name recorded before names had owners: admins only)."""
    principal = caller()
    return principal is not None and (
        principal.admin or (owner is not None and owner == principal.id)
    )
