"""The reconciler against a real Redis and a TorchServe that is not there (a closed port)."""

from __future__ import annotations

import time
from pathlib import Path

from model_archive.client import TorchServeClient
from services.stack.processes import free_port
from workers.reconciler import LOADING_POLL_S, Reconciler, reconcile
from workers.records import Archive, ModelMeta
from workers.store import JobStore

META = ModelMeta(
    family="mnist-gan", num_classes=0, class_names=[], latent_size=100, output_shape=[1, 28, 28]
)


def down_client() -> TorchServeClient:
    port = free_port()  # nothing listens on it: every call is refused at once
    return TorchServeClient(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", timeout_s=1)


def test_torchserve_down_marks_every_version_and_asks_for_the_next_pass_soon(
    store: JobStore, tmp_path: Path
) -> None:
    archive = Archive(file="rec-a.v1.mar", sha256="0" * 64, created_at=time.time())
    store.record_model("rec-a", "1", "a" * 32, META, archive)
    store.record_model(
        "rec-a", "2", "b" * 32, META, archive.model_copy(update={"file": "rec-a.v2.mar"})
    )
    client = down_client()
    done = reconcile(store, client, tmp_path)
    assert {done["rec-a/1"], done["rec-a/2"]} == {"down"} == set(done.values())
    assert store.serving_of("rec-a", "1").state == "unavailable"  # type: ignore[union-attr]
    reconciler = Reconciler(store, client, tmp_path, "test", interval_s=2.0)
    assert reconciler._pass() == LOADING_POLL_S  # not the 2 s interval: it is back within seconds
