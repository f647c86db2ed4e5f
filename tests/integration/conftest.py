"""A real TorchServe on free ports, serving a briefly trained conditional generator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from model_archive.builder import build_archive
from model_archive.config import ServerConfig
from services.settings import GatewaySettings
from services.stack.gateway import GatewayProcess, start_gateway
from services.stack.local import worker_settings
from services.stack.processes import Service, free_port
from services.stack.redis import RedisProcess, start_redis
from services.stack.torchserve import TorchServeProcess, config_on_free_ports, start_torchserve
from services.stack.worker import start_worker as start_worker_process
from workers.celery_app import make_app, send_training_job
from workers.engine.pipeline import run_job
from workers.settings import WorkerSettings
from workers.spec import JobSpec
from workers.store import Job, JobStore


@pytest.fixture(scope="session")
def cgan_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = JobSpec(model="mnist-cgan", training={"max_steps": 150, "seed": 3})
    outcome = run_job(spec, tmp_path_factory.mktemp("served-cgan"), with_evaluation=False)
    return Path(outcome.artifacts["generator"])


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServeProcess]:
    root = tmp_path_factory.mktemp("torchserve")
    config = config_on_free_ports(root / "store")
    server = start_torchserve(root / "server", config)
    try:
        yield server
    finally:
        server.stop()
        assert not server.running()


@pytest.fixture(scope="session")
def digits(torchserve: TorchServeProcess, cgan_artifact: Path) -> str:
    """'digits' version 1 registered and answering."""
    build_archive(cgan_artifact, "digits", "1", torchserve.config.model_store)
    torchserve.client.register("digits.v1.mar", "digits")
    return "digits"


TIMEOUT_S = 180


@dataclass
class Stack:
    settings: WorkerSettings
    env: dict[str, str]
    store: JobStore
    folder: Path

    def submit(self, payload: dict) -> str:
        job = self.store.create(JobSpec.model_validate(payload))
        send_training_job(make_app(self.settings.redis_url, self.settings.longest_job_s), job.id)
        return job.id

    def wait(self, job_id: str, done: Callable[[Job], bool], timeout_s: float = TIMEOUT_S) -> Job:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.store.get(job_id)
            if done(job):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} stuck: {self.store.get(job_id).to_dict()}")


@pytest.fixture(scope="module")
def jobs_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = start_redis(tmp_path_factory.mktemp("jobs-redis"), free_port())
    yield server
    server.stop()


def make_stack(root: Path, redis_url: str, serving: ServerConfig, key_file: Path) -> Stack:
    # the shipped heartbeat, reaper, checkpoint floor, broker and TorchServe retry settings:
    # only progress is written more often, so that the tests see each step sooner
    settings = worker_settings(root, redis_url, serving, key_file, progress_interval_s=0.2)
    return Stack(settings, settings.to_env(), JobStore.from_url(redis_url), root)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    jobs_redis: RedisProcess,
    torchserve: TorchServeProcess,
) -> Stack:
    return make_stack(
        tmp_path_factory.mktemp("jobs"), jobs_redis.url, torchserve.config, torchserve.key_file
    )


@pytest.fixture
def start_worker(stack: Stack) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(target: Stack = stack) -> Service:
        worker = start_worker_process(target.env, target.folder / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


KEY = "e2e-key-0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    settings = GatewaySettings(
        redis_url=stack.settings.redis_url,
        api_keys=(KEY,),
        torchserve_inference_url=stack.settings.torchserve_inference_url,
        torchserve_key_file=stack.settings.torchserve_key_file,
        artifact_root=stack.settings.artifact_root,
        longest_job_s=stack.settings.longest_job_s,
    )
    process = start_gateway(
        settings.to_env(), free_port(), tmp_path_factory.mktemp("gateway") / "gateway.log"
    )
    yield process
    process.stop()
