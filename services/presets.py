"""Named job specs for the CLI (the same as the files in examples/)."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "mnist-cgan": {"model": "mnist-cgan", "dataset": {"source": "builtin:mnist-sample"}},
    "mnist-gan": {"model": "mnist-gan", "dataset": {"source": "builtin:mnist-sample"}},
    "mnist-gan-v1-book": {"model": "mnist-gan-v1", "training": {"mode": "book", "epochs": 1}},
    "pattern-1010-book": {"model": "pattern-1010", "training": {"mode": "book"}},
}
