"""Latency and throughput of the mnist-cgan generator through TorchServe against in-process.

In-process: the same generator called directly, with the same PNG and base64 encoding. Through
TorchServe: a real server on free ports, requests from this process (sequential, then 16
concurrent clients). Last line: JSON.

    python bench/serve_latency.py [--requests 300] [--seconds 8] [--batch-delay-ms 2]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from model_archive.builder import ModelConfig, build_archive
from model_archive.client import TorchServeClient
from services.stack.torchserve import config_on_free_ports, start_torchserve
from workers.engine.export import export_generator
from workers.engine.families import get_family
from workers.engine.generation import generate, load_artifact, to_png

CLIENTS = 16


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(call: Callable[[int], object], count: int) -> list[float]:
    call(0)  # warm up
    samples = []
    for i in range(count):
        began = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def in_process(artifact: Path) -> Callable[[int, int], str]:
    generator, _ = load_artifact(artifact)
    torch.set_num_threads(1)  # as one TorchServe worker does

    def call(n: int, seed: int) -> str:
        images = generate(generator, list(range(seed, seed + n)), [7] * n)
        encoded = [base64.b64encode(to_png(image)).decode("ascii") for image in images]
        return json.dumps({"seeds": list(range(seed, seed + n)), "images": encoded})

    return call


def concurrent(
    client: TorchServeClient, name: str, n: int, seconds: float
) -> tuple[float, float, list[float]]:
    """Images/s, requests/s and each request's milliseconds with CLIENTS threads for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    stop = time.perf_counter() + seconds

    def worker(index: int) -> None:
        seed = index * 1_000_000
        while time.perf_counter() < stop:
            began = time.perf_counter()
            client.infer(name, {"n": n, "label": index % 10, "seed": seed})
            latencies[index].append((time.perf_counter() - began) * 1000)
            seed += n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = [ms for mine in latencies for ms in mine]
    return len(every) * n / elapsed, len(every) / elapsed, every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batch-delay-ms", type=int, default=ModelConfig().max_batch_delay_ms)
    parser.add_argument("--workers", type=int, default=ModelConfig().min_workers)
    args = parser.parse_args()
    figures: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        family = get_family("mnist-cgan")
        torch.manual_seed(0)
        artifact = export_generator(root / "generator.pt", family.build_generator(), family, {}, {})
        local = in_process(artifact)
        for n in (1, 64):
            p50, p99 = percentiles(timed(partial(local, n), args.requests))
            figures[f"inprocess_p50_ms_n{n}"], figures[f"inprocess_p99_ms_n{n}"] = p50, p99
        config = config_on_free_ports(root / "store")
        model = ModelConfig(
            max_batch_delay_ms=args.batch_delay_ms,
            min_workers=args.workers,
            max_workers=args.workers,
        )
        build_archive(artifact, "digits", "1", config.model_store, model)
        server = start_torchserve(root / "server", config)
        try:
            client = server.client
            client.register("digits.v1.mar", "digits", initial_workers=args.workers)
            for n in (1, 64):
                call = lambda i, n=n: client.infer("digits", {"n": n, "label": 7, "seed": i})  # noqa: E731
                p50, p99 = percentiles(timed(call, args.requests))
                figures[f"torchserve_p50_ms_n{n}"], figures[f"torchserve_p99_ms_n{n}"] = p50, p99
                figures[f"added_p50_ms_n{n}"] = p50 - figures[f"inprocess_p50_ms_n{n}"]
            for n in (1, 64):
                images, requests, latencies = concurrent(client, "digits", n, args.seconds)
                figures[f"images_per_s_concurrent_n{n}"] = images
                figures[f"requests_per_s_concurrent_n{n}"] = requests
                p50, p99 = percentiles(latencies)
                figures[f"torchserve_p50_ms_concurrent_n{n}"] = p50
                figures[f"torchserve_p99_ms_concurrent_n{n}"] = p99
        finally:
            server.stop()
    figures["images_per_s_concurrent"] = max(
        figures["images_per_s_concurrent_n1"], figures["images_per_s_concurrent_n64"]
    )
    figures["batch_delay_ms"], figures["workers"], figures["clients"] = (
        args.batch_delay_ms,
        args.workers,
        CLIENTS,
    )
    rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
    for n in (1, 64):
        print(
            f"n={n:<3} in-process p50 {rounded[f'inprocess_p50_ms_n{n}']} ms | TorchServe p50 "
            f"{rounded[f'torchserve_p50_ms_n{n}']} ms, p99 {rounded[f'torchserve_p99_ms_n{n}']} ms | "
            f"{CLIENTS} clients: {rounded[f'images_per_s_concurrent_n{n}']:,} images/s, p50 "
            f"{rounded[f'torchserve_p50_ms_concurrent_n{n}']} ms, p99 "
            f"{rounded[f'torchserve_p99_ms_concurrent_n{n}']} ms"
        )
    print(json.dumps(rounded))


if __name__ == "__main__":
    main()
