"""Static checks of docker/: the compose files, the Dockerfiles and scripts/lint-docker.sh.

No Docker engine and no network: the compose files are read with PyYAML, and the CPU override is
applied with a small model of Compose's merge (mappings merge, sequences append, ``!reset`` drops
a key, ``!override`` replaces it).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
SERVICES = ("redis", "torchserve", "gateway", "worker")
MONITORING = ("flower", "prometheus")  # the "monitoring" profile
MANAGEMENT_SOCKET = "/home/model-server/management/management.sock"
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD", re.IGNORECASE)


class Reset:
    def __init__(self, value: Any) -> None:
        self.value = value


class Override:
    def __init__(self, value: Any) -> None:
        self.value = value


class ComposeLoader(yaml.SafeLoader):
    """SafeLoader plus Compose's merge tags, kept as markers for ``merge``."""


def _tagged(marker: type[Reset] | type[Override]) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Reset | Override:
        if isinstance(node, yaml.MappingNode):
            return marker(loader.construct_mapping(node, deep=True))
        if isinstance(node, yaml.SequenceNode):
            return marker(loader.construct_sequence(node, deep=True))
        return marker(loader.construct_scalar(node))

    return construct


ComposeLoader.add_constructor("!reset", _tagged(Reset))
ComposeLoader.add_constructor("!override", _tagged(Override))


def load(name: str) -> dict[str, Any]:
    return dict(yaml.load((DOCKER / name).read_text(), Loader=ComposeLoader))


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Reset):
            result.pop(key, None)
        elif isinstance(value, Override):
            result[key] = value.value
        elif isinstance(value, dict):
            below = result.get(key)
            result[key] = merge(below if isinstance(below, dict) else {}, value)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = result[key] + value  # Compose appends (or merges by key), never drops
        else:
            result[key] = value
    return result


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load("compose.yaml")


@pytest.fixture(scope="module")
def cpu_override() -> dict[str, Any]:
    return load("compose.cpu.yaml")


@pytest.fixture(scope="module")
def cpu(compose: dict[str, Any], cpu_override: dict[str, Any]) -> dict[str, Any]:
    return merge(compose, cpu_override)


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    reservations = service.get("deploy", {}).get("resources", {}).get("reservations", {})
    return [
        device
        for device in reservations.get("devices") or []
        if device.get("driver") == "nvidia" and "gpu" in device.get("capabilities", [])
    ]


def test_the_services_are_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(SERVICES + MONITORING)
    assert set(compose["volumes"]) == {
        "artifacts", "data", "model-store", "redis-data", "torchserve-keys",
        "torchserve-management", "prometheus-data",
    }  # fmt: skip
    for name in SERVICES:
        assert "profiles" not in compose["services"][name], name
    for name in MONITORING:  # not started unless asked for
        assert compose["services"][name]["profiles"] == ["monitoring"], name


@pytest.mark.parametrize("config", ["compose", "cpu"])
def test_every_service_has_a_healthcheck(config: str, request: pytest.FixtureRequest) -> None:
    for name, service in request.getfixturevalue(config)["services"].items():
        check = service.get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable") and check["test"][0] != "NONE", name


def test_gateway_and_worker_wait_for_healthy_backends(compose: dict[str, Any]) -> None:
    for name in ("gateway", "worker"):
        depends = compose["services"][name]["depends_on"]
        assert set(depends) == {"redis", "torchserve"}, name
        assert all(d["condition"] == "service_healthy" for d in depends.values()), name


def published_ports(config: dict[str, Any]) -> dict[str, list[Any]]:
    return {n: s["ports"] for n, s in config["services"].items() if s.get("ports")}


