"""The record of what must be served: every name, its versions, their archives and serving state.

Redis holds it; TorchServe's own list is a cache of it that the reconciler (``workers.reconciler``)
rebuilds after a restart. Per name (prefix ``gf:``): ``model:<name>`` (what the generator draws,
the default version), ``model:<name>:versions`` (version → the job that trained it),
``model:<name>:archives`` (version → its ``.mar`` file in the model store, sha256, created time)
and ``model:<name>:serving`` (version → loading, ready or unavailable, and why); ``models`` (names,
most recently trained first).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from workers.records import Archive, ModelMeta, ServedModel, ServingState, decode, encode

PREFIX = "gf:"


@dataclass(frozen=True)
class RecordedVersion:
    """One version the record says must be served."""

    name: str
    version: str
    archive: Archive | None  # None: recorded before archives were kept
    default: bool


class ModelCatalog:
    """The served-model half of the store (mixed into ``JobStore``, on the same Redis)."""

    redis: Any

    def record_model(
        self,
        name: str,
        version: str,
        job_id: str,
        meta: ModelMeta | dict[str, Any],
        archive: Archive | None = None,
    ) -> None:
        """Remember a registered version (the new default), what it draws, and its archive."""
        key = _key(name)
        checked = ModelMeta.model_validate(meta).model_dump(mode="json")
        record = {"name": name, "default_version": version, **checked}
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=encode(record))
            pipe.hset(key + ":versions", mapping=encode({version: job_id}))
            if archive is not None:
                pipe.hset(key + ":archives", mapping=encode({version: archive.model_dump()}))
                pipe.hset(key + ":serving", mapping=encode({version: _state("ready")}))
            pipe.zadd(PREFIX + "models", {name: time.time()})
            pipe.execute()

    def get_model(self, name: str) -> dict[str, Any] | None:
        key = _key(name)
        raw = self.redis.hgetall(key)
        if not raw:
            return None
        versions = decode(self.redis.hgetall(key + ":versions"))
        ordered = dict(sorted(versions.items(), key=lambda item: version_key(item[0])))
        serving = decode(self.redis.hgetall(key + ":serving"))
        record = decode(raw) | {"versions": ordered, "serving": serving}
        return ServedModel.model_validate(record).model_dump()

    def list_models(self) -> list[dict[str, Any]]:
        """Every served name, most recently trained first."""
        names = self.redis.zrevrange(PREFIX + "models", 0, -1)
        return [model for name in names if (model := self.get_model(name)) is not None]

    def recorded_versions(self) -> list[RecordedVersion]:
        """Every version of every name that must be served, oldest name first."""
        found = []
        for name in self.redis.zrange(PREFIX + "models", 0, -1):
            key = _key(name)
            default = json.loads(self.redis.hget(key, "default_version") or "null")
            archives = decode(self.redis.hgetall(key + ":archives"))
            for version in sorted(self.redis.hkeys(key + ":versions"), key=version_key):
                stored = archives.get(version)
                archive = None if stored is None else Archive.model_validate(stored)
                found.append(RecordedVersion(name, version, archive, version == default))
        return found

    def set_default_version(self, name: str, version: str) -> bool:
        """Make a recorded version the default (the reconciler then tells TorchServe); False
        when the name has no such version."""
        key = _key(name)

        def switch(pipe: Any) -> bool:
            if not pipe.exists(key) or not pipe.hexists(key + ":versions", version):
                return False
            pipe.multi()
            pipe.hset(key, "default_version", json.dumps(version))
            return True

        changed: bool = self.redis.transaction(
            switch, key, key + ":versions", value_from_callable=True
        )
        return changed

    def forget_model(self, name: str) -> None:
        """Drop a name and all its versions from the record: nothing brings it back any more."""
        key = _key(name)
        with self.redis.pipeline() as pipe:
            pipe.zrem(PREFIX + "models", name)
            pipe.delete(key, key + ":versions", key + ":archives", key + ":serving")
            pipe.execute()

    def set_serving(self, name: str, version: str, state: str, reason: str | None = None) -> None:
        """What serving this version looks like now (the reconciler writes it)."""
        self.redis.hset(_key(name) + ":serving", version, json.dumps(_state(state, reason)))

    def serving_of(self, name: str, version: str) -> ServingState | None:
        raw = self.redis.hget(_key(name) + ":serving", version)
        return None if raw is None else ServingState.model_validate_json(raw)


def _state(state: str, reason: str | None = None) -> dict[str, Any]:
    return ServingState.model_validate(
        {"state": state, "reason": reason, "at": time.time()}
    ).model_dump()


def _key(name: str) -> str:
    return f"{PREFIX}model:{name}"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
