"""docker/compose.yaml with the CPU override, in containers: the main job, the faults, the doors.

The tests run in file order on one stack (``conftest.stack``): later ones use the model and the
images the first job made.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from PIL import Image

from services.stack.compose import ComposeStack, call, wait_for

DIGITS = {
    "model": "mnist-cgan",
    "dataset": {"source": "builtin:mnist-sample"},
    "training": {"max_steps": 400, "seed": 0, "checkpoint_every": 50},
    "serve_as": "digits",
}
THREES = {"label": 3, "n": 8, "seed": 1}
SEEN: dict[str, Any] = {}  # what the first job made, for the later tests to compare


def submit(stack: ComposeStack, spec: dict[str, Any]) -> str:
    answer = call(stack, "POST", "/v1/jobs", spec)
    assert answer.status == 202, answer.body
    return str(answer.json()["id"])


def job(stack: ComposeStack, job_id: str) -> dict[str, Any]:
    """The job's record; a poll past the key's rate limit waits as its 429 says, then asks again."""
    answer = call(stack, "GET", f"/v1/jobs/{job_id}")
    for _ in range(3):
        if answer.status != 429:
            break
        time.sleep(int(answer.headers.get("Retry-After", "1")))
        answer = call(stack, "GET", f"/v1/jobs/{job_id}")
    assert answer.status == 200, answer.body
    return dict(answer.json())


def finished(stack: ComposeStack, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
    record = wait_for(
        f"job {job_id} to end",
        lambda: (r := job(stack, job_id))["state"] in ("succeeded", "failed", "cancelled") and r,
        timeout_s,
    )
    assert record["state"] == "succeeded", record.get("error")
    return dict(record)


def threes(stack: ComposeStack, timeout_s: float = 180) -> tuple[list[bytes], set[int]]:
    """Label-3 PNGs for the fixed seed, asked for until the model answers; every status seen."""
    seen: set[int] = set()

    def ask() -> list[bytes] | None:
        answer = call(stack, "POST", "/v1/models/digits/generate", THREES)
        seen.add(answer.status)
        if answer.status != 200:
            return None
        return [base64.b64decode(image) for image in answer.json()["images"]]

    return wait_for("label-3 images", ask, timeout_s, every_s=0.5), seen


def test_every_service_is_healthy_and_the_gateway_ready(stack: ComposeStack) -> None:
    for service in ("redis", "torchserve", "gateway", "worker"):
        assert stack.healthy(service), service
    answer = call(stack, "GET", "/readyz", key=False)
    assert answer.status == 200, answer.body
    assert answer.json()["checks"] == {"redis": True, "torchserve": True}


def test_a_conditional_job_through_the_published_port_serves_digits_of_label_3(
    stack: ComposeStack,
) -> None:
    job_id = submit(stack, DIGITS)
    record = finished(stack, job_id)
    assert record["progress"]["step"] == 400
    pngs, _ = threes(stack, timeout_s=60)
    assert len(pngs) == THREES["n"]
    for png in pngs:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        image = Image.open(io.BytesIO(png))
        image.load()  # decodes the whole image, not only its header
        assert image.size == (28, 28)
    assert len(set(pngs)) == len(pngs)  # eight seeds, eight different digits
    SEEN.update(job=job_id, pngs=pngs)


def loopback(port: int, path: str, auth: str | None = None) -> tuple[int, bytes]:
    """A GET to a port the monitoring profile publishes on the host's loopback."""
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError) as error:
        return 0, str(error).encode()


def test_flower_shows_the_worker_and_its_tasks_behind_its_basic_auth(stack: ComposeStack) -> None:
    assert stack.monitoring_ports is not None
    port = stack.monitoring_ports[0]
    assert loopback(port, "/api/workers")[0] == 401
    assert loopback(port, "/api/workers", "operator:wrong-password-123")[0] == 401

    def tasks() -> dict[str, Any] | None:
        status, body = loopback(port, "/api/tasks", stack.flower_auth)
        return json.loads(body) if status == 200 and body.strip() not in (b"", b"{}") else None

    seen = wait_for("Flower to list the first job's task", tasks, 60)
    assert any(task.get("args") == repr([SEEN["job"]]) for task in seen.values()), seen


def test_prometheus_scrapes_gateway_workers_torchserve_and_flower(stack: ComposeStack) -> None:
    assert stack.monitoring_ports is not None
    port = stack.monitoring_ports[1]

    def health() -> dict[str, str] | None:
        status, body = loopback(port, "/api/v1/targets")
        if status != 200:
            return None
        active = json.loads(body)["data"]["activeTargets"]
        found = {target["labels"]["job"]: target["health"] for target in active}
        return found if set(found.values()) == {"up"} and len(found) == 4 else None

    up = wait_for("every scrape target to be up", health, 90, every_s=3)
    assert set(up) == {"gateway", "worker", "torchserve", "flower"}

    def drawn() -> float | None:  # the digits the first test drew, once a scrape saw them
        status, body = loopback(port, "/api/v1/query?query=ganfoundry_gateway_images_total")
        found = json.loads(body)["data"]["result"] if status == 200 else []
        return sum(float(series["value"][1]) for series in found) or None

    assert wait_for("the gateway's images counted", drawn, 60, every_s=3) >= THREES["n"]


