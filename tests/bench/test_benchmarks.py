"""Every benchmark runs at a tiny size and ends with the JSON figures its issue asked for.

The figures themselves are not judged here (timings belong in the benchmarks' own runs): this
keeps the benchmarks from rotting as the code under them changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

RUNS = {  # script: (tiny arguments, the keys its issue asked for and more)
    "train_throughput.py": (
        ["--book-steps", "30", "--batched-steps", "3"],
        ["book_samples_per_s", "batched_samples_per_s", "ratio"],
    ),
    "hdf5_read.py": (
        ["--images", "40"],
        ["book_layout_images_per_s", "project_layout_images_per_s", "ratio"],
    ),
    "celeba_train.py": (
        ["--book-steps", "3", "--batched-steps", "3", "--batch", "2"],
        [
            "book_images_per_s",
            "batched_images_per_s",
            "ratio",
            "ratio_ceiling",
            "fc_peak_bytes",
            "dcgan_peak_bytes",
        ],
    ),
    "serve_latency.py": (
        ["--requests", "3", "--seconds", "1"],
        [
            "torchserve_p50_ms_n1",
            "torchserve_p99_ms_n1",
            "inprocess_p50_ms_n1",
            "added_p50_ms_n1",
            "images_per_s_concurrent",
            "torchserve_p99_ms_concurrent_n1",
        ],
    ),
    "events_latency.py": (
        ["--events", "10", "--streams", "3", "--requests", "5"],
        ["event_p50_ms", "generate_p50_ms", "added_p50_ms_with_3_streams"],
    ),
    "gateway_overhead.py": (
        ["--requests", "2"],
        [
            "gateway_p50_ms",
            "torchserve_p50_ms",
            "added_p50_ms_1",
            "added_p50_ms_16",
            "added_limited_p50_ms_1",
            "added_limited_p50_ms_16",
        ],
    ),
    "job_latency.py": (
        ["--jobs", "1", "--steps", "3"],
        ["enqueue_to_first_step_s", "train_end_to_served_s"],
    ),
    "recovery.py": (
        ["--kills", "1"],
        ["resume_after_kill_s", "steps_lost_max", "graceful_stop_s"],
    ),
    "serving_recovery.py": (
        ["--models", "1"],
        ["recover_all_s", "non_503_errors"],
    ),
    "quality.py": (
        ["--book-budget", "1", "--budget", "5", "--epochs", "1", "--every", "1"],
        [
            "cgan_accuracy",
            "cgan_worst_class",
            "cgan_s_to_98",
            "book_cgan_accuracy",
            "gan_covered",
            "gan_entropy",
            "book_gan_entropy",
            "evaluator_real_accuracy",
        ],
    ),
}


ELSEWHERE = {  # script: the test that runs it, since it needs more than this suite has
    "compose.py": Path(__file__).resolve().parents[1] / "compose" / "test_bench.py",
}


def test_every_benchmark_is_covered() -> None:
    scripts = [p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")]
    assert sorted([*RUNS, *ELSEWHERE]) == sorted(scripts)
    for script, test in ELSEWHERE.items():
        assert script in test.read_text(), f"{test} does not run bench/{script}"


@pytest.mark.parametrize("script", sorted(RUNS))
def test_benchmark_prints_its_figures(script: str, tmp_path: Path) -> None:
    args, keys = RUNS[script]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # nothing may land in the checkout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    missing = [key for key in keys if key not in figures]
    assert not missing, f"{script} printed no {missing}: {figures}"
