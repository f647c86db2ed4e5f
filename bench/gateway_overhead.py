"""What the gateway adds: POST /v1/models/<name>/generate (n=1) through the gateway under gunicorn
against the same request sent straight to TorchServe, in the same run, with 1 and 16 clients.
Last line: JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

from model_archive.builder import build_archive
from services.stack.local import LocalStack
from workers.engine.export import export_generator
from workers.engine.families import get_family
from workers.publish import model_meta
from workers.spec import JobSpec
from workers.store import JobStore

KEY = "bench-key-0123456789abcdef"
BODY = json.dumps({"n": 1, "label": 7, "seed": 1}).encode()
WARM_UP = 5  # requests per client that warm its connection up, not counted


def latencies(
    port: int, path: str, headers: dict[str, str], count: int, clients: int
) -> list[float]:
    """Per-request milliseconds from ``clients`` threads, each on its own keep-alive connection."""
    collected: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(WARM_UP + count):
            began = time.perf_counter()
            connection.request("POST", path, BODY, headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"{path} answered {answer.status}")
            mine.append((time.perf_counter() - began) * 1000)
        with lock:
            collected.extend(mine[WARM_UP:])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return collected


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per client")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        root = Path(tmp)
        redis_server = stack.start_redis()
        torchserve = stack.start_torchserve()
        family = get_family("mnist-cgan")
        torch.manual_seed(0)
        artifact = export_generator(root / "generator.pt", family.build_generator(), family, {}, {})
        build_archive(artifact, "digits", "1", torchserve.config.model_store)
        torchserve.client.register("digits.v1.mar", "digits")
        store = JobStore.from_url(redis_server.url)
        job = store.create(JobSpec(model="mnist-cgan", serve_as="digits"))
        store.record_model("digits", "1", job.id, model_meta(JobSpec(model="mnist-cgan")))
        gateway = stack.start_gateway(stack.gateway_settings(KEY))
        json_headers = {"Content-Type": "application/json"}
        inference_key = json.loads(torchserve.key_file.read_text())["inference"]["key"]
        inference_headers = json_headers | {"Authorization": f"Bearer {inference_key}"}
        for clients in (1, 16):
            count = args.requests if clients == 1 else max(20, args.requests // 4)
            for _round in range(2):  # alternate, so drift hits both sides alike
                direct = latencies(
                    stack.ports.inference, "/predictions/digits", inference_headers, count, clients
                )
                through = latencies(
                    gateway.port,
                    "/v1/models/digits/generate",
                    json_headers | {"Authorization": f"Bearer {KEY}"},
                    count,
                    clients,
                )
                samples.setdefault(f"direct_{clients}", []).extend(direct)
                samples.setdefault(f"gateway_{clients}", []).extend(through)
    result: dict[str, float | str] = {}
    for clients, suffix in ((1, ""), (16, "_16_clients")):
        gateway_p50, gateway_p99 = summary(samples[f"gateway_{clients}"])
        direct_p50, direct_p99 = summary(samples[f"direct_{clients}"])
        result |= {
            f"gateway_p50_ms{suffix}": round(gateway_p50, 2),
            f"gateway_p99_ms{suffix}": round(gateway_p99, 2),
            f"torchserve_p50_ms{suffix}": round(direct_p50, 2),
            f"torchserve_p99_ms{suffix}": round(direct_p99, 2),
            f"added_p50_ms{suffix}": round(gateway_p50 - direct_p50, 2),
        }
        print(
            f"{clients:>2} client(s): gateway p50 {gateway_p50:.2f} ms (p99 {gateway_p99:.2f}), "
            f"TorchServe p50 {direct_p50:.2f} ms (p99 {direct_p99:.2f}), added {gateway_p50 - direct_p50:.2f} ms"
        )
    result["server"] = "gunicorn gevent, 2 workers (services/gunicorn_conf.py)"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
