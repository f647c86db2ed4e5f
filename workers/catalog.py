"""The record of what must be served: every name, its versions, their archives and serving state.

Redis holds it; TorchServe's own list is a cache of it that the reconciler (``workers.reconciler``)
rebuilds after a restart. Per name (prefix ``gf:``): ``model:<name>`` (what the generator draws,
the default version), ``model:<name>:versions`` (version → the job that trained it),
``model:<name>:archives`` (version → its ``.mar`` file in the model store, sha256, created time),
``model:<name>:serving`` (version → loading, ready or unavailable, and why) and
``model:<name>:last`` (the highest version ever given out, so that none is given twice),
``model:<name>:claim`` (the key that is publishing a name nobody serves yet, until it is recorded);
``models`` (names, most recently trained first); ``retired`` (versions deleted from the record,
by a user or by the retention setting, that the reconciler still has to unregister and whose
archive it removes).

A version without an archive is built by the reconciler from its job's generator (a job served
later, through ``POST /v1/models``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from workers.records import Archive, ModelMeta, ServedModel, ServingState, decode, encode

PREFIX = "gf:"
CLAIM_S = 3600  # a claim outlives any registration; a worker that died with one lets it go

# KEYS: the name's hash, its claim; ARGV: the job's owner, the owner the gateway accepted at
# submit ('' for a name nobody served), the claim's lifetime (ms). 1: the job may publish.
CLAIM = """
local current = redis.call('HGET', KEYS[1], 'owner')
if not current then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
  current = redis.call('GET', KEYS[2])
  if not current then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
    return 1
  end
