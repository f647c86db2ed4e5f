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
import sys
from dataclasses import asdict

from services.stack.local import LocalStack
from services.stack.processes import Service, stop_group
from services.stack.state import STATE_FILE, StackSettings, StackState, api_key, read_state
from services.stack.supervisor import stop_left_over
from services.stack.torchserve import check_java


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
    if stop_left_over(settings.run_dir / "torchserve"):  # its supervisor was killed
        stopped.append("torchserve (left by its supervisor)")
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
    print(f"web console: {state.url}/  (paste the key)   try: curl -s {state.url}/readyz")
    print(
        f"metrics: {state.url}/metrics (with the key)  and the worker's: "
        f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
