"""The share-link and badge routes conform to their OpenAPI document: schemathesis against a
collector process with a public and a private customer and an hour of data
(`tests.openapi_rig`).

With the admin token, generated requests get a documented answer: 201 for a new link (the
positive cases made to name an existing customer and a future expiry),
200 for the list, 204 or 404 for a revocation, 200 or 404 for a badge; never a 5xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings

from tests.openapi_rig import ADMIN, CUSTOMERS, operations, sends_what_it_says

ALLOWED = {
    "POST /api/v1/share-links": {201},
    "GET /api/v1/share-links": {200},
    "DELETE /api/v1/share-links/{id}": {204, 404},
    "GET /badge/{sla}/availability.svg": {200, 401, 404},
    "GET /badge/{sla}/status.svg": {200, 401, 404},
}
SLAS = ("acme-web", "acme-db", "globex-api")
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE


CASES = [(label, POSITIVE) for label in ALLOWED] + [
    (label, NEGATIVE) for label in ALLOWED if label != "GET /api/v1/share-links"
]
"""Negative cases only where there is an input to make invalid."""


@pytest.mark.parametrize(("label", "mode"), CASES, ids=str)
def test_every_pages_operation_conforms_to_the_document(
    api_schema: schemathesis.schemas.BaseSchema, label: str, mode: schemathesis.GenerationMode
) -> None:
    found = operations(api_schema)
    seen: set[int] = set()

    @given(case=found[label].as_strategy(generation_mode=mode))
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        assume(sends_what_it_says(case))
        path = case.path_parameters
        if mode is POSITIVE and isinstance(path, dict) and "sla" in path and len(path["sla"]) % 2:
            path["sla"] = SLAS[len(path["sla"]) % 3]
        if mode is POSITIVE and label.startswith("POST") and isinstance(case.body, dict):
            tomorrow = datetime.now(UTC) + timedelta(days=1)
            case.body["customer"] = CUSTOMERS[len(str(case.body.get("customer"))) % 2]
            case.body["expires"] = tomorrow.isoformat(timespec="seconds")
        response = case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"})
        seen.add(response.status_code)
        assert response.status_code < 500
        if mode is POSITIVE:
            assert response.status_code in ALLOWED[label]
        else:
            assert 400 <= response.status_code < 500

    conforms()
    if mode is POSITIVE and label.startswith("GET"):
        assert 200 in seen
