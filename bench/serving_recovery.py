"""TorchServe SIGKILLed with --models served: seconds until every one answers again.

A real Redis and TorchServe, the gateway in-process over the real TorchServe client, and the
reconciler as the workers run it (shipped interval). The kill is followed at once by a fresh
TorchServe (the role of the stack helper or compose's restart policy); 4 clients ask the gateway
for images from every model throughout. Figures: recover_all_s (kill → all answering), the
gateway's answers in that window by status, and non_503_errors (must be 0: every error a 503
with Retry-After). Last line: JSON.

    python bench/serving_recovery.py [--models 10]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import psutil

from model_archive.builder import build_archive
from services.app import create_app
from services.settings import GatewaySettings
from services.stack.processes import free_port
from services.stack.redis import start_redis
from services.stack.torchserve import config_on_free_ports, start_torchserve
from workers.engine.pipeline import run_job
from workers.publish import model_meta
from workers.reconciler import Reconciler, file_sha256
from workers.records import Archive
from workers.settings import WorkerSettings
from workers.spec import JobSpec
from workers.store import JobStore

KEY = "bench-key-0123456789abcdef"
BODY = {"n": 1, "label": 3, "seed": 5}
PAUSE_S = 0.1  # between one client's requests: 40 requests/s in all, not a busy loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=10)
    args = parser.parse_args()
    interval = WorkerSettings.model_fields["reconcile_interval_s"].default
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        spec = JobSpec(model="mnist-cgan", training={"max_steps": 5, "preflight": False})
        artifact = Path(run_job(spec, root / "job", with_evaluation=False).artifacts["generator"])
        redis = start_redis(root / "redis", free_port())
        config = config_on_free_ports(root / "store")
        server = start_torchserve(root / "server", config)
        store = JobStore.from_url(redis.url)
        client = server.client  # re-reads the key file when the restarted server refuses it
        names = [f"toy-{i}" for i in range(args.models)]
        for name in names:
            mar = build_archive(artifact, name, "1", config.model_store)
            client.register(mar.name, name)
            archive = Archive(file=mar.name, sha256=file_sha256(mar), created_at=time.time())
            store.record_model(name, "1", "a" * 32, model_meta(spec), archive)
        settings = GatewaySettings(
            redis_url=redis.url,
            api_keys=(KEY,),
            torchserve_inference_url=config.inference_url,
            torchserve_key_file=server.key_file,
            artifact_root=root,
        )
        app = create_app(settings, store=store, send_job=lambda _: None)
        reconciler = Reconciler(store, client, config.model_store, "bench", interval)
        reconciler.start()
        statuses: collections.Counter[str] = collections.Counter()
        stop = threading.Event()

        def ask() -> None:
            gateway = app.test_client()
            headers = {"Authorization": f"Bearer {KEY}"}
            while not stop.is_set():
                for name in names:
                    answer = gateway.post(f"/v1/models/{name}/generate", json=BODY, headers=headers)
                    retry = "Retry-After" in answer.headers
                    statuses[f"{answer.status_code}{'+retry-after' if retry else ''}"] += 1
                    time.sleep(PAUSE_S)

        try:
            members = [psutil.Process(server.pid), *psutil.Process(server.pid).children(True)]
            killed = time.monotonic()
            os.killpg(server.pid, signal.SIGKILL)
            psutil.wait_procs(members, timeout=10)
            clients = [threading.Thread(target=ask) for _ in range(4)]
            for thread in clients:
                thread.start()
            server = start_torchserve(root / "server", config)
            started = time.monotonic() - killed
            gateway, headers = app.test_client(), {"Authorization": f"Bearer {KEY}"}
            while not all(
                gateway.post(f"/v1/models/{n}/generate", json=BODY, headers=headers).status_code
                == 200
                for n in names
            ):
                time.sleep(0.05)
            recovered = time.monotonic() - killed
            stop.set()
            for thread in clients:
                thread.join()
        finally:
            stop.set()
            reconciler.stop()
            server.stop()
            redis.stop()
    errors = {k: v for k, v in statuses.items() if not k.startswith("200")}
    figures = {
        "recover_all_s": round(recovered, 2),
        "torchserve_start_s": round(started, 2),
        "models": args.models,
        "answers": dict(statuses),
        "non_503_errors": sum(v for k, v in errors.items() if k != "503+retry-after"),
        "reconcile_interval_s": interval,
    }
    print(
        f"{args.models} models: all answering {figures['recover_all_s']} s after the kill "
        f"(TorchServe itself up after {figures['torchserve_start_s']} s); answers {dict(statuses)}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
