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
