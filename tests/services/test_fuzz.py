"""Schema-driven fuzzing of the gateway from its own /openapi.json: no input may cause a 5xx.

Real Redis behind it; TorchServe is the stand-in that answers like the real one.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.services.conftest import AUTH, META, Gateway
from workers.spec import JobSpec


def test_no_input_causes_a_server_error(gateway: Gateway) -> None:
    job = gateway.store.create(JobSpec(model="mnist-cgan"))
    gateway.store.record_model("digits", "1", job.id, META)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", gateway.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=AUTH)
            if response.status_code >= 500:
                failures.append(
                    f"{case.operation.label}: {response.status_code} {response.text[:200]}"
                )

        exercise()
    assert not failures, failures[:5]