def test_only_the_gateway_is_published(
    compose: dict[str, Any], cpu_override: dict[str, Any]
) -> None:
    for config in (compose, cpu_override):
        ports = published_ports(config)
        assert set(ports) <= {"gateway", *MONITORING}
        for port in ports.get("gateway", []):
            assert str(port).endswith(":8000"), port
    for name, inside in (("flower", 5555), ("prometheus", 9090)):  # the host's loopback only
        (port,) = compose["services"][name]["ports"]
        assert str(port).startswith("127.0.0.1:") and str(port).endswith(f":{inside}"), name
    assert "ports" not in compose["services"]["torchserve"]
    assert compose["services"]["torchserve"].get("expose", []) == ["8080", "8082"]  # not 8081
    for name in ("compose.yaml", "compose.cpu.yaml"):
        text = (DOCKER / name).read_text()
        for block in re.findall(r"^\s*ports:\n((?:\s*- .*\n)+)", text, re.MULTILINE):
            assert "8081" not in block, name


def test_gpus_are_reserved_only_without_the_cpu_override(
    compose: dict[str, Any], cpu: dict[str, Any]
) -> None:
    for name in ("worker", "torchserve"):
        assert gpu_devices(compose["services"][name]), name
        assert not gpu_devices(cpu["services"][name]), name
    assert cpu["services"]["worker"]["environment"]["GANFOUNDRY_GPUS"] == ""
    assert cpu["services"]["worker"]["environment"]["GANFOUNDRY_REQUIRE_GPU"] == "false"
    # "all" by default, so the worker asks nvidia-smi; without a GPU it exits cleanly
    worker = compose["services"]["worker"]
    assert worker["environment"]["GANFOUNDRY_GPUS"] == "${GANFOUNDRY_GPUS:-all}"
    assert worker["environment"]["GANFOUNDRY_REQUIRE_GPU"] == "true"
    assert worker["restart"] == "on-failure"  # a clean exit is not restarted


def test_api_keys_are_required_and_no_secret_is_written_down(compose: dict[str, Any]) -> None:
    keys = compose["services"]["gateway"]["environment"]["GANFOUNDRY_API_KEYS"]
    assert re.fullmatch(r"\$\{GANFOUNDRY_API_KEYS:\?[^}]+\}", keys)
    for name, service in compose["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(variable) and not variable.endswith("_FILE"):  # a path is none
                assert value is None or re.fullmatch(r"\$\{[^}]+\}", str(value)), (name, variable)
    example = (DOCKER / ".env.example").read_text()
    for line in example.splitlines():
        variable, _, value = line.partition("=")
        if not line.startswith("#") and SECRET_NAME.search(variable):
            assert value == "", f".env.example gives {variable} a value"


def test_env_example_documents_every_variable_compose_reads() -> None:
    text = "".join((DOCKER / n).read_text() for n in ("compose.yaml", "compose.cpu.yaml"))
    read = set(re.findall(r"\$\{([A-Z0-9_]+)", text)) | {"GANFOUNDRY_GPUS"}
    example = (DOCKER / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, re.MULTILINE))
    assert read <= documented


def networks_of(service: dict[str, Any]) -> set[str]:
    return set(service.get("networks") or {"default"})


def test_two_networks_and_the_backend_internal(compose: dict[str, Any]) -> None:
    networks, services = compose["networks"], compose["services"]
    assert set(networks) == {"public", "backend", "monitoring"}
    assert not (networks["public"] or {}).get("internal")  # the published port needs a way out
    assert networks["backend"]["internal"] is True
    assert {name: networks_of(s) for name, s in services.items()} == {
        "redis": {"backend"},
        "torchserve": {"backend"},
        "gateway": {"public", "backend"},
        "worker": {"backend"},
        "flower": {"monitoring", "backend"},
        "prometheus": {"monitoring", "backend"},
    }


def test_torchserve_has_no_management_port_and_its_metrics_stay_inside() -> None:
    properties = (ROOT / "model_archive" / "torchserve" / "compose.properties").read_text()
    lines = properties.splitlines()
    assert f"management_address=unix:{MANAGEMENT_SOCKET}" in lines
    assert "inference_address=http://0.0.0.0:8080" in lines
    # on the internal network for Prometheus, and published nowhere (the ports test)
    assert "metrics_address=http://0.0.0.0:8082" in lines
    assert "grpc_management_address=127.0.0.1" in lines
    assert "disable_token_authorization=false" in lines


def mounts_of(service: dict[str, Any], volume: str) -> list[str]:
    return [str(v) for v in service.get("volumes", []) if str(v).startswith(f"{volume}:")]