def test_a_killed_worker_is_restarted_and_its_job_resumes_from_the_checkpoint(
    stack: ComposeStack,
) -> None:
    long = {
        "model": "mnist-cgan",
        "dataset": {"source": "builtin:mnist-sample"},
        "training": {"max_steps": 6000, "seed": 0, "checkpoint_every": 100, "preflight": False},
    }
    job_id = submit(stack, long)
    progress = wait_for(
        "a first checkpoint",
        lambda: (
            (p := job(stack, job_id).get("progress") or {}).get("checkpoint_step", 0) >= 100 and p
        ),
        180,
        every_s=0.2,
    )
    restarts = int(stack.inspect("worker")["RestartCount"])
    stack.kill_main_process("worker")  # SIGKILL, as the OOM killer would
    wait_for(
        "the restart policy to bring the worker back",
        lambda: int(stack.inspect("worker")["RestartCount"]) > restarts,
        60,
    )
    # the first progress of the second attempt: from the checkpoint, not from step 0
    second = wait_for(
        "the job's second attempt",
        lambda: (p := job(stack, job_id).get("progress") or {}).get("attempt", 1) >= 2 and p,
        180,
        every_s=0.2,
    )
    assert second["step"] >= progress["checkpoint_step"], (progress, second)
    record = finished(stack, job_id)
    assert record["attempts"] == 2


def test_a_restarted_torchserve_serves_the_same_pngs_with_no_manual_step(
    stack: ComposeStack,
) -> None:
    stack.podman("restart", stack.container("torchserve"), timeout_s=120)
    pngs, statuses = threes(stack)
    assert pngs == SEEN["pngs"]  # byte for byte, for the same seed
    assert statuses <= {200, 503}, statuses  # never a 502 or a 500 while it came back


def test_a_torchserve_that_cannot_read_the_model_store_says_so(stack: ComposeStack) -> None:
    store = "/home/model-server/model-store"
    mode = stack.podman("exec", "-u", "0", stack.container("torchserve"), "stat", "-c", "%a", store)
    stack.podman("exec", "-u", "0", stack.container("torchserve"), "chmod", "000", store)
    try:
        stack.podman("restart", stack.container("torchserve"), timeout_s=120)
        answer = wait_for(
            "/readyz to name the model store",
            lambda: (
                (a := call(stack, "GET", "/readyz", key=False)).status == 503
                and "model store" in a.body.decode()
                and a
            ),
            120,
        )
        problems = answer.json()["problems"]
        assert any(store in line and "cannot read" in line for line in problems), problems
        log = stack.podman("logs", stack.container("torchserve"))
        assert f"cannot read the model store {store}" in log.stdout + log.stderr
    finally:
        stack.podman(
            "exec", "-u", "0", stack.container("torchserve"), "chmod", mode.stdout.strip(), store
        )
        stack.podman("restart", stack.container("torchserve"), timeout_s=120)
    pngs, _ = threes(stack)
    assert pngs == SEEN["pngs"]
    assert call(stack, "GET", "/readyz", key=False).status == 200


def test_down_and_up_keep_jobs_records_and_served_models(stack: ComposeStack) -> None:
    stack.down()  # no --volumes
    assert not stack.podman("ps", "-q", "--filter", f"name={stack.project}_").stdout.strip()
    stack.up()
    stack.wait_healthy()
    record = job(stack, SEEN["job"])
    assert record["state"] == "succeeded"
    listed = call(stack, "GET", "/v1/models").json()
    assert "digits" in str(listed)
    pngs, statuses = threes(stack)
    assert pngs == SEEN["pngs"]
    assert statuses <= {200, 503}, statuses


