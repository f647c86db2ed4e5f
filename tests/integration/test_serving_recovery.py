"""TorchServe SIGKILLed and started again: the record in Redis brings every model back.

A real TorchServe under the local stack's supervisor (which starts it again by itself), a real
Redis, the gateway in-process over the real TorchServe client, and the reconciler as the workers
run it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from model_archive.builder import build_archive
from model_archive.client import TorchServeClient
from model_archive.config import ServerConfig
from services.app import create_app
from services.stack.redis import RedisProcess
from services.stack.supervisor import start_supervised, torchserve_pid
from services.stack.torchserve import config_on_free_ports, start_torchserve
from tests.services.conftest import AUTH, settings_for
from workers.publish import model_meta
from workers.reconciler import file_sha256, reconcile
from workers.records import Archive
from workers.spec import JobSpec
from workers.store import JobStore

BODY = {"n": 3, "label": 4, "seed": 99, "format": "grid"}


def _serve(
    store: JobStore, client: TorchServeClient, artifact: Path, store_dir: Path, name: str
) -> None:
    """What a worker does at the end of a job: archive, register, record."""
    mar = build_archive(artifact, name, "1", store_dir)
    client.register(mar.name, name)
    archive = Archive(file=mar.name, sha256=file_sha256(mar), created_at=time.time())
    store.record_model(name, "1", "a" * 32, model_meta(JobSpec(model="mnist-cgan")), archive)


def _fresh(redis: RedisProcess, db: int, folder: Path) -> tuple[str, JobStore, ServerConfig]:
    """An empty Redis database of the test's own, and a TorchServe config on free ports."""
    url = redis.url.rsplit("/", 1)[0] + f"/{db}"
    store = JobStore.from_url(url)
    store.redis.flushdb()
    return url, store, config_on_free_ports(folder / "store")


def _kill(pid: int) -> None:
    members = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    os.killpg(pid, signal.SIGKILL)
    psutil.wait_procs(members, timeout=10)


def test_a_killed_torchserve_comes_back_by_itself_with_every_model_byte_for_byte(
    tmp_path: Path, jobs_redis: RedisProcess, cgan_artifact: Path
) -> None:
    url, store, config = _fresh(jobs_redis, 3, tmp_path)
    folder = tmp_path / "server"
    server = start_supervised(folder, config)
    client = server.client
    try:
        for name in ("alpha", "beta", "gamma"):
            _serve(store, client, cgan_artifact, config.model_store, name)
        before = {name: client.infer(name, BODY).body for name in ("alpha", "beta")}
        gateway = create_app(
            settings_for(url, tmp_path).model_copy(
                update={"torchserve_inference_url": config.inference_url}
            ),
            store=store,
            # the gateway's client: inference only; it reads the key file again after the restart
            torchserve=TorchServeClient(
                config.inference_url, timeout_s=5, key_file=server.key_file
            ),
            send_job=lambda _: None,
        ).test_client()
        (config.model_store / "gamma.v1.mar").write_bytes(b"not the archive that was recorded")

        first = torchserve_pid(folder)
        assert first is not None
        _kill(first)
        for name in ("alpha", "beta"):
            asked = time.monotonic()
            answer = gateway.post(f"/v1/models/{name}/generate", json=BODY, headers=AUTH)
            assert answer.status_code == 503 and time.monotonic() - asked < 1
            assert int(answer.headers["Retry-After"]) > 0
        reconcile(store, client, config.model_store)  # unavailable while down, unless it is back
        assert store.serving_of("alpha", "1").state in ("unavailable", "loading")  # type: ignore[union-attr]

        deadline = time.monotonic() + 60  # the supervisor starts it again: empty (--ncs)
        while not client.ping() or torchserve_pid(folder) in (None, first):
            assert time.monotonic() < deadline, "TorchServe was not started again"
            time.sleep(0.2)
        done = reconcile(store, client, config.model_store)
        assert done["gamma/1"] == "refused"
        assert {done["alpha/1"], done["beta/1"]} <= {"registering", "loading"}
        deadline = time.monotonic() + 60
        while store.serving_of("alpha", "1").state != "ready" or (  # type: ignore[union-attr]
            store.serving_of("beta", "1").state != "ready"  # type: ignore[union-attr]
        ):
            assert time.monotonic() < deadline, store.get_model("alpha")
            time.sleep(0.5)
            reconcile(store, client, config.model_store)
        for name in ("alpha", "beta"):
            again = gateway.post(f"/v1/models/{name}/generate", json=BODY, headers=AUTH)
            assert again.status_code == 200 and again.data == before[name]  # the same PNG bytes
            assert store.get_model(name)["serving"]["1"]["state"] == "ready"  # type: ignore[index]
        gamma = store.get_model("gamma")["serving"]["1"]  # type: ignore[index]
        assert gamma["state"] == "unavailable" and "sha256 differs" in gamma["reason"]
        assert "gamma" not in {m["modelName"] for m in client.list_models()}  # never registered
        assert reconcile(store, client, config.model_store) == {"gamma/1": "refused"}  # settled
    finally:
        server.stop()


def test_a_rolled_back_default_reaches_torchserve_through_the_reconciler(
    tmp_path: Path, jobs_redis: RedisProcess, cgan_artifact: Path
) -> None:
    from tests.model_archive.conftest import write_artifact

    url, store, config = _fresh(jobs_redis, 4, tmp_path)
    server = start_torchserve(tmp_path / "server", config)
    client = server.client
    try:
        _serve(store, client, cgan_artifact, config.model_store, "delta")
        newer = build_archive(
            write_artifact(tmp_path / "v2", "mnist-cgan", seed=11), "delta", "2", config.model_store
        )
        client.register(newer.name, "delta")
        archive = Archive(file=newer.name, sha256=file_sha256(newer), created_at=time.time())
        store.record_model("delta", "2", "b" * 32, model_meta(JobSpec(model="mnist-cgan")), archive)
        client.set_default("delta", "2")
        first = client.infer("delta", BODY, version="1").body
        assert client.infer("delta", BODY).body != first  # version 2 draws other digits
        gateway = create_app(
            settings_for(url, tmp_path),
            store=store,
            torchserve=TorchServeClient(config.inference_url, key_file=server.key_file),
            send_job=lambda _: None,
        ).test_client()
        answer = gateway.put("/v1/models/delta/default", json={"version": "1"}, headers=AUTH)
        assert answer.status_code == 200 and answer.json["default_version"] == "1"
        reconcile(store, client, config.model_store)  # what the workers' reconciler does next
        assert client.infer("delta", BODY).body == first  # TorchServe's default follows
        again = gateway.post("/v1/models/delta/generate", json=BODY, headers=AUTH)
        assert again.status_code == 200 and again.data == first
    finally:
        server.stop()
