"""Room for a dataset: free host memory (container limits included) and free accelerator memory."""

from __future__ import annotations

from pathlib import Path

import torch

HOST_SHARE = 0.75  # of free host memory a dataset may take: training needs the rest
DEVICE_SHARE = 0.5  # of free accelerator memory: activations and optimiser state need the rest

# (limit, usage) files of cgroup v2 and v1, relative to the cgroup mount
_CGROUP_FILES = (
    ("memory.max", "memory.current"),
    ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
)


def available_host_bytes(
    meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """The kernel's MemAvailable, lowered to what a container's memory limit leaves; None if unknown."""
    try:
        lines = meminfo.read_text().splitlines()
        free = next(
            int(line.split()[1]) * 1024 for line in lines if line.startswith("MemAvailable:")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    for limit_name, usage_name in _CGROUP_FILES:
        try:
            limit = (cgroup / limit_name).read_text().strip()
            usage = int((cgroup / usage_name).read_text())
        except (OSError, ValueError):
            continue
        if limit.isdigit():  # "max" (v2) or a huge number (v1) mean no limit
            free = min(free, max(0, int(limit) - usage))
        break
    return free


def dataset_home(nbytes: int, device: torch.device) -> torch.device:
    """Where training keeps its dataset: on the accelerator when it takes at most DEVICE_SHARE of
    the free memory there (no copy per batch), else on the host, sending each batch over."""
    if device.type != "cuda":
        return device
    free, _ = torch.cuda.mem_get_info(device)
    return device if nbytes <= DEVICE_SHARE * free else torch.device("cpu")