end
if current == ARGV[1] or current == ARGV[2] then return 1 end
return 0
"""


@dataclass(frozen=True)
class RecordedVersion:
    """One version the record says must be served."""

    name: str
    version: str
    archive: Archive | None  # None: the reconciler builds it from the job's generator
    default: bool
    job_id: str = ""
    pending_default: bool = False  # becomes the default once it is ready


@dataclass(frozen=True)
class RetiredVersion:
    """A version deleted from the record that TorchServe may still serve."""

    name: str
    version: str
    file: str | None  # its archive in the model store, removed once it is unregistered

    @property
    def field(self) -> str:
        return f"{self.name}/{self.version}"


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
        *,
        default: Literal["now", "when ready", "no"] = "now",
        keep: int | None = None,
        owner: str | None = None,
    ) -> list[str]:
        """Remember a version, what it draws, and its archive (then ``ready``: it was registered).

        ``default``: when it becomes the default; a new name's first version is at once (a name
        always has one). Without an archive the reconciler builds it from the job's generator.
        ``keep``: the retention, the newest versions kept (the default and the
        pending default always); returns the versions it retired. ``owner``: the id of the key
        that serves it; the first to serve a name owns it.
        """
        key = _key(name)
        checked = ModelMeta.model_validate(meta).model_dump(mode="json")
        record: dict[str, Any] = {"name": name, **checked}
        if default == "now" or not self.redis.exists(key):
            record |= {"default_version": version, "pending_default": None}
        elif default == "when ready":
            record |= {"pending_default": version}
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=encode(record))
            if owner is not None:
                pipe.hsetnx(key, "owner", json.dumps(owner))
            pipe.hset(key + ":versions", mapping=encode({version: job_id}))
            if archive is not None:
                pipe.hset(key + ":archives", mapping=encode({version: archive.model_dump()}))
                pipe.hset(key + ":serving", mapping=encode({version: _state("ready")}))
            pipe.zadd(PREFIX + "models", {name: time.time()})
            pipe.delete(key + ":claim")
            pipe.execute()
        return [] if keep is None else self.retire_beyond(name, keep)

    def claim_name(self, name: str, owner: str | None, accepted_owner: str | None) -> bool:
        """Whether a job of ``owner`` may still publish under ``name``: the name's owner is the
        job's, or the one the gateway accepted at submit (an admin's job), or nobody (then the
        name is claimed for ``owner`` until its version is recorded)."""
        accepted = "" if accepted_owner is None else json.dumps(accepted_owner)
        keys = (_key(name), _key(name) + ":claim")
        allowed = self.redis.eval(CLAIM, 2, *keys, json.dumps(owner), accepted, CLAIM_S * 1000)
        return bool(allowed)

    def reserve_version(self, name: str, floor: int = 1) -> str:
        """A version number for ``name`` that was never given out (at least ``floor``)."""
        key = _key(name)

        def take(pipe: Any) -> str:
            taken = [int(pipe.get(key + ":last") or 0), floor - 1]
            taken += [int(float(v)) for v in pipe.hkeys(key + ":versions") if _numeric(v)]
            number = max(taken) + 1
            pipe.multi()
            pipe.set(key + ":last", number)
            return str(number)

        version: str = self.redis.transaction(
            take, key + ":last", key + ":versions", value_from_callable=True
        )
        return version

    def set_archive(self, name: str, version: str, archive: Archive) -> None:
        """The archive the reconciler built for a version recorded without one."""
        self.redis.hset(_key(name) + ":archives", version, json.dumps(archive.model_dump()))

    def has_room(self, name: str, cap: int) -> bool:
        """Whether ``name`` may be served: it is already, or fewer than ``cap`` names are."""
        return bool(self.redis.exists(_key(name))) or self.redis.zcard(PREFIX + "models") < cap

    def get_model(self, name: str) -> dict[str, Any] | None:
        key = _key(name)
        raw = self.redis.hgetall(key)
        if not raw:
            return None
        versions = decode(self.redis.hgetall(key + ":versions"))
        ordered = dict(sorted(versions.items(), key=lambda item: version_key(item[0])))
        states = decode(self.redis.hgetall(key + ":serving"))
        serving = {version: states[version] for version in ordered if version in states}
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
            head = decode(self.redis.hgetall(key))
            archives = decode(self.redis.hgetall(key + ":archives"))
            versions = decode(self.redis.hgetall(key + ":versions"))
            for version in sorted(versions, key=version_key):
                stored = archives.get(version)
                archive = None if stored is None else Archive.model_validate(stored)
                default = version == head.get("default_version")
                pending = version == head.get("pending_default")
                found.append(
                    RecordedVersion(name, version, archive, default, versions[version], pending)
                )
        return found

    def set_default_version(self, name: str, version: str) -> bool:
        """Make a recorded version the default (the reconciler then tells TorchServe); False
        when the name has no such version."""
        key = _key(name)

        def switch(pipe: Any) -> bool:
            if not pipe.exists(key) or not pipe.hexists(key + ":versions", version):
                return False
            pipe.multi()
            pipe.hset(key, mapping=encode({"default_version": version, "pending_default": None}))
            return True

        changed: bool = self.redis.transaction(
            switch, key, key + ":versions", value_from_callable=True
        )
        return changed

    def retire(self, name: str, versions: list[str]) -> None:
        """Take versions out of the record; the reconciler unregisters them and removes their
        archives (``retired``)."""
        key = _key(name)
        archives = decode(self.redis.hgetall(key + ":archives"))
        entries = [RetiredVersion(name, v, (archives.get(v) or {}).get("file")) for v in versions]
        if not entries:
            return
        gone = {entry.field: json.dumps(asdict(entry)) for entry in entries}
        pending = json.loads(self.redis.hget(key, "pending_default") or "null")
        with self.redis.pipeline() as pipe:
            pipe.hset(PREFIX + "retired", mapping=gone)
            if pending in versions:
                pipe.hset(key, "pending_default", "null")
            for part in ("versions", "archives", "serving"):
                pipe.hdel(f"{key}:{part}", *versions)
            pipe.execute()

    def retire_beyond(self, name: str, keep: int) -> list[str]:
        """Retire all but the newest ``keep`` versions (the default and pending one stay)."""
        head = decode(self.redis.hgetall(_key(name)))
        kept = {head.get("default_version"), head.get("pending_default")}
        newest_first = sorted(self.redis.hkeys(_key(name) + ":versions"), key=version_key)[::-1]
        old = [v for v in newest_first[keep:] if v not in kept]
        self.retire(name, old)
        return old

    def forget_model(self, name: str) -> None:
        """Drop a name and retire all its versions: nothing brings it back any more."""
        key = _key(name)
        self.retire(name, self.redis.hkeys(key + ":versions"))
        with self.redis.pipeline() as pipe:
            pipe.zrem(PREFIX + "models", name)
            pipe.delete(key, key + ":versions", key + ":archives", key + ":serving")
            pipe.execute()

    def retired(self) -> list[RetiredVersion]:
        """Versions out of the record that TorchServe may still serve."""
        raw = self.redis.hvals(PREFIX + "retired")
        return [RetiredVersion(**json.loads(value)) for value in raw]

    def drop_retired(self, gone: RetiredVersion) -> None:
        """Unregistered and its archive removed: nothing is left of it."""
        self.redis.hdel(PREFIX + "retired", gone.field)

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


def _numeric(version: str) -> bool:
    return version.replace(".", "", 1).isdigit()


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
