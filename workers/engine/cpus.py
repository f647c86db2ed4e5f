"""CPU count without importing torch (the worker supervisor must not load it)."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
