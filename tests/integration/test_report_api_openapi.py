"""The report and maintenance routes conform to their OpenAPI document: schemathesis against a
collector process with SLAs, customers and data (`tests.openapi_rig`).

Positive cases must be accepted (2xx, or 404 for an SLA or window id that does not exist);
rules the document states only in words (from and to go together, end after start, SLA ids that
exist, days and ISO weeks the calendar has) are applied to the generated case before it is sent, as `test_openapi` stamps `ts`.
Negative cases must be refused with a documented 4xx. No answer may be a 5xx.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings

from tests.openapi_rig import ADMIN, SLAS, operations, sends_what_it_says

OPERATIONS = [
    "GET /api/v1/slas",
    "GET /api/v1/slas/{sla}/report",
    "GET /api/v1/incidents",
    "GET /api/v1/maintenance",
    "POST /api/v1/maintenance",
    "DELETE /api/v1/maintenance/{id}",
    "GET /api/v1/credits",
    "GET /api/v1/audit",
]
WITH_INPUT = OPERATIONS[1:]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
CASES = [(label, POSITIVE) for label in OPERATIONS] + [(label, NEGATIVE) for label in WITH_INPUT]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=str)
def test_every_report_operation_conforms_to_the_document(
    api_schema: schemathesis.schemas.BaseSchema, label: str, mode: schemathesis.GenerationMode
) -> None:
    found = operations(api_schema)
    assert set(OPERATIONS) <= set(found)

    @given(case=found[label].as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        assume(sends_what_it_says(case))
        if mode is POSITIVE:
            _apply_the_rules_in_words(case)
        case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"})

    conforms()


def _apply_the_rules_in_words(case: schemathesis.Case) -> None:
    query: dict[str, Any] | None = case.query
    if isinstance(query, dict) and isinstance(query.get("period"), str):
        # Only days and weeks the calendar has: the 28th and week 52 exist in every month/year.
        period = query["period"]
        if period.startswith("1970"):  # local 1970-01 of a zone east of UTC starts in 1969
            period = query["period"] = "2026" + period[4:]
        if len(period) == 10 and period[-2:] > "28":
            query["period"] = period[:-2] + "28"
        elif "w" in period.lower() and period[-2:] > "52":
            query["period"] = period[:-2] + "52"
    if isinstance(query, dict):
        if "from" in query or "to" in query:
            query.pop("period", None)
            query["from"], query["to"] = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00+01:00"
        if isinstance(query.get("sla"), str) and len(query["sla"]) % 2:
            query["sla"] = SLAS[0]
    path = case.path_parameters
    if isinstance(path, dict) and "sla" in path and len(path["sla"]) % 2:
        path["sla"] = SLAS[1]
    body = case.body
    if isinstance(body, dict) and "start" in body:
        body.pop("sla", None)
        body["slas"] = list(SLAS)
        body["start"], body["end"] = "2026-11-03T02:00:00Z", "2026-11-03T02:30:00-00:00"
        if body.get("kind") == "exclusion":  # an exclusion has a category and a reason
            body["category"] = body.get("category") or "customer"
            body["reason"] = "caused by the customer"
        else:  # maintenance has no category
            body.pop("category", None)
