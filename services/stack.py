"""The local stack without docker: Redis, TorchServe, one worker and the gateway as processes.

    ganfoundry-stack up      # starts what is not running; prints the URL and the API key
    ganfoundry-stack status
    ganfoundry-stack down    # stops exactly the processes `up` started (by their recorded PIDs)

Everything lives in one run folder (GANFOUNDRY_RUN_DIR, default runs/stack): logs, pids, the
generated API key, artifacts, data and the model store. Ports come from GANFOUNDRY_*_PORT.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "state.json"


class StackError(RuntimeError):
    """The stack could not be brought up; the message says why and what to do."""


@dataclass(frozen=True)
class StackConfig:
    run_dir: Path
    gateway_port: int = 8000
    redis_port: int = 6380  # not 6379: leave a system Redis alone
    inference_port: int = 8080
    management_port: int = 8081
    metrics_port: int = 8082
    grpc_inference_port: int = 7070
    grpc_management_port: int = 7071

    @classmethod
    def from_env(cls) -> StackConfig:
        def port(name: str, default: int) -> int:
            return int(os.environ.get(f"GANFOUNDRY_{name}_PORT", default))

        return cls(
            run_dir=Path(os.environ.get("GANFOUNDRY_RUN_DIR", "runs/stack")).resolve(),
            gateway_port=port("GATEWAY", 8000),
            redis_port=port("REDIS", 6380),
            inference_port=port("INFERENCE", 8080),
            management_port=port("MANAGEMENT", 8081),
            metrics_port=port("METRICS", 8082),
            grpc_inference_port=port("GRPC_INFERENCE", 7070),
            grpc_management_port=port("GRPC_MANAGEMENT", 7071),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"


@dataclass
class StackState:
    url: str
    api_key_file: str
    pids: dict[str, int]  # service → process (group) id, in start order

    def alive(self) -> dict[str, bool]:
        return {name: _alive(pid) for name, pid in self.pids.items()}


def read_state(run_dir: Path) -> StackState | None:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    return StackState(**json.loads(path.read_text()))


def api_key(run_dir: Path) -> str:
    """The stack's API key: made once, kept in the run folder (mode 0600)."""
    path = run_dir / "api-key"
    if not path.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def up(config: StackConfig) -> StackState:
    """Start the stack unless it is already running; returns its state."""
    state = read_state(config.run_dir)
    if state is not None and all(state.alive().values()):
        return state
    if state is not None:
        down(config)  # a half-dead stack: clear it first
    from model_archive.config import ServerConfig
    from model_archive.server import check_java, start_torchserve
    from services.server import start_gateway
    from services.settings import GatewaySettings
    from workers.redis_server import start_redis
    from workers.settings import WorkerSettings
    from workers.worker_main import start_cpu_worker

    check_java()
    root = config.run_dir
    for folder in ("logs", "artifacts", "data", "model-store"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    key = api_key(root)
    pids: dict[str, int] = {}
    state = StackState(config.url, str(root / "api-key"), pids)
    try:
        redis_server = start_redis(
            root / "redis", config.redis_port, append_only=True, new_session=True
        )
        pids["redis"] = redis_server.process.pid
        _save(root, state)
        serving = ServerConfig(
            root / "model-store",
            config.inference_port,
            config.management_port,
            config.metrics_port,
            config.grpc_inference_port,
            config.grpc_management_port,
        )
        torchserve = start_torchserve(root / "torchserve", serving)
        pids["torchserve"] = torchserve.process.pid
        _save(root, state)
        client = torchserve.client
        workers = WorkerSettings(
            redis_url=redis_server.url,
            artifact_root=root / "artifacts",
            data_root=root / "data",
            model_store=root / "model-store",
            torchserve_inference_url=client.inference_url,
            torchserve_management_url=client.management_url,
        )
        worker = start_cpu_worker(workers.to_env(), root / "logs" / "worker.log", new_session=True)
        pids["worker"] = worker.pid
        _save(root, state)
        gateway_settings = GatewaySettings(
            redis_url=redis_server.url,
            api_keys=(key,),
            torchserve_inference_url=client.inference_url,
            torchserve_management_url=client.management_url,
            artifact_root=root / "artifacts",
        )
        gateway = start_gateway(
            gateway_settings.to_env(),
            config.gateway_port,
            root / "logs" / "gateway.log",
            new_session=True,
        )
        pids["gateway"] = gateway.process.pid
        _save(root, state)
    except Exception:
        down(config)
        raise
    return state


def down(config: StackConfig) -> list[str]:
    """Stop the processes `up` recorded (newest first); returns the names stopped."""
    state = read_state(config.run_dir)
    if state is None:
        return []
    stopped = []
    for name, pid in reversed(list(state.pids.items())):
        if _stop_group(pid):
            stopped.append(name)
    (config.run_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _save(root: Path, state: StackState) -> None:
    (root / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    return _state(pid) not in (None, "Z")


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _group(pgid: int) -> list[int]:
    """Live processes of a process group (ours: each service was started in a new session)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _stop_group(pgid: int, timeout_s: float = 30.0) -> bool:
    """SIGTERM to the group started for a service, wait until all of it is gone, then SIGKILL."""
    if not _group(pgid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ganfoundry-stack", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    config = StackConfig.from_env()
    if args.command == "down":
        stopped = down(config)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    if args.command == "status":
        state = read_state(config.run_dir)
        if state is None:
            print("down")
            return 1
        print(json.dumps({"url": state.url, "alive": state.alive()}, indent=2))
        return 0 if all(state.alive().values()) else 1
    try:
        state = up(config)
    except Exception as error:  # one clear line; the logs in the run folder have the rest
        print(f"error: the stack did not start: {error}", file=sys.stderr)
        return 1
    print(f"GAN Foundry is up at {state.url}  (logs and pids in {config.run_dir})")
    print(f"API key: {api_key(config.run_dir)}   (also in {state.api_key_file})")
    print(f"try: curl -s {state.url}/readyz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
