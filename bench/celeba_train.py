"""celeba-dcgan training images/s, book mode against batched mode, and peak memory of the fully
connected celeba-gan against celeba-dcgan. On the CPU, and also on the GPU when CUDA is present.
Both train on the offline faces through the engine's own loop. Last line: JSON.

Peak memory: on CUDA, torch's peak allocation; on the CPU, the peak resident memory (VmHWM) of a
fresh process that trains a few steps, less that of a process that only imports torch. Batch 1
(book mode) is how the book measured; batched too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from workers.engine.trainer import prepare, run
from workers.spec import JobSpec


def images_per_s(model: str, training: dict[str, Any]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        spec = JobSpec(model=model, training={"preflight": False, **training})
        session = prepare(spec, Path(tmp))
        result = run(session)
    return result.steps * result.plan.batch_size / result.seconds


def peak_bytes(model: str, device: str, steps: int, batch: int) -> int:
    """Peak memory of training ``model`` for a few steps (batch 1: book mode), in a fresh process."""
    code = f"""
import sys, tempfile, torch
from pathlib import Path
from workers.engine.trainer import prepare, run
from workers.spec import JobSpec
mode = {{"mode": "book"}} if {batch} == 1 else {{"batch_size": {batch}}}
spec = JobSpec(model={model!r}, training={{"preflight": False, "max_steps": {steps},
               "device": {device!r}, "precision": "fp32", **mode}})
run(prepare(spec, Path(tempfile.mkdtemp())))
if {device!r} == "cuda":
    print(torch.cuda.max_memory_allocated())
else:  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    print(int(hwm.split()[1]) * 1024)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def baseline_bytes() -> int:
    code = (
        "import torch, workers.engine.trainer\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(hwm.split()[1]) * 1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--book-steps", type=int, default=12)
    parser.add_argument("--batched-steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    figures: dict[str, Any] = {}
    for device in devices:
        suffix = "" if device == "cpu" else "_cuda"
        book = images_per_s(
            "celeba-dcgan", {"mode": "book", "max_steps": args.book_steps, "device": device}
        )
        batched = images_per_s(
            "celeba-dcgan",
            {"max_steps": args.batched_steps, "batch_size": args.batch, "device": device},
        )
        figures |= {
            f"book_images_per_s{suffix}": round(book, 2),
            f"batched_images_per_s{suffix}": round(batched, 2),
            f"ratio{suffix}": round(batched / book, 2),
        }
        print(
            f"{device}: celeba-dcgan book {book:.2f} images/s, batched (batch {args.batch}) {batched:.2f} images/s, ratio {batched / book:.1f}x"
        )
    memory_device = "cuda" if torch.cuda.is_available() else "cpu"
    base = 0 if memory_device == "cuda" else baseline_bytes()
    for batch, suffix in ((1, ""), (args.batch, "_batched")):  # batch 1: as the book measured
        fc = peak_bytes("celeba-gan", memory_device, 2, batch) - base
        dcgan = peak_bytes("celeba-dcgan", memory_device, 2, batch) - base
        figures |= {
            f"fc_peak_bytes{suffix}": fc,
            f"dcgan_peak_bytes{suffix}": dcgan,
            f"dcgan_to_fc_memory{suffix}": round(dcgan / fc, 3) if fc > 0 else None,
        }
        print(
            f"peak memory ({memory_device}, batch {batch}): celeba-gan {fc / 2**20:.0f} MiB, "
            f"celeba-dcgan {dcgan / 2**20:.0f} MiB"
        )
    figures |= {"memory_device": memory_device, "batch": args.batch}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
