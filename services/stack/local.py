"""The stack as local processes under one folder: Redis, TorchServe, workers and the gateway.

``ganfoundry-stack up`` (``make up``), the benchmarks and the integration tests all bring the
stack up through ``LocalStack``, so there is one way the processes are started, wired
(settings from the started servers' addresses) and stopped.

    with LocalStack(folder, StackPorts.free()) as stack:
        stack.start_redis(); stack.start_torchserve()
        stack.start_worker(); stack.start_gateway(key)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from model_archive.config import ServerConfig
from services.settings import GatewaySettings
from services.stack.gateway import GatewayProcess, start_gateway
from services.stack.processes import Service, StackError
from services.stack.redis import RedisProcess, start_redis
from services.stack.state import StackPorts
from services.stack.supervisor import start_supervised
from services.stack.torchserve import TorchServeProcess, start_torchserve
from services.stack.worker import start_worker
from workers.settings import WorkerSettings

S = TypeVar("S", bound=Service)


def worker_settings(
    root: Path, redis_url: str, serving: ServerConfig, key_file: Path | None, **overrides: Any
) -> WorkerSettings:
    """A worker's settings for this stack: artifacts and data under ``root``; ``key_file`` is
    the TorchServe's (``key_file_in`` its folder, known before it starts)."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "artifact_root": root / "artifacts",
        "data_root": root / "data",
        "model_store": serving.model_store,
        "torchserve_inference_url": serving.inference_url,
        "torchserve_management_url": serving.management_url,
        "torchserve_key_file": key_file,
    }
    for folder in ("artifacts", "data"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return WorkerSettings(**(values | overrides))


def gateway_settings(
    root: Path,
    redis_url: str,
    serving: ServerConfig,
    key_file: Path | None,
    api_key: str,
    **overrides: Any,
) -> GatewaySettings:
    """The gateway's settings for this stack: TorchServe's inference API only (with the key of
    ``key_file``); it reads artifacts under ``root`` too."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "api_keys": (api_key,),
        "torchserve_inference_url": serving.inference_url,
        "torchserve_key_file": key_file,
        "artifact_root": root / "artifacts",
    }
    return GatewaySettings(**(values | overrides))


class LocalStack:
    """Starts the stack's processes one by one and stops all it started, newest first."""

    def __init__(
        self,
        root: Path,
        ports: StackPorts | None = None,
        on_start: Callable[[Service], None] | None = None,
    ) -> None:
        self.root = root
        self.ports = ports or StackPorts.free()
        self.on_start = on_start  # e.g. record each pid as soon as it exists
        self.started: list[Service] = []
        self.redis: RedisProcess | None = None
        self.torchserve: TorchServeProcess | None = None
        self.gateway: GatewayProcess | None = None
        self.workers: list[Service] = []

    # ---- the parts --------------------------------------------------------------------------

    def start_redis(self, append_only: bool = False) -> RedisProcess:
        self.redis = self._started(start_redis(self.root / "redis", self.ports.redis, append_only))
        return self.redis

    def start_torchserve(self, supervised: bool = False) -> TorchServeProcess:
        """TorchServe; ``supervised``: under a supervisor that starts it again when it dies."""
        config = ServerConfig(
            self.root / "model-store",
            self.ports.inference,
            self.ports.management,
            self.ports.metrics,
            self.ports.grpc_inference,
            self.ports.grpc_management,
        )
        start = start_supervised if supervised else start_torchserve
        self.torchserve = self._started(start(self.root / "torchserve", config))
        return self.torchserve

    def worker_settings(self, **overrides: Any) -> WorkerSettings:
        redis, torchserve = self._backends()
        return worker_settings(
            self.root, redis.url, torchserve.config, torchserve.key_file, **overrides
        )

    def gateway_settings(self, api_key: str, **overrides: Any) -> GatewaySettings:
        redis, torchserve = self._backends()
        return gateway_settings(
            self.root, redis.url, torchserve.config, torchserve.key_file, api_key, **overrides
        )

    def start_worker(
        self, settings: WorkerSettings | None = None, extra_env: dict[str, str] | None = None
    ) -> Service:
        env = (settings or self.worker_settings()).to_env() | (extra_env or {})
        log = self.root / "logs" / f"worker-{len(self.workers)}.log"
        worker = self._started(start_worker(env, log))
        self.workers.append(worker)
        return worker

    def start_gateway(self, settings: GatewaySettings) -> GatewayProcess:
        log = self.root / "logs" / "gateway.log"
        self.gateway = self._started(start_gateway(settings.to_env(), self.ports.gateway, log))
        return self.gateway

    # ---- the whole ----------------------------------------------------------------------------

    def up(self, api_key: str) -> None:
        """Redis (append-only), TorchServe (supervised), one worker, the gateway; all stopped if
        one fails."""
        try:
            self.start_redis(append_only=True)
            self.start_torchserve(supervised=True)
            self.start_worker(self.worker_settings(worker_metrics_port=self.ports.worker_metrics))
            self.start_gateway(self.gateway_settings(api_key))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self.started:
            self.started.pop().stop()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _started(self, service: S) -> S:
        self.started.append(service)
        if self.on_start is not None:
            self.on_start(service)
        return service

    def _backends(self) -> tuple[RedisProcess, TorchServeProcess]:
        if self.redis is None or self.torchserve is None:
            raise StackError("start Redis and TorchServe first")
        return self.redis, self.torchserve
