"""What a job may ask for on this service, checked at submit (the gateway) and again at start.

Imports pydantic-level modules only (no torch), so the gateway shares it. The engine enforces
the steps ceiling once the dataset's size is known (a file dataset's size is not known here).
"""

from __future__ import annotations

from workers.settings import JobLimits
from workers.spec import JobSpec


def limit_errors(spec: JobSpec, limits: JobLimits) -> dict[str, str]:
    """Field → what to change, for every limit the spec goes past; empty when it fits."""
    errors: dict[str, str] = {}
    training = spec.training
    if training.time_limit_s is not None and training.time_limit_s > limits.longest_job_s:
        errors["training.time_limit_s"] = (
            f"{training.time_limit_s} s is over this service's longest job, "
            f"{limits.longest_job_s} s: ask for at most that"
        )
    if training.max_steps is not None and training.max_steps > limits.max_total_steps:
        errors["training.max_steps"] = (
            f"{training.max_steps:,} steps is over this service's limit of "
            f"{limits.max_total_steps:,} optimizer steps per job"
        )
    return errors
