"""The evidence routes conform to their OpenAPI document: schemathesis against the collector
process of `tests.openapi_rig`, the rules stated in words applied as `test_report_api_openapi`
applies them. Positive cases must be answered 2xx (or a documented 404 or 410); negative ones
refused with a documented 4xx; none with a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings

from tests.integration.test_report_api_openapi import _apply_the_rules_in_words
from tests.openapi_rig import ADMIN, operations, sends_what_it_says

OPERATIONS = ["GET /api/v1/evidence-key", "GET /api/v1/slas/{sla}/evidence"]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
CASES = [(label, POSITIVE) for label in OPERATIONS] + [(OPERATIONS[1], NEGATIVE)]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=str)
def test_every_evidence_operation_conforms_to_the_document(
    api_schema: schemathesis.schemas.BaseSchema, label: str, mode: schemathesis.GenerationMode
) -> None:
    found = operations(api_schema)
    assert set(OPERATIONS) <= set(found)

    @given(case=found[label].as_strategy(generation_mode=mode))
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        assume(sends_what_it_says(case))
        if mode is POSITIVE:
            _apply_the_rules_in_words(case)
        response = case.call(headers={"Authorization": f"Bearer {ADMIN}"})
        if mode is POSITIVE and response.status_code == 410:
            # A period whose raw samples are pruned and that has no kept bundle: documented.
            assert "410" in found[label].definition.raw["responses"]
            assert "pruned" in response.json()["error"]
            return
        case.validate_response(response, headers={"Authorization": f"Bearer {ADMIN}"})

    conforms()
