"""The status routes conform to their OpenAPI document: schemathesis against a collector
process with a public and a private customer and an hour of data.

Positive cases must be answered 200 (or 404 for a customer id that does not exist, or 401 for
the private page without a token); negative ones refused with a documented 4xx; never a 5xx.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support import free_port, running_collector

ADMIN = "admin-token-0123456789"
AGENT = "eu1-token-0123456789ab"
CUSTOMERS = ("acme", "globex")
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


@pytest.fixture(scope="module")
def collector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("status-openapi")
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
    - {{id: acme, name: ACME, public_status: true}}
    - {{id: globex, name: Globex, token: globex-token-0123456789}}
slas:
  - {{id: acme-web, customer: acme, checks: [web], objective: 99.9, timezone: Europe/Paris,
      maintenance: [{{every: day, at: "03:00", duration: 10m, reason: nightly}}]}}
  - {{id: acme-db, customer: acme, checks: [web, db], objective: 99.5, min_downtime: 2m}}
  - {{id: globex-api, customer: globex, checks: [db], objective: 99.0}}
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
        {"check": check, "ts": start + 60 * i, "ok": i % 13 != 0, "latency_ms": 50.0,
         "interval_s": 60, "error": None if i % 13 else "<b>HTTP 500</b>"}
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


@pytest.mark.parametrize(("label", "mode", "token"), CASES, ids=str)
def test_every_status_operation_conforms_to_the_document(
    api_schema: schemathesis.schemas.BaseSchema,
    label: str,
    mode: schemathesis.GenerationMode,
    token: str | None,
) -> None:
    found = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        found[operation.label] = operation
    assert set(OPERATIONS) <= set(found)
    seen: set[int] = set()

    @given(case=found[label].as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        path = case.path_parameters
        if mode is POSITIVE and isinstance(path, dict) and len(path.get("customer", "")) % 2:
            path["customer"] = CUSTOMERS[len(path["customer"]) % 4 // 2]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call_and_validate(headers=headers)
        seen.add(response.status_code)
        if mode is NEGATIVE:
            assert response.status_code == 404

    conforms()
    if mode is POSITIVE:
        assert 200 in seen  # the existing customers were asked for
