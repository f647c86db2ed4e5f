"""ganfoundry-stack: the local stack without docker (Redis, TorchServe, a worker, the gateway).

    ganfoundry-stack up      # starts what is not running; prints the URL and the API key
    ganfoundry-stack status
    ganfoundry-stack down    # stops exactly the processes `up` started (by their recorded PIDs)

Everything lives in one run folder (GANFOUNDRY_RUN_DIR, default runs/stack): logs, pids, the
generated API key, artifacts, data and the model store. Ports come from GANFOUNDRY_*_PORT.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.stack.local import LocalStack, StackPorts
from services.stack.processes import Service, alive, stop_group
from services.stack.torchserve import check_java

STATE_FILE = "state.json"


class StackSettings(BaseSettings):
    """Where the local stack lives and which loopback ports it takes (GANFOUNDRY_*)."""

    model_config = SettingsConfigDict(env_prefix="GANFOUNDRY_", extra="ignore")

    run_dir: Path = Path("runs/stack")
    gateway_port: int = Field(8000, ge=1, le=65535)
    redis_port: int = Field(6380, ge=1, le=65535)  # not 6379: leave a system Redis alone
    inference_port: int = Field(8080, ge=1, le=65535)
    management_port: int = Field(8081, ge=1, le=65535)
    metrics_port: int = Field(8082, ge=1, le=65535)
    grpc_inference_port: int = Field(7070, ge=1, le=65535)
    grpc_management_port: int = Field(7071, ge=1, le=65535)

    @field_validator("run_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @property
    def ports(self) -> StackPorts:
        return StackPorts(
            self.gateway_port,
            self.redis_port,
            self.inference_port,
            self.management_port,
            self.metrics_port,
            self.grpc_inference_port,
            self.grpc_management_port,
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
        return {name: alive(pid) for name, pid in self.pids.items()}


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


def up(settings: StackSettings) -> StackState:
    """Start the stack unless it is already running; returns its state."""
    state = read_state(settings.run_dir)
    if state is not None and all(state.alive().values()):
        return state
    if state is not None:
        down(settings)  # a half-dead stack: clear it first
    check_java()
    root = settings.run_dir
    key = api_key(root)
    state = StackState(settings.url, str(root / "api-key"), {})

    def record(service: Service) -> None:  # saved at once: `down` finds a half-started stack
        state.pids[service.name] = service.pid
        (root / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")

    LocalStack(root, settings.ports, on_start=record).up(key)
    return state


def down(settings: StackSettings) -> list[str]:
    """Stop the processes `up` recorded (newest first); returns the names stopped."""
    state = read_state(settings.run_dir)
    if state is None:
        return []
    stopped = [
        name for name, pid in reversed(list(state.pids.items())) if stop_group(pid, timeout_s=30)
    ]
    (settings.run_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ganfoundry-stack", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    settings = StackSettings()
    if args.command == "down":
        stopped = down(settings)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    if args.command == "status":
        state = read_state(settings.run_dir)
        if state is None:
            print("down")
            return 1
        print(json.dumps({"url": state.url, "alive": state.alive()}, indent=2))
        return 0 if all(state.alive().values()) else 1
    try:
        state = up(settings)
    except Exception as error:  # one clear line; the logs in the run folder have the rest
        print(f"error: the stack did not start: {error}", file=sys.stderr)
        return 1
    print(f"GAN Foundry is up at {state.url}  (logs and pids in {settings.run_dir})")
    print(f"API key: {api_key(settings.run_dir)}   (also in {state.api_key_file})")
    print(f"try: curl -s {state.url}/readyz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
