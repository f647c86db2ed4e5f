"""The served-model record against a real Redis: versions, archives, serving states."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from workers.records import Archive, ModelMeta
from workers.store import JobStore

META = ModelMeta(
    family="mnist-cgan",
    num_classes=10,
    class_names=[str(i) for i in range(10)],
    latent_size=100,
    output_shape=[1, 28, 28],
)


def archive(name: str, version: str) -> Archive:
    return Archive(file=f"{name}.v{version}.mar", sha256="0" * 64, created_at=time.time())


def test_versions_their_archives_and_the_default_are_recorded(store: JobStore) -> None:
    store.record_model("cat-a", "1", "a" * 32, META, archive("cat-a", "1"))
    store.record_model("cat-a", "2", "b" * 32, META, archive("cat-a", "2"))
    store.record_model("cat-a", "10", "c" * 32, META)  # recorded by an older worker: no archive
    mine = [v for v in store.recorded_versions() if v.name == "cat-a"]
    assert [(v.version, v.default) for v in mine] == [("1", False), ("2", False), ("10", True)]
    assert mine[0].archive == archive("cat-a", "1").model_copy(
        update={"created_at": mine[0].archive.created_at}  # type: ignore[union-attr]
    )
    assert mine[2].archive is None
    model = store.get_model("cat-a")
    assert model is not None and model["serving"]["2"]["state"] == "ready"
    assert "file" not in str(model)  # archive files and hashes stay out of what users read


def test_serving_states_are_written_and_read_back(store: JobStore) -> None:
    store.record_model("cat-b", "1", "a" * 32, META, archive("cat-b", "1"))
    store.set_serving("cat-b", "1", "unavailable", "TorchServe is not answering")
    state = store.serving_of("cat-b", "1")
    assert state is not None and state.state == "unavailable" and "answering" in str(state.reason)
    with pytest.raises(ValidationError):
        store.set_serving("cat-b", "1", "sleeping")


@pytest.mark.parametrize("file", ["../etc/passwd.v1.mar", "a.v1.mar/x", "/abs.v1.mar", "A.v1.mar"])
def test_an_archive_is_a_file_name_in_the_model_store_never_a_path(file: str) -> None:
    with pytest.raises(ValidationError):
        Archive(file=file, sha256="0" * 64, created_at=0.0)


def test_a_forgotten_model_is_no_longer_recorded(store: JobStore) -> None:
    store.record_model("cat-c", "1", "a" * 32, META, archive("cat-c", "1"))
    store.forget_model("cat-c")
    assert store.get_model("cat-c") is None
    assert all(v.name != "cat-c" for v in store.recorded_versions())
    assert [(r.name, r.version, r.file) for r in store.retired() if r.name == "cat-c"] == [
        ("cat-c", "1", "cat-c.v1.mar")  # for the reconciler to unregister and remove
    ]


def test_retention_keeps_the_newest_versions_and_always_the_default(store: JobStore) -> None:
    for version in ("1", "2", "3"):
        store.record_model("cat-d", version, "a" * 32, META, archive("cat-d", version))
    assert store.set_default_version("cat-d", "1")  # rolled back
    new = archive("cat-d", "4")
    retired = store.record_model("cat-d", "4", "b" * 32, META, new, default="no", keep=2)
    assert retired == ["2"]  # the newest two, and the default
    assert store.record_model("cat-d", "5", "c" * 32, META, keep=2) == ["3", "1"]
    model = store.get_model("cat-d")
    assert model is not None and list(model["versions"]) == ["4", "5"]
    assert model["default_version"] == "5" and set(model["serving"]) == {"4"}
    gone = {r.version: r.file for r in store.retired() if r.name == "cat-d"}
    assert gone == {"1": "cat-d.v1.mar", "2": "cat-d.v2.mar", "3": "cat-d.v3.mar"}
    for entry in store.retired():
        store.drop_retired(entry)
    assert store.retired() == []


def test_a_version_served_when_ready_waits_its_turn_to_be_the_default(store: JobStore) -> None:
    store.record_model("cat-e", "1", "a" * 32, META, archive("cat-e", "1"))
    store.record_model("cat-e", "2", "b" * 32, META, default="when ready")
    model = store.get_model("cat-e")
    assert model is not None and (model["default_version"], model["pending_default"]) == ("1", "2")
    pending = [v for v in store.recorded_versions() if v.name == "cat-e" and v.pending_default]
    assert [(v.version, v.job_id, v.archive) for v in pending] == [("2", "b" * 32, None)]
    assert store.set_default_version("cat-e", "2")
    model = store.get_model("cat-e")
    assert model is not None and (model["default_version"], model["pending_default"]) == ("2", None)
    store.record_model("cat-e", "3", "c" * 32, META, default="when ready")
    store.retire("cat-e", ["3"])  # deleted before it was ready: nothing is pending any more
    assert store.get_model("cat-e")["pending_default"] is None  # type: ignore[index]
    store.record_model("cat-f", "1", "a" * 32, META, default="no")  # a new name: default at once
    assert store.get_model("cat-f")["default_version"] == "1"  # type: ignore[index]


def test_a_version_number_is_never_given_twice(store: JobStore) -> None:
    assert store.reserve_version("cat-g") == "1"
    assert store.reserve_version("cat-g") == "2"  # reserved, even if never recorded
    store.record_model("cat-g", "7", "a" * 32, META, archive("cat-g", "7"))
    assert store.reserve_version("cat-g") == "8"
    store.forget_model("cat-g")
    assert store.reserve_version("cat-g") == "9"  # a deleted name's archives may linger
    assert store.reserve_version("cat-h", floor=4) == "4"  # what TorchServe already has


def test_the_cap_counts_names_not_versions(store: JobStore) -> None:
    store.redis.flushdb()
    store.record_model("cat-i", "1", "a" * 32, META)
    store.record_model("cat-i", "2", "a" * 32, META)
    assert store.has_room("cat-i", 1) and not store.has_room("cat-j", 1)
    assert store.has_room("cat-j", 2)


def test_a_name_nobody_serves_is_claimed_by_the_first_job_to_publish(store: JobStore) -> None:
    assert store.claim_name("claimed", "key-a", None)  # free: claimed for key-a
    assert store.claim_name("claimed", "key-a", None)  # its own claim again
    assert not store.claim_name("claimed", "key-b", None)  # taken while key-b's job trained
    store.record_model("claimed", "1", "a" * 32, META, owner="key-a")
    assert store.get_model("claimed") is not None
    assert not store.redis.exists("gf:model:claimed:claim")  # the record holds the owner now
    assert not store.claim_name("claimed", "key-b", None)
    assert store.claim_name("claimed", "admin", "key-a")  # accepted at submit for key-a's name


def test_a_name_recorded_before_owners_stays_publishable(store: JobStore) -> None:
    store.record_model("ownerless", "1", "a" * 32, META)  # no owner: admins passed the gateway
    assert store.claim_name("ownerless", "admin", None)
    assert not store.redis.exists("gf:model:ownerless:claim")
