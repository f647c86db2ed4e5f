"""Schema-driven fuzzing of the gateway from its own /openapi.json: no input may cause a 5xx, and
every answer is one the spec documents (status, content type, body schema, headers).

Real Redis behind it; TorchServe is the stand-in that answers like the real one.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    FailureGroup,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.services.conftest import AUTH, META, Gateway
from workers.spec import JobSpec

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_no_input_causes_a_server_error_or_an_undocumented_answer(gateway: Gateway) -> None:
    job = gateway.store.create(JobSpec(model="mnist-cgan"))
    gateway.store.record_model("digits", "1", job.id, META)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", gateway.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 23
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=AUTH)
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                found = "; ".join(str(failure.title) for failure in group.exceptions)
                failures.append(f"{case.operation.label}: {response.status_code} {found}")

        exercise()
    assert not failures, failures[:5]
