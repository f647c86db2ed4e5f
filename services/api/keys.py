"""/v1/keys: issue, list and revoke API keys (admin only). Only a key's hash is kept."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from services.api import services
from services.auth import check_key
from services.errors import ApiError, problems
from services.schemas import IssuedKey, KeyList, KeyPath, NewKey

keys = APIBlueprint(
    "keys",
    __name__,
    url_prefix="/v1/keys",
    abp_tags=[Tag(name="keys", description="API keys with scopes (admin)")],
    abp_security=[{"apiKey": []}],
)
keys.before_request(check_key)  # no view here is marked: every one needs admin


@keys.post(
    "",
    summary="Issue a key (its secret is in this answer only)",
    responses={201: IssuedKey, **problems(400, 401, 415, 422, 503)},
)
def issue(body: NewKey) -> tuple[Response, int]:
    secret, record = services().keys.create(body.name, list(body.scopes))
    return jsonify(record.to_dict() | {"key": secret}), 201


@keys.get(
    "",
    summary="Every issued key (never the keys themselves)",
    responses={200: KeyList, **problems(401, 503)},
)
def listing() -> Response:
    return jsonify({"keys": [record.to_dict() for record in services().keys.records()]})


@keys.delete(
    "/<key_id>",
    summary="Revoke a key: refused at once, everywhere",
    responses={204: None, **problems(401, 404, 503)},
)
def revoke(path: KeyPath) -> tuple[str, int]:
    if not services().keys.revoke(path.key_id):
        raise ApiError(404, "not_found", f"no key with id {path.key_id[:64]!r}: see GET /v1/keys")
    return "", 204
