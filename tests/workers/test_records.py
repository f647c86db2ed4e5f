"""Records are typed: a state outside the five is refused, and Redis's encoding reads back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workers.records import STATES, Job, decode, encode


def a_job(**changes: object) -> Job:
    values: dict[str, object] = {
        "id": "0" * 32,
        "spec": {"model": "mnist-gan"},
        "state": "queued",
        "created_at": 1.0,
        "updated_at": 2.0,
    }
    return Job.model_validate(values | changes)


def test_the_five_states() -> None:
    assert STATES == ("queued", "running", "succeeded", "failed", "cancelled")
    assert a_job(state="failed").finished and not a_job(state="running").finished


@pytest.mark.parametrize("bad", [{"state": "paused"}, {"id": "../x"}, {"created_at": "soon"}])
def test_a_malformed_record_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        a_job(**bad)


def test_a_record_reads_back_as_written() -> None:
    job = a_job(progress={"step": 3, "eta_s": None}, attempts=2)
    fields = encode(job.to_dict())
    assert all(isinstance(value, str) for value in fields.values())
    assert Job.model_validate(decode(fields)) == job
