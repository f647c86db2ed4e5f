"""make up, make demo, the CLI and make down, for real: processes start, answer and stop."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from services.stack.processes import free_port, group_members
from services.stack.state import read_state
from workers.engine.data import builtin_mnist_sample
from workers.engine.datasets import Dataset
from workers.engine.evaluator import get_evaluator

ROOT = Path(__file__).resolve().parents[2]


def make(target: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target, *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ganfoundry"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def stack_env(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = dict(os.environ) | {"GANFOUNDRY_RUN_DIR": str(tmp_path / "stack")}
    for name in (
        "GATEWAY",
        "REDIS",
        "INFERENCE",
        "MANAGEMENT",
        "METRICS",
        "GRPC_INFERENCE",
        "GRPC_MANAGEMENT",
    ):
        env[f"GANFOUNDRY_{name}_PORT"] = str(free_port())
    yield env
    make("down", env)  # whatever happened, leave nothing running


def rows_show_their_class(sheet: Path) -> list[float]:
    """Cut the demo sheet into its 10x10 digits and ask the evaluator what each row shows."""
    picture = Image.open(sheet).convert("L")
    scale = 3
    picture = picture.resize(
        (picture.width // scale, picture.height // scale), Image.Resampling.NEAREST
    )
    pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255)  # (H, W)
    train, test = builtin_mnist_sample()
    evaluator = get_evaluator(
        Dataset("builtin:mnist-sample", "builtin:mnist-sample:v1", train, test, 10)
    )
    row_height = picture.height // 10
    accuracy = []
    for label in range(10):
        cells = [
            pixels[label * row_height + 2 : label * row_height + 30, 2 + 30 * i : 30 + 30 * i]
            for i in range(10)
        ]
        predicted = evaluator.predict(torch.stack(cells).unsqueeze(1))
        accuracy.append(float((predicted == label).float().mean()))
    return accuracy


def readme_curl_blocks() -> list[str]:
    """Every ```bash block of the README that calls curl."""
    text = (ROOT / "README.md").read_text()
    blocks = [part.split("```", 1)[0] for part in text.split("```bash\n")[1:]]
    return [block for block in blocks if "curl " in block]


def run_readme_examples(env: dict[str, str], run_dir: Path, folder: Path) -> None:
    blocks = readme_curl_blocks()
    assert len(blocks) >= 2
    generator = next((run_dir / "artifacts" / "jobs").glob("*/generator.pt"))
    example_env = env | {
        "URL": f"http://127.0.0.1:{env['GANFOUNDRY_GATEWAY_PORT']}",
        "KEY": (run_dir / "api-key").read_text().strip(),
        "TS": f"http://127.0.0.1:{env['GANFOUNDRY_INFERENCE_PORT']}",
        "TSM": f"http://127.0.0.1:{env['GANFOUNDRY_MANAGEMENT_PORT']}",
        "GEN": str(generator),
        "STORE": str(run_dir / "model-store"),
        "KEYS": str(run_dir / "torchserve" / "key_file.json"),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{env['PATH']}",
    }
    folder.mkdir()
    for block in blocks:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=folder,
            env=example_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, (
            f"README example failed:\n{block}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        )
    for picture in ("sevens.png", "samples.png", "live.png"):
        assert Image.open(folder / picture).format == "PNG"


def test_make_up_demo_cli_and_down(stack_env: dict[str, str], tmp_path: Path) -> None:
    started = make("up", stack_env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "API key:" in started.stdout
    run_dir = Path(stack_env["GANFOUNDRY_RUN_DIR"])
    state = read_state(run_dir)
    assert (
        state is not None
        and all(state.alive().values())
        and set(state.pids) == {"redis", "torchserve", "worker", "gateway"}
    )
    with urllib.request.urlopen(f"{state.url}/readyz", timeout=5) as answer:
        assert answer.status == 200
    again = make("up", stack_env)
    assert again.returncode == 0 and read_state(run_dir) == state  # already up: nothing restarted

    sheet = tmp_path / "digits.png"
    demo = make("demo", stack_env, f"DEMO_OUT={sheet}")
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert str(sheet) in demo.stdout
    assert Image.open(sheet).size == (3 * (10 * 30 + 2), 3 * 10 * (30 + 2))  # one row per class
    accuracy = rows_show_their_class(sheet)
    assert sum(accuracy) / 10 >= 0.8 and min(accuracy) >= 0.5, accuracy

    models = cli(stack_env, "models")
    assert models.returncode == 0 and "demo-digits" in models.stdout and "(ready)" in models.stdout
    demo_job = cli(stack_env, "jobs", "--state", "succeeded", "--limit", "1").stdout.split()[0]
    served = cli(stack_env, "serve", demo_job, "cli-digits")
    assert served.returncode == 0 and "cli-digits version 1: loading" in served.stdout, served
    assert "cli-digits" in cli(stack_env, "models").stdout
    assert cli(stack_env, "delete", "cli-digits", "--version", "1").returncode == 1  # the last
    assert cli(stack_env, "delete", "cli-digits").returncode == 0
    assert "cli-digits" not in cli(stack_env, "models").stdout
    threes = tmp_path / "threes.png"
    assert (
        cli(
            stack_env, "generate", "demo-digits", "--label", "3", "--n", "4", "--out", str(threes)
        ).returncode
        == 0
    )
    assert Image.open(threes).size == (4 * 30 + 2, 30 + 2)
    refused = cli(
        stack_env, "generate", "demo-digits", "--label", "42", "--out", str(tmp_path / "no.png")
    )
    assert refused.returncode == 1 and refused.stderr.strip().count("\n") == 0
    assert "422 invalid_request" in refused.stderr and "label" in refused.stderr
    morph = tmp_path / "morph.png"
    interpolated = cli(
        stack_env, "interpolate", "demo-digits", "--label", "3", "--seeds", "1", "2",
        "--steps", "6", "--out", str(morph),
    )  # fmt: skip
    assert interpolated.returncode == 0, interpolated.stderr
    assert Image.open(morph).size == (4 * 30 + 2, 2 * 30 + 2)  # 6 frames, in rows of four
    sums = tmp_path / "sums.png"
    summed = cli(
        stack_env, "arithmetic", "demo-digits", "--label", "3", "--seeds", "1", "2",
        "--out", str(sums),
    )  # fmt: skip
    assert summed.returncode == 0, summed.stderr
    assert Image.open(sums).size == (4 * 30 + 2, 30 + 2)  # a, b, a+b, a-b
    submitted = cli(stack_env, "submit", "--preset", "mnist-cgan")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[1]
    assert cli(stack_env, "cancel", job_id).returncode == 0
    shown = cli(stack_env, "job", job_id)
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == job_id
    listed = cli(stack_env, "jobs")
    assert job_id in listed.stdout

    # a key of its own for a train-and-generate client: it sees its jobs only, until revoked
    issued = cli(stack_env, "keys", "create", "--name", "student", "--scopes", "train,generate")
    assert issued.returncode == 0, issued.stderr
    key_id, key = issued.stdout.split()[1], issued.stdout.splitlines()[1].strip()
    assert key_id in cli(stack_env, "keys", "list").stdout
    own = cli(stack_env, "--key", key, "jobs")
    assert own.returncode == 0 and job_id not in own.stdout  # the stack's admin key submitted it
    assert cli(stack_env, "--key", key, "job", job_id).returncode == 1  # 404 to this key
    assert cli(stack_env, "--key", key, "keys", "list").returncode == 1  # 403: not an admin
    assert cli(stack_env, "keys", "revoke", key_id).returncode == 0
    revoked = cli(stack_env, "--key", key, "models")
    assert revoked.returncode == 1 and "401" in revoked.stderr

    run_readme_examples(stack_env, run_dir, tmp_path / "readme")

    stopped = make("down", stack_env)
    assert stopped.returncode == 0 and "gateway" in stopped.stdout
    assert read_state(run_dir) is None
    assert all(
        not group_members(pid) for pid in state.pids.values()
    )  # every process of every service
