"""TorchServe SIGKILLed with --models served: seconds until every one answers again.

A real Redis and TorchServe, the gateway in-process over the real TorchServe client, and the
reconciler as the workers run it (shipped interval). TorchServe runs under the local stack's
supervisor, which starts it again by itself after the kill; 4 clients ask the gateway
for images from every model throughout. Figures: recover_all_s (kill → all answering), the
gateway's answers in that window by status, and non_503_errors (must be 0: every error a 503
with Retry-After). Then --jobs jobs without ``serve_as`` run the workers' path against the same
TorchServe: leak_mb is its settled memory (frontend and model workers, each warmed up by the same
requests) after them against before (they register nothing, so it stays flat). Last line: JSON.

    python bench/serving_recovery.py [--models 10] [--jobs 200]
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
from _leak import jobs_without_serving, settled_rss_mb

from model_archive.builder import build_archive
from services.app import create_app
from services.settings import GatewaySettings
from services.stack.local import worker_settings
from services.stack.processes import free_port
from services.stack.redis import start_redis
from services.stack.supervisor import start_supervised, torchserve_pid
from services.stack.torchserve import config_on_free_ports
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
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    interval = WorkerSettings.model_fields["reconcile_interval_s"].default
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        spec = JobSpec(model="mnist-cgan", training={"max_steps": 5, "preflight": False})
        artifact = Path(run_job(spec, root / "job", with_evaluation=False).artifacts["generator"])
        redis = start_redis(root / "redis", free_port())
        config = config_on_free_ports(root / "store")
        ts_folder = root / "server"
        server = start_supervised(ts_folder, config)  # as `ganfoundry-stack up` runs it
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
            first = torchserve_pid(ts_folder)
            assert first is not None
            members = [psutil.Process(first), *psutil.Process(first).children(True)]
            killed = time.monotonic()
            os.killpg(first, signal.SIGKILL)
            psutil.wait_procs(members, timeout=10)
            clients = [threading.Thread(target=ask) for _ in range(4)]
            for thread in clients:
                thread.start()
            while not client.ping(timeout_s=0.5) or torchserve_pid(ts_folder) in (None, first):
                time.sleep(0.05)  # the supervisor starts it again
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
            registered = len(client.list_models())

            def warm() -> None:  # the same requests before and after: each worker warmed up
                for _ in range(3):
                    for name in names:
                        client.infer(name, BODY)

            pid = torchserve_pid(ts_folder) or 0
            rss_before = settled_rss_mb(pid, warm)
            jobs_s = jobs_without_serving(
                store, worker_settings(root, redis.url, config, server.key_file), args.jobs
            )
            rss_after = settled_rss_mb(pid, warm)
            registered_by_jobs = len(client.list_models()) - registered
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
        "jobs": args.jobs,
        "jobs_s": round(jobs_s, 1),
        "registered_by_jobs": registered_by_jobs,
        "torchserve_rss_mb": [round(rss_before, 1), round(rss_after, 1)],
        "leak_mb": round(rss_after - rss_before, 1),
    }
    print(
        f"{args.models} models: all answering {figures['recover_all_s']} s after the kill "
        f"(TorchServe itself up after {figures['torchserve_start_s']} s); answers {dict(statuses)}"
    )
    print(
        f"{args.jobs} jobs without serve_as in {figures['jobs_s']} s registered "
        f"{registered_by_jobs} models; TorchServe's RSS {rss_before:.0f} -> {rss_after:.0f} MB"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
