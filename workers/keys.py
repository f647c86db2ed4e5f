"""API keys kept in Redis: each with a name, scopes and an id; only the key's SHA-256 is stored.

Imports redis only (no torch), so the gateway can share it.

Hash ``gf:keys``: field = SHA-256 (hex) of the key, value = JSON ``{id, name, scopes,
created_at}``. A key is ``gf_`` and 32 random bytes (URL-safe base64), so an unsalted hash is
enough: there is no dictionary to try. Its id is the first 16 hex digits of the hash, the same
fingerprint that marks the jobs a key submitted (their ``owner``).

Scopes: ``generate`` (read models, make images), ``train`` (submit, read and cancel its own jobs;
serve, roll back and delete the names it serves), ``admin`` (everything: every job, every name,
the keys). The settings' static keys are admins: they bootstrap the first keys.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from workers.catalog import PREFIX

SCOPES = ("generate", "train", "metrics", "admin")  # metrics: read /metrics only
KEYS = PREFIX + "keys"
KEY_PREFIX = "gf_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(key: str) -> str:
    """A key's id: what jobs and served names record as their owner (never the key)."""
    return digest(key)[:16]


@dataclass(frozen=True)
class Principal:
    """Who sent a request: a key's id, name and scopes."""

    id: str
    name: str
    scopes: frozenset[str]

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def can(self, scope: str) -> bool:
        return self.admin or scope in self.scopes


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    scopes: list[str]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": self.scopes,
            "created_at": self.created_at,
        }


class KeyStore:
    def __init__(self, client: Any) -> None:
        self.redis = client

    def create(self, name: str, scopes: list[str]) -> tuple[str, KeyRecord]:
        """A new key and its record; the key itself is returned once and never kept."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        ordered = [scope for scope in SCOPES if scope in scopes]
        record = KeyRecord(fingerprint(key), name, ordered, round(time.time(), 3))
        self.redis.hset(KEYS, digest(key), json.dumps(record.to_dict()))
        return key, record

    def find(self, key: str) -> Principal | None:
        raw = self.redis.hget(KEYS, digest(key))
        if raw is None:
            return None
        record = json.loads(raw)
        return Principal(record["id"], record["name"], frozenset(record["scopes"]))

    def records(self) -> list[KeyRecord]:
        """Every key's record, oldest first."""
        found = [KeyRecord(**json.loads(raw)) for raw in self.redis.hvals(KEYS)]
        return sorted(found, key=lambda record: record.created_at)

    def revoke(self, key_id: str) -> bool:
        """Forget the key with this id; False when there is none."""
        for hashed, raw in self.redis.hgetall(KEYS).items():
            if json.loads(raw)["id"] == key_id:
                return bool(self.redis.hdel(KEYS, hashed))
        return False
