"""celeba-dcgan training images/s, book mode against batched mode, and peak memory of the fully
connected celeba-gan against celeba-dcgan. On the CPU, and also on the GPU when CUDA is present.
Both train on the offline faces through the engine's own loop. Last line: JSON.

Roofline (CPU): the arithmetic each mode does per image (torch's FLOP counter over one step) and
this machine's measured matrix-multiply peak in fp32 and bf16, in the same run. From them, the
highest ratio any implementation of these networks could reach here: the batched mode's images/s at
the peak of its precision, over the measured book mode.

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
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from workers.engine.runtime import choose_runtime
from workers.engine.trainer import prepare, run
from workers.spec import JobSpec

from _timing import samples_per_s

CUDA_SCALE = 25  # a GPU step is so short that more steps, and more warm-up, are needed


def flop_per_image(model: str, training: dict[str, Any]) -> float:
    """Floating-point operations of one training step, per image (convolutions and matmuls)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = JobSpec.model_validate(
            {"model": model, "training": {"preflight": False, "max_steps": 1, **training}}
        )
        session = prepare(spec, Path(tmp))
        with FlopCounterMode(display=False) as counter:
            run(session)
    return counter.get_total_flops() / session.plan.batch_size


def matmul_peak_flop_per_s(dtype: torch.dtype, size: int = 2048, repeats: int = 6) -> float:
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    a @ b  # warm-up
    began = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - began)


def roofline(book: float, batch: int) -> dict[str, Any]:
    """What the CPU's arithmetic allows: see the module's docstring."""
    batched_training = {"batch_size": batch, "device": "cpu"}
    batched_dtype = choose_runtime("cpu", "auto", "batched").autocast_dtype or torch.float32
    book_flop = flop_per_image("celeba-dcgan", {"mode": "book", "device": "cpu"})
    batched_flop = flop_per_image("celeba-dcgan", batched_training)
    fp32_peak = matmul_peak_flop_per_s(torch.float32)
    batched_peak = matmul_peak_flop_per_s(batched_dtype)
    ceiling = batched_peak / batched_flop / book
    print(
        f"roofline: book {book_flop / 1e9:.1f} GFLOP/image at {book * book_flop / 1e9:.0f} GFLOP/s "
        f"(fp32 matmul peak {fp32_peak / 1e9:.0f}); batched {batched_flop / 1e9:.1f} GFLOP/image, "
        f"{batched_dtype} matmul peak {batched_peak / 1e9:.0f} GFLOP/s: "
        f"ratio ceiling {ceiling:.1f}x"
    )
    return {
        "book_gflop_per_image": round(book_flop / 1e9, 2),
        "batched_gflop_per_image": round(batched_flop / 1e9, 2),
        "book_gflop_per_s": round(book * book_flop / 1e9, 1),
        "fp32_matmul_peak_gflop_per_s": round(fp32_peak / 1e9, 1),
        "batched_matmul_peak_gflop_per_s": round(batched_peak / 1e9, 1),
        "batched_precision": str(batched_dtype).removeprefix("torch."),
        "ratio_ceiling": round(ceiling, 2),
    }


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
    parser.add_argument("--book-steps", type=int, default=12, help="on the CPU; 25x on CUDA")
    parser.add_argument("--batched-steps", type=int, default=5, help="on the CPU; 25x on CUDA")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    figures: dict[str, Any] = {}
    for device in devices:
        suffix, scale = ("", 1) if device == "cpu" else ("_cuda", CUDA_SCALE)
        book, _ = samples_per_s(
            "celeba-dcgan",
            {"mode": "book", "max_steps": args.book_steps * scale, "device": device},
            warm_up=scale,
        )
        batched, _ = samples_per_s(
            "celeba-dcgan",
            {"max_steps": args.batched_steps * scale, "batch_size": args.batch, "device": device},
            warm_up=scale,
        )
        figures |= {
            f"book_images_per_s{suffix}": round(book, 2),
            f"batched_images_per_s{suffix}": round(batched, 2),
            f"ratio{suffix}": round(batched / book, 2),
        }
        print(
            f"{device}: celeba-dcgan book {book:.2f} images/s, batched (batch {args.batch}) {batched:.2f} images/s, ratio {batched / book:.1f}x"
        )
        if device == "cpu":
            figures |= roofline(book, args.batch)
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
