"""The compose stack in containers (podman-compose, the CPU override, the local Debian base):
how long it takes to build, to rebuild after a code change, to come up, and to make images.

Figures: cold_build_s (every image, no layer cache), code_rebuild_s (after a one-line change in
services/, which the gateway and the worker copy; target <= 60), up_to_healthy_s (``up`` to every
healthcheck passing; target <= 90), job_to_images_s (a short conditional MNIST job submitted to the
first label-3 images), and each image's size in MB (gateway target <= 300). Everything the run
made is removed at the end. Needs ``make setup-containers``. Last line: JSON.

    python bench/compose.py [--warm]   # --warm: use the build cache (no cold build figure)
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from pathlib import Path

from services.stack.compose import ROOT, SERVICES, ComposeStack, call, wait_for
from services.stack.processes import free_port

JOB = {
    "model": "mnist-cgan",
    "dataset": {"source": "builtin:mnist-sample"},
    "training": {"max_steps": 400, "seed": 0, "checkpoint_every": 50},
    "serve_as": "digits",
}
CHANGED = ROOT / "services" / "__init__.py"  # copied into the gateway and the worker images


def code_rebuild_s(stack: ComposeStack) -> float:
    before = CHANGED.read_text()
    CHANGED.write_text(before + f"# bench/compose.py {secrets.token_hex(4)}\n")
    try:
        return stack.build()
    finally:
        CHANGED.write_text(before)


def job_to_images_s(stack: ComposeStack) -> float:
    began = time.monotonic()
    answer = call(stack, "POST", "/v1/jobs", JOB)
    assert answer.status == 202, answer.body
    wait_for(
        "label-3 images",
        lambda: (
            call(
                stack, "POST", "/v1/models/digits/generate", {"label": 3, "n": 8, "seed": 1}
            ).status
            == 200
        ),
        600,
        every_s=0.5,
    )
    return time.monotonic() - began


def image_mb(stack: ComposeStack) -> dict[str, float]:
    sizes = {}
    for service, image in zip(SERVICES, stack.images(), strict=True):
        size = stack.podman("image", "inspect", "--format", "{{.Size}}", image).stdout
        sizes[f"{service}_image_mb"] = round(int(size) / 1e6, 1)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", action="store_true", help="build with the layer cache")
    args = parser.parse_args()
    stack = ComposeStack(
        project=f"gfbench{secrets.token_hex(3)}",
        workdir=Path(tempfile.mkdtemp(prefix="ganfoundry-bench-compose-")),
        port=free_port(),
    )
    stack.write_env()
    figures: dict[str, float | None] = {}
    try:
        figures["cold_build_s"] = None if args.warm else round(stack.build(no_cache=True), 1)
        if args.warm:
            stack.build()
        print(f"build: {figures['cold_build_s']} s", flush=True)
        figures["code_rebuild_s"] = round(code_rebuild_s(stack), 1)
        print(f"rebuild after a code change: {figures['code_rebuild_s']} s", flush=True)
        began = time.monotonic()
        stack.up()
        stack.wait_healthy()
        figures["up_to_healthy_s"] = round(time.monotonic() - began, 1)
        print(f"up to healthy: {figures['up_to_healthy_s']} s", flush=True)
        figures["job_to_images_s"] = round(job_to_images_s(stack), 1)
        print(f"job to images: {figures['job_to_images_s']} s", flush=True)
        figures.update(image_mb(stack))
    finally:
        stack.remove()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
