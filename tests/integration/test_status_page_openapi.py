"""The status routes conform to their OpenAPI document: schemathesis against a collector
process with a public and a private customer and an hour of data (`tests.openapi_rig`).

Positive cases must be answered 200 (or 404 for a customer id that does not exist, or 401 for
the private page without a token); negative ones refused with a documented 4xx; never a 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings

from tests.openapi_rig import ADMIN, CUSTOMERS, operations, sends_what_it_says

OPERATIONS = [
    "GET /status/{customer}",
    "GET /status/{customer}.json",
    "GET /api/v1/status/{customer}",
]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
CASES = [
    (label, mode, token)
    for label in OPERATIONS
    for mode in (POSITIVE, NEGATIVE)
    for token in (ADMIN, None)
]


@pytest.mark.parametrize(("label", "mode", "token"), CASES, ids=str)
def test_every_status_operation_conforms_to_the_document(
    api_schema: schemathesis.schemas.BaseSchema,
    label: str,
    mode: schemathesis.GenerationMode,
    token: str | None,
) -> None:
    found = operations(api_schema)
    assert set(OPERATIONS) <= set(found)
    seen: set[int] = set()

    @given(case=found[label].as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        assume(sends_what_it_says(case))
        path = case.path_parameters
        if mode is POSITIVE and isinstance(path, dict) and len(path.get("customer", "")) % 2:
            path["customer"] = CUSTOMERS[len(path["customer"]) % 4 // 2]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call_and_validate(headers=headers)
        seen.add(response.status_code)
        if mode is NEGATIVE:  # no such customer, or a link that opens nothing
            links_sent = set(case.query or {}) & {"key", "expires", "signature"}
            assert response.status_code in ((401, 404) if links_sent else (404,))

    conforms()
    if mode is POSITIVE:
        assert 200 in seen  # the existing customers were asked for