def test_only_torchserve_and_the_workers_mount_the_management_socket(
    compose: dict[str, Any], cpu: dict[str, Any]
) -> None:
    for config in (compose, cpu):
        services = config["services"]
        torchserve, gateway, worker = (services[n] for n in ("torchserve", "gateway", "worker"))
        assert mounts_of(torchserve, "torchserve-management") == [
            f"torchserve-management:{MANAGEMENT_SOCKET.rsplit('/', 1)[0]}"
        ]
        (mount,) = mounts_of(worker, "torchserve-management")
        assert mount.endswith(":ro")
        url = worker["environment"]["GANFOUNDRY_TORCHSERVE_MANAGEMENT_URL"]
        assert url == f"unix:{mount.split(':')[1]}/management.sock"
        assert not mounts_of(gateway, "torchserve-management")
        assert not mounts_of(services["redis"], "torchserve-management")
        assert not any("MANAGEMENT" in variable for variable in gateway["environment"])
    assert "8081" not in json.dumps(compose)


def test_the_key_volume_is_torchserves_and_read_only_for_the_others(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    mounts = {
        name: mounts_of(services[name], "torchserve-keys")
        for name in ("torchserve", "gateway", "worker")
    }
    workdir = stage("torch", "torchserve")["WORKDIR"]
    assert mounts["torchserve"] == [f"torchserve-keys:{workdir}"]  # TorchServe writes it there
    for name in ("gateway", "worker"):
        (mount,) = mounts[name]
        target = mount.split(":")[1]
        assert mount.endswith(":ro"), name
        key_file = services[name]["environment"]["GANFOUNDRY_TORCHSERVE_KEY_FILE"]
        assert key_file == f"{target}/key_file.json", name
    assert "torchserve-keys" not in json.dumps(services["redis"])
    check = "\n".join(services["torchserve"]["healthcheck"]["test"])
    assert f"{workdir}/key_file.json" in check and "Authorization" in check  # /ping wants it


def test_a_stopped_worker_has_time_to_hand_its_job_back(compose: dict[str, Any]) -> None:
    assert compose["services"]["worker"]["stop_grace_period"] == "30s"


def test_redis_keeps_an_append_only_file(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["build"]["dockerfile"] == "docker/redis.Dockerfile"
    command = ast.literal_eval(dict(dockerfile("redis"))["CMD"])
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--dir") + 1] == "/data"
    assert any(str(v).startswith("redis-data:/data") for v in redis["volumes"])
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])


