"""Shared by the HTTP benchmarks: a local stack serving a toy digits generator, and latencies
measured from client threads on keep-alive connections."""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from model_archive.builder import build_archive
from services.stack.gateway import GatewayProcess
from services.stack.local import LocalStack
from services.stack.torchserve import TorchServeProcess
from workers.engine.export import export_generator
from workers.engine.families import get_family
from workers.publish import model_meta
from workers.spec import JobSpec
from workers.store import JobStore

BODY = json.dumps({"n": 1, "label": 7, "seed": 1}).encode()
# rate limits on, counted in Redis for every request, but too large for a benchmark to reach
UNREACHED_LIMITS = {
    "rate_limit_generate": "100000000/minute",
    "rate_limit_anonymous": "100000000/minute",
    "images_per_minute": 100_000_000,
}
WARM_UP = 5  # requests per client that warm its connection up, not counted


@dataclass
class Served:
    gateway: GatewayProcess
    torchserve: TorchServeProcess
    store: JobStore


def serve_digits(stack: LocalStack, root: Path, key: str) -> Served:
    """Redis, TorchServe with an untrained mnist-cgan served as 'digits', and the gateway (its
    rate limits and metrics on, the limits out of reach)."""
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
    gateway = stack.start_gateway(stack.gateway_settings(key, **UNREACHED_LIMITS))
    return Served(gateway, torchserve, store)


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
