from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workers.engine.cpus import available_cpus
from workers.settings import SettingsError
from workers.worker_main import visible_gpus, worker_commands


def test_one_solo_worker_per_gpu_pinned_with_cuda_visible_devices() -> None:
    commands = worker_commands(["0", "1"], "INFO")
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in commands] == ["0", "1"]
    for command, env in commands:
        assert command[command.index("--pool") + 1] == "solo"
        assert command[command.index("--concurrency") + 1] == "1"
        assert command[command.index("--queues") + 1] == "training"
        assert int(env["GANFOUNDRY_TORCH_THREADS"]) == max(1, available_cpus() // 2)
    assert len({c[c.index("--hostname") + 1] for c, _ in commands}) == 2


def test_each_gpus_worker_serves_its_metrics_on_a_port_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GANFOUNDRY_WORKER_METRICS_PORT", "9500")
    ports = [
        env["GANFOUNDRY_WORKER_METRICS_PORT"] for _, env in worker_commands(["0", "1"], "INFO")
    ]
    assert ports == ["9500", "9501"]
    monkeypatch.delenv("GANFOUNDRY_WORKER_METRICS_PORT")
    assert all(
        "GANFOUNDRY_WORKER_METRICS_PORT" not in env for _, env in worker_commands(["0"], "INFO")
    )


def test_without_gpus_one_cpu_worker_sees_no_gpu() -> None:
    ((command, env),) = worker_commands([], "INFO")
    assert env["CUDA_VISIBLE_DEVICES"] == "" and "cpu@" in command[command.index("--hostname") + 1]


def test_gpus_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANFOUNDRY_GPUS", "0, 2")
    assert visible_gpus() == ["0", "2"]
    monkeypatch.setenv("GANFOUNDRY_GPUS", "")
    assert visible_gpus() == []


def test_gpus_that_are_not_indices_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANFOUNDRY_GPUS", "0,first")
    with pytest.raises(SettingsError, match="GANFOUNDRY_GPUS: '0,first'"):
        visible_gpus()


def test_gpus_come_from_nvidia_smi_in_its_numbering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\n[ "$1" = "--query-gpu=index" ] && printf "0\\n1\\n" || exit 9\n')
    smi.chmod(0o755)
    monkeypatch.delenv("GANFOUNDRY_GPUS", raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert visible_gpus() == ["0", "1"]
    monkeypatch.setenv("GANFOUNDRY_GPUS", "all")  # what compose.yaml passes: the same question
    assert visible_gpus() == ["0", "1"]
    commands = worker_commands(visible_gpus(), "INFO")
    assert [env["CUDA_DEVICE_ORDER"] for _, env in commands] == ["PCI_BUS_ID"] * 2
    smi.write_text("#!/bin/sh\nexit 9\n")  # a driver that fails: no GPU workers, no crash
    assert visible_gpus() == []


def test_a_worker_that_requires_a_gpu_and_sees_none_exits_cleanly_saying_why(
    tmp_path: Path,
) -> None:
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "GANFOUNDRY_GPUS": "all"}
    env["GANFOUNDRY_REQUIRE_GPU"] = "true"  # no nvidia-smi on this PATH: no GPU
    run = [sys.executable, "-m", "workers.worker_main"]
    ended = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60, check=False)
    # exit 0: a restart policy of on-failure leaves it stopped instead of looping
    assert ended.returncode == 0, ended.stderr
    assert "no GPU is visible" in ended.stderr and "compose.cpu.yaml" in ended.stderr
    assert "celery" not in ended.stderr.lower()  # no worker process was started


def test_the_supervisor_never_loads_torch() -> None:
    code = "import sys, workers.worker_main; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_when_one_worker_process_ends_the_supervisor_ends_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    import workers.worker_main as worker_main

    commands = [(["sleep", "60"], {}), ([sys.executable, "-c", "raise SystemExit(3)"], {})]
    monkeypatch.setattr(worker_main, "worker_commands", lambda gpus, level: commands)
    monkeypatch.setattr(worker_main, "visible_gpus", lambda: ["0", "1"])
    monkeypatch.setattr(worker_main.signal, "signal", lambda *args: None)  # keep pytest's handlers
    began = time.monotonic()
    assert worker_main.main([]) != 0
    assert time.monotonic() - began < 10  # the sleeping one was stopped, not waited for
