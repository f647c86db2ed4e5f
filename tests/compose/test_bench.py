"""bench/compose.py runs against podman (so it lives here, not in tests/bench) and prints its figures.

It uses the build cache the suite has anyway (``--warm``) and a compose project of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys

from services.stack.compose import ROOT

KEYS = ["code_rebuild_s", "up_to_healthy_s", "job_to_images_s", "gateway_image_mb"]


def test_the_compose_benchmark_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compose.py"), "--warm"],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    missing = [key for key in KEYS if key not in figures]
    assert not missing, f"bench/compose.py printed no {missing}: {figures}"
    assert figures["cold_build_s"] is None  # --warm
    assert (ROOT / "services" / "__init__.py").read_text().count("bench/compose.py") == 0
