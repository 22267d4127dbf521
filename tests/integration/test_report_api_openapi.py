"""The report and maintenance routes conform to their OpenAPI document: schemathesis against a
collector process with SLAs, customers and data.

Positive cases must be accepted (2xx, or 404 for an SLA or window id that does not exist);
rules the document states only in words (from and to go together, end after start, SLA ids that
exist, days and ISO weeks the calendar has) are applied to the generated case before it is sent, as `test_openapi` stamps `ts`.
Negative cases must be refused with a documented 4xx. No answer may be a 5xx.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support import (
    free_port,
    running_collector,
)

ADMIN = "admin-token-0123456789"
AGENT = "eu1-token-0123456789ab"
SLAS = ("acme-web", "acme-db")

OPERATIONS = [
    "GET /api/v1/slas",
    "GET /api/v1/slas/{sla}/report",
    "GET /api/v1/incidents",
    "GET /api/v1/maintenance",
    "POST /api/v1/maintenance",
    "DELETE /api/v1/maintenance/{id}",
]
WITH_INPUT = OPERATIONS[1:]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
CASES = [(label, POSITIVE) for label in OPERATIONS] + [(label, NEGATIVE) for label in WITH_INPUT]


@pytest.fixture(scope="module")
def collector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("report-openapi")
    port = free_port()
    config = folder / "collector.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {AGENT}}}
  customers:
    - {{id: acme, name: ACME}}
slas:
  - {{id: acme-web, customer: acme, checks: [web], objective: 99.9,
      latency: {{objective: 300ms}}, maintenance: [{{every: day, at: "03:00", duration: 10m}}]}}
  - {{id: acme-db, customer: acme, checks: [web, db], objective: 99.5, min_downtime: 2m}}
""",
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{port}"
    with running_collector(config, url):
        _push_an_hour(url)
        yield url


def _push_an_hour(url: str) -> None:
    start = time.time() - 3600
    samples = [
        {"check": check, "ts": start + 60 * i, "ok": i % 17 != 0, "latency_ms": 100.0 + i,
         "interval_s": 60, "error": None if i % 17 else "HTTP 500"}
        for i in range(60)
        for check in ("web", "db")
    ]  # fmt: skip
    request = urllib.request.Request(
        f"{url}/api/v1/samples",
        data=json.dumps({"agent": "eu-1", "samples": samples}).encode(),
        headers={"Authorization": f"Bearer {AGENT}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def api_schema(collector_url: str) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{collector_url}/api/v1/openapi.json")


@pytest.mark.parametrize(("label", "mode"), CASES, ids=str)
def test_every_report_operation_conforms_to_the_document(
    api_schema: schemathesis.schemas.BaseSchema, label: str, mode: schemathesis.GenerationMode
) -> None:
    found = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        found[operation.label] = operation
    assert set(OPERATIONS) <= set(found)

    @given(case=found[label].as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        if mode is POSITIVE:
            _apply_the_rules_in_words(case)
        case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"})

    conforms()


def _apply_the_rules_in_words(case: schemathesis.Case) -> None:
    query: dict[str, Any] | None = case.query
    if isinstance(query, dict) and isinstance(query.get("period"), str):
        # Only days and weeks the calendar has: the 28th and week 52 exist in every month/year.
        period = query["period"]
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