def addresses(stack: ComposeStack, service: str) -> list[str]:
    networks = stack.inspect(service)["NetworkSettings"]["Networks"]
    return [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_torchserves_management_cannot_be_reached_from_the_host(stack: ComposeStack) -> None:
    hosts = [*addresses(stack, "torchserve"), "127.0.0.1"]
    assert reachable(addresses(stack, "torchserve")[0], 8080)  # the network itself is there
    for host in hosts:
        for port in (8081, 7071):  # HTTP and gRPC management
            assert not reachable(host, port), f"{host}:{port}"
    # the metrics API is on the internal network for Prometheus, and published nowhere
    assert not reachable("127.0.0.1", 8082)


def test_torchserves_management_cannot_be_reached_from_the_gateway(stack: ComposeStack) -> None:
    probe = (
        "import socket, sys\n"
        "def open_(port):\n"
        "    try:\n"
        "        socket.create_connection(('torchserve', port), timeout=2).close(); return True\n"
        "    except OSError:\n"
        "        return False\n"
        "print(open_(8080), open_(8081), open_(7071), open_(8082))\n"
    )
    out = stack.exec("gateway", "python", "-c", probe).stdout.split()
    assert out == ["True", "False", "False", "True"], out  # 8082: metrics, for Prometheus
    found = stack.exec(
        "gateway",
        "sh",
        "-c",
        "find / -path /proc -prune -o -type s -print 2>/dev/null",
        check=False,
    )
    assert "management.sock" not in found.stdout
    # the one who needs it has it: the worker lists the models over the socket
    listing = (
        "import os\n"
        "from pathlib import Path\n"
        "from model_archive.client import TorchServeClient\n"
        "c = TorchServeClient(os.environ['GANFOUNDRY_TORCHSERVE_INFERENCE_URL'],"
        " os.environ['GANFOUNDRY_TORCHSERVE_MANAGEMENT_URL'],"
        " key_file=Path(os.environ['GANFOUNDRY_TORCHSERVE_KEY_FILE']))\n"
        "print(sorted(m['modelName'] for m in c.list_models()))\n"
    )
    assert "digits" in stack.exec("worker", "python", "-c", listing).stdout


@pytest.mark.parametrize(
    "service", ["redis", "torchserve", "gateway", "worker", "flower", "prometheus"]
)
def test_every_service_runs_as_a_non_root_user(stack: ComposeStack, service: str) -> None:
    status = stack.exec(service, "cat", "/proc/1/status").stdout
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert all(uid != "0" for uid in uid_line.split()[1:]), (service, uid_line)
    assert stack.exec(service, "id", "-u").stdout.strip() != "0"


def test_redis_persists_with_its_append_only_file(stack: ComposeStack) -> None:
    config = stack.exec("redis", "redis-cli", "CONFIG", "GET", "appendonly").stdout.split()
    assert config == ["appendonly", "yes"]
    files = stack.exec("redis", "sh", "-c", "ls /data/appendonlydir").stdout.split()
    assert any(name.endswith(".aof") for name in files), files


def test_compose_refuses_an_env_without_a_key_naming_it(stack: ComposeStack) -> None:
    empty = stack.workdir / "no-key.env"
    empty.write_text(f"GANFOUNDRY_TAG={stack.tag}\n")
    done = stack.compose("--env-file", str(empty), "config", check=False)
    assert done.returncode != 0
    assert "GANFOUNDRY_API_KEYS" in done.stdout + done.stderr


def test_the_gateway_refuses_a_placeholder_key_at_start_naming_it(stack: ComposeStack) -> None:
    done = stack.podman(
        "run", "--rm", "--label", f"io.podman.compose.project={stack.project}",
        "-e", "GANFOUNDRY_API_KEYS=change-me-change-me",
        "-e", "GANFOUNDRY_REDIS_URL=redis://nowhere:6379/0",
        "-e", "GANFOUNDRY_TORCHSERVE_INFERENCE_URL=http://nowhere:8080",
        "-e", "GANFOUNDRY_ARTIFACT_ROOT=/var/lib/ganfoundry/artifacts",
        f"localhost/ganfoundry/gateway:{stack.tag}",
        timeout_s=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "GANFOUNDRY_API_KEYS" in done.stdout + done.stderr
    assert "placeholder" in done.stdout + done.stderr


def test_a_gpu_worker_on_a_host_without_gpus_says_why_and_is_not_restarted(
    stack: ComposeStack,
) -> None:
    name = f"{stack.project}_gpucheck"
    stack.podman(
        "run", "-d", "--name", name, "--restart", "on-failure",
        "--label", f"io.podman.compose.project={stack.project}",
        "-e", "GANFOUNDRY_GPUS=all", "-e", "GANFOUNDRY_REQUIRE_GPU=true",
        "-e", "GANFOUNDRY_REDIS_URL=redis://nowhere:6379/0",
        f"localhost/ganfoundry/worker:{stack.tag}",
    )  # fmt: skip
    try:
        wait_for(
            "the GPU worker to stop",
            lambda: (
                stack.podman("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "exited"
            ),
            120,
        )
        state = stack.podman("inspect", "-f", "{{.State.ExitCode}} {{.RestartCount}}", name)
        assert state.stdout.split() == ["0", "0"]
        log = stack.podman("logs", name)
        assert "compose.cpu.yaml" in log.stdout + log.stderr
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)
