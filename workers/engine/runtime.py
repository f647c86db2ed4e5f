"""Where and how a job computes: device, mixed precision and CPU threads, chosen at run time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from workers.engine.cpus import available_cpus
from workers.engine.settings import engine_settings


class RuntimeChoiceError(ValueError):
    """The spec asks for hardware or precision this machine does not have."""


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    autocast_dtype: torch.dtype | None  # None: full fp32

    @property
    def needs_grad_scaler(self) -> bool:
        return self.autocast_dtype == torch.float16

    @property
    def precision(self) -> str:
        names = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        return names[self.autocast_dtype]

    def apply_math_mode(self) -> None:
        """fp32 means fp32 on CUDA too: cuDNN's TF32 convolutions only under mixed precision."""
        precision = "ieee" if self.autocast_dtype is None else "tf32"
        torch.backends.cudnn.conv.fp32_precision = precision  # type: ignore[attr-defined]

    @contextmanager
    def autocast(self) -> Iterator[None]:
        """Mixed precision for the forward passes, when chosen."""
        if self.autocast_dtype is None:
            yield
            return
        with torch.autocast(self.device.type, dtype=self.autocast_dtype):
            yield


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 matrix units (AVX-512 BF16 or AMX)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(torch.backends.mkldnn.is_available() and check is not None and check())


def choose_runtime(device: str, precision: str, mode: str) -> Runtime:
    """Resolve the spec's 'auto' choices. Book mode stays fp32 unless asked otherwise."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeChoiceError("training.device is 'cuda' but no CUDA device is visible")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    target = torch.device("cuda" if use_cuda else "cpu")
    if precision == "fp32" or (precision == "auto" and mode == "book"):
        return Runtime(target, None)
    if precision == "bf16":
        return Runtime(target, torch.bfloat16)
    if precision == "fp16":
        return Runtime(target, torch.float16)
    if use_cuda:
        return Runtime(target, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return Runtime(target, torch.bfloat16 if cpu_supports_bf16() else None)


def configure_threads(threads: int | None = None) -> int:
    """Use one intra-op thread per available core (or ``threads``); returns the number set."""
    count = threads or engine_settings().torch_threads or available_cpus()
    torch.set_num_threads(count)
    return count
