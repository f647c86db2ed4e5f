"""Issued API keys in Redis: found by their hash only, listed without secrets, revoked at once."""

from __future__ import annotations

from workers.keys import KEYS, KeyStore, Principal, digest, fingerprint
from workers.spec import JobSpec
from workers.store import JobStore


def test_a_key_is_found_by_its_hash_and_never_kept(store: JobStore) -> None:
    store.redis.delete(KEYS)
    keys = KeyStore(store.redis)
    key, record = keys.create("alice", ["train", "generate", "train"])
    assert key.startswith("gf_") and len(key) >= 45
    assert record.scopes == ["generate", "train"] and record.id == fingerprint(key)
    assert list(store.redis.hkeys(KEYS)) == [digest(key)]
    assert key not in str(store.redis.hgetall(KEYS))
    assert keys.find(key) == Principal(record.id, "alice", frozenset({"generate", "train"}))
    assert keys.find(key + "x") is None and keys.find("") is None
    assert [r.id for r in keys.records()] == [record.id]
    assert keys.revoke(record.id) and keys.find(key) is None and not keys.revoke(record.id)


def test_scopes_admin_can_everything_others_what_they_hold() -> None:
    admin = Principal("a" * 16, "root", frozenset({"admin"}))
    trainer = Principal("b" * 16, "student", frozenset({"train"}))
    assert all(admin.can(scope) for scope in ("generate", "train", "admin"))
    assert trainer.can("train") and not trainer.can("generate") and not trainer.can("admin")


def test_a_keys_jobs_are_listed_apart_newest_first_by_state(store: JobStore) -> None:
    store.redis.flushdb()
    spec = JobSpec(model="mnist-cgan")
    first, second = store.create(spec, owner="a" * 16), store.create(spec, owner="a" * 16)
    other = store.create(spec, owner="b" * 16)
    store.cancel(first.id)
    page, total = store.list_jobs(owner="a" * 16)
    assert [job.id for job in page] == [second.id, first.id] and total == 2
    queued, total = store.list_jobs(state="queued", owner="a" * 16)
    assert [job.id for job in queued] == [second.id] and total == 1
    assert store.list_jobs(offset=1, limit=1, owner="a" * 16)[0][0].id == first.id
    assert {job.id for job in store.list_jobs()[0]} == {first.id, second.id, other.id}