def test_builds_use_the_repository_root_and_take_their_base_as_an_argument(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        build = service["build"]
        assert build["context"] == "..", name
        assert (ROOT / build["dockerfile"]).is_file(), name
        assert build["args"]["BASE_IMAGE"].startswith("${GANFOUNDRY_"), name
        image = "gateway" if name == "flower" else name  # Flower runs the gateway's image
        assert service["image"] == f"ganfoundry/{image}:${{GANFOUNDRY_TAG:-latest}}", name
    assert compose["services"]["flower"]["build"] == compose["services"]["gateway"]["build"]
    for name in ("gateway", "torch", "redis", "prometheus"):
        first = dockerfile(name)[0]
        assert first[0] == "ARG" and first[1].startswith("BASE_IMAGE="), name
    # the worker and TorchServe: two stages on one torch stage, so one copy of torch
    services = compose["services"]
    assert services["worker"]["build"]["target"] == "worker"
    assert services["torchserve"]["build"]["target"] == "torchserve"
    froms = [rest for instruction, rest in dockerfile("torch") if instruction == "FROM"]
    assert froms == ["${BASE_IMAGE} AS torch", "torch AS torchserve", "torch AS worker"]
    assert (
        "torch=="
        in stage("torch", "torch")["RUN"] + (DOCKER / "requirements-torch.txt").read_text()
    )


def test_a_code_change_rebuilds_only_the_code_layers() -> None:
    """In the worker stage the dependencies are installed before any project code is copied."""
    instructions = [i for i in dockerfile("torch")]
    worker = instructions[[r for _, r in instructions].index("torch AS worker") :]
    copies = [rest for instruction, rest in worker if instruction == "COPY"]
    runs = [rest for instruction, rest in worker if instruction == "RUN"]
    code_at = next(
        i for i, (ins, rest) in enumerate(worker) if ins == "COPY" and "services/" in rest
    )
    deps_at = next(
        i for i, (ins, rest) in enumerate(worker) if ins == "RUN" and "requirements.lock" in rest
    )
    assert deps_at < code_at, (copies, runs)


def dockerfile(name: str) -> list[list[str]]:
    """The instructions of docker/<name>.Dockerfile, continuation lines joined."""
    text = (DOCKER / f"{name}.Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [line.split(None, 1) for line in lines if line and not line.startswith("#")]


def stage(name: str, target: str) -> dict[str, str]:
    """The last instruction of each kind in one stage of a multi-stage Dockerfile."""
    found: dict[str, str] = {}
    inside = False
    for instruction, rest in dockerfile(name):
        if instruction == "FROM":
            inside = rest.endswith(f" AS {target}")
        elif inside:
            found[instruction] = rest
    return found


def copied_sources(name: str) -> list[str]:
    sources = []
    for instruction, rest in dockerfile(name):
        if instruction == "COPY":
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            sources += words[:-1]
    return sources


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("gateway", ""),
        ("redis", ""),
        ("prometheus", ""),
        ("torch", "torchserve"),
        ("torch", "worker"),
    ],
)
def test_images_run_as_a_user_and_their_ignore_file_lets_the_copies_through(
    name: str, target: str
) -> None:
    user = stage(name, target)["USER"] if target else dict(dockerfile(name))["USER"]
    assert user.split(":")[0] not in ("0", "root")
    ignore = (DOCKER / f"{name}.Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore  # what is not let through stays out (.venv alone is gigabytes)
    for source in copied_sources(name):
        assert f"!{source}" in ignore, source


def test_the_gateway_image_installs_no_torch() -> None:
    instructions = dockerfile("gateway")
    assert instructions[:2] == [
        ["ARG", "BASE_IMAGE=debian:bookworm-slim"],
        ["FROM", "${BASE_IMAGE}"],
    ]
    runs = " ".join(rest for instruction, rest in instructions if instruction == "RUN")
    assert "torch" not in runs and "pip install ." not in runs
    lines = (DOCKER / "requirements-gateway.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert set(pins) == {
        "flask", "flask-openapi3", "flask-openapi3-swagger", "gunicorn", "gevent",
        "pydantic", "pydantic-settings", "redis", "celery[redis]", "flask-limiter",
        "prometheus-client", "flower",
    }  # fmt: skip
    assert any(instruction == "HEALTHCHECK" for instruction, _ in instructions)
    assert "gunicorn" in dict(instructions)["CMD"]


def gateway_imports() -> tuple[set[Path], set[str]]:
    """Project files and third-party packages reachable from services.wsgi."""
    files: set[Path] = set()
    external: set[str] = set()
    pending = ["services.wsgi"]
    while pending:
        module = pending.pop()
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # a package's __init__ runs first
            base = ROOT.joinpath(*parts[:i])
            path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
            if not path.is_file() or path in files:
                continue
            files.add(path)
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in ("services", "workers", "model_archive"):
                        pending.append(name)
                    elif top not in sys.stdlib_module_names:
                        external.add(top)
    return files, external


def test_the_gateway_image_copies_every_module_the_gateway_imports() -> None:
    files, external = gateway_imports()
    sources = copied_sources("gateway")
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        assert any(
            relative == s or (s.endswith("/") and relative.startswith(s)) for s in sources
        ), f"{relative} is imported by the gateway but not copied into its image"
    # werkzeug comes with flask, kombu with celery
    allowed = {"flask", "werkzeug", "flask_openapi3", "flask_openapi3_swagger"}
    allowed |= {"pydantic", "pydantic_settings", "redis", "celery", "kombu"}
    allowed |= {"flask_limiter", "limits", "prometheus_client"}
    archive_side = {"limits", "problems"}  # the packed modules' imports inside a .mar
    assert external <= allowed | archive_side, external


def test_worker_and_torchserve_images() -> None:
    assert dockerfile("torch")[0] == ["ARG", "BASE_IMAGE=nvidia/cuda:13.0.0-base-ubuntu22.04"]
    assert stage("torch", "worker")["CMD"] == '["ganfoundry-worker"]'
    torchserve = stage("torch", "torchserve")
    assert torchserve["CMD"] == '["torchserve-start"]'
    assert torchserve["EXPOSE"] == "8080"
    start = (DOCKER / "torchserve-start.sh").read_text()
    assert "exec torchserve --start --foreground --ncs" in start
    assert '--model-store "$store"' in start and "store=/home/model-server/model-store" in start
    config = start.split("--ts-config ")[1].split()[0]
    copies = [r for i, r in dockerfile("torch") if i == "COPY"]
    assert f"model_archive/torchserve/compose.properties {config}" in copies


def test_the_cpu_configuration_is_valid_compose(cpu: dict[str, Any]) -> None:
    """The merged result, not just each file, must be what the compose-spec allows."""
    jsonschema = pytest.importorskip("jsonschema")
    schemas = pytest.importorskip("check_jsonschema.builtin_schemas")
    schema = json.loads(
        Path(schemas.__file__).with_name("vendor").joinpath("compose-spec.json").read_text()
    )
    jsonschema.validate(cpu, schema)


def test_the_docker_lint_script_passes() -> None:
    bin_dir = Path(sys.executable).parent
    missing = [t for t in ("hadolint", "check-jsonschema") if not (bin_dir / t).exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed in {bin_dir} (pip install -e '.[dev]')")
    done = subprocess.run(
        ["bash", "scripts/lint-docker.sh"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "BIN": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_worker_image_installs_the_locked_versions() -> None:
    text = (DOCKER / "torch.Dockerfile").read_text()
    assert "--constraint requirements.lock" in text
    assert "!requirements.lock" in (DOCKER / "torch.Dockerfile.dockerignore").read_text()
    torch_pins = (DOCKER / "requirements-torch.txt").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    for pin in re.findall(r"^(torch(?:vision)?==\S+)", torch_pins, re.MULTILINE):
        assert pin in lock.splitlines(), pin


def test_prometheus_scrapes_every_part_where_compose_serves_its_metrics(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    scrape = yaml.safe_load((DOCKER / "prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert set(jobs) == {"gateway", "worker", "torchserve", "flower"}
    assert jobs["gateway"]["static_configs"][0]["targets"] == ["gateway:8000"]
    assert jobs["gateway"]["authorization"]["credentials_file"].startswith("/tmp/secrets/")
    assert (
        services["gateway"]["environment"]["GANFOUNDRY_METRICS_KEYS"]
        == (services["prometheus"]["environment"]["GANFOUNDRY_METRICS_KEY"])
    )  # the key Prometheus sends is one the gateway takes
    worker_port = services["worker"]["environment"]["GANFOUNDRY_WORKER_METRICS_PORT"]
    assert jobs["worker"]["dns_sd_configs"][0] == {
        "names": ["worker"], "type": "A", "port": int(worker_port)
    }  # fmt: skip
    assert services["worker"]["environment"]["GANFOUNDRY_WORKER_METRICS_BIND"] == "0.0.0.0"
    assert jobs["torchserve"]["static_configs"][0]["targets"] == ["torchserve:8082"]
    assert "8082" in services["torchserve"]["expose"]
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    assert (
        services["flower"]["environment"]["FLOWER_BASIC_AUTH"]
        == (services["prometheus"]["environment"]["FLOWER_BASIC_AUTH"])
    )
    assert jobs["flower"]["basic_auth"]["password_file"].startswith("/tmp/secrets/")


def test_flower_runs_only_behind_its_basic_auth(compose: dict[str, Any]) -> None:
    flower = compose["services"]["flower"]
    assert flower["command"] == ["python", "-m", "services.flower"]  # refuses without auth
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "${GANFOUNDRY_FLOWER_AUTH:-}"
