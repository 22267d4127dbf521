"""Issue 14, "verdicts that frighten customers for nothing" (CONTRACT §4.8), through the real
collector app: samples pushed through the ingest API into a real SQLite file, every place a
customer or a tool reads the current period checked over HTTP.

The scene: monitoring of ACME's website began on 1 November 2026 at 10:00 UTC, one agent probing
every 30 s. The target failed from 10:01 to 10:03 (one 2-minute outage), and it is now 10:05.
Availability so far is 60 % (3 minutes up of 5 measured), below every credit tier; yet 30 days
of November are to come, and 95 % of the error budget is left. Before §4.8 the status page read
"60 % · objective breached" beside "error budget left 95 %" and the report "Objective breached —
Service credit owed 100 %". Now: on track, no credit, and the time it all stands on is said.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.integration.test_status_page import cells
from tests.support import auth, ms

ADMIN = "admin-token-0123456789"
AGENT = "eu1-token-0123456789ab"
ACME = "acme-token-0123456789a"

CONFIG = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {AGENT}}}
  customers:
    - {{id: acme, name: ACME Corp, token: {ACME}, public_status: true}}
slas:
  - id: acme-web
    customer: acme
    name: ACME website
    checks: [web]
    objective: 99.9
    credits:
      - {{below: 99.9, percent: 10}}
      - {{below: 99.0, percent: 25}}
      - {{below: 95.0, percent: 100}}
"""

S = 1000
START = ms("2026-11-01T10:00:00Z")
NOW = START + 300 * S
FUTURE_S = 30 * 86_400 - 10 * 3600 - 300
"""The rest of November after 10:05."""


class Clock:
    def __call__(self) -> float:
        return NOW / 1000


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], tmp_path: Path) -> TestClient:
    config = parse_config(CONFIG, base_dir=tmp_path, process="collector")
    client = await aiohttp_client(Collector(config, clock=Clock()).app)
    samples = [
        {
            "check": "web", "ts": (START + i * 30 * S) / 1000, "ok": not 2 <= i < 6,
            "latency_ms": 80.0, "interval_s": 30, "error": None if not 2 <= i < 6 else "HTTP 503",
        }
        for i in range(10)
    ]  # fmt: skip
    response = await client.post(
        "/api/v1/samples", json={"agent": "eu-1", "samples": samples}, headers=auth(AGENT)
    )
    assert response.status == 200, await response.text()
    return client


async def read(client: TestClient, path: str, token: str | None = ACME, **query: str) -> Any:
    response = await client.get(path, params=query, headers=auth(token) if token else {})
    assert response.status == 200, await response.text()
    if response.content_type == "application/json":
        return await response.json()
    return await response.text()


def assert_on_track(figures: dict[str, Any]) -> None:
    assert (figures["availability"], figures["met"]) == (60.0, False)
    assert (figures["complete"], figures["future_s"]) == (False, FUTURE_S)
    assert figures["projected_availability"] == 100 * (180 + FUTURE_S) / (300 + FUTURE_S)
    assert (figures["verdict"], figures["credit_percent"]) == ("on_track", 0)


async def test_the_report_and_the_summary_say_on_track_and_owe_nothing(
    client: TestClient,
) -> None:
    report = await read(client, "/api/v1/slas/acme-web/report")
    assert_on_track(report)
    assert report["eligible_s"] == 300.0
    [summary] = (await read(client, "/api/v1/slas"))["slas"]
    assert_on_track(summary)
    [row] = csv.DictReader(io.StringIO(await read(client, "/api/v1/slas/acme-web/report",
                                                  format="csv")))  # fmt: skip
    assert (row["verdict"], row["complete"], row["credit_percent"]) == ("on_track", "false", "0")


async def test_the_status_page_says_on_track_over_five_minutes_measured(
    client: TestClient,
) -> None:
    [status] = (await read(client, "/api/v1/status/acme", token=None))["slas"]
    assert_on_track(status)
    assert status["eligible_s"] == 300.0
    assert status["budget_note"] == (
        "The error budget is 42 min 36 s, not the 43 min 12 s of the whole period: monitoring "
        "began 2026-11-01 10:00 UTC, and the 10 h before it are unknown and left out, as time "
        "without data is, with their share of the budget."
    )
    html = await read(client, "/status/acme", token=None)
    assert 'data-verdict="on_track">on track<' in html
    assert "objective breached" not in html and 'data-verdict="breached"' not in html
    assert '<div class="measured">over 5 min measured; <data class="projected"' in html
    assert "42 min 36 s, not the 43 min 12 s of the whole period" in html
    assert ">60 % uptime (5 min measured)<" in html
    # Today so far is 60 %, but at best 99.86 %: a day below its objective, not an outage.
    today = status["days"][-1]
    assert (today["level"], today["partial"], today["eligible_s"]) == ("degraded", True, 300.0)
    assert cells(html, "acme-web")[-1] == (
        "degraded",
        "Sun 1 Nov 2026: 60 % available over 5 min measured, 2 min down, no data for 10 h "
        "(today so far)",
    )


async def test_the_html_report_owes_no_credit(client: TestClient) -> None:
    html = await read(client, "/api/v1/slas/acme-web/report", format="html")
    assert 'data-verdict="on_track">On track<' in html
    assert "Service credit owed" not in html and "Service credit certain so far" in html
    assert '<data id="credit" value="0">0 %</data>' in html
    assert 'id="measured">over 5 min measured<' in html
    assert "The check is probed from one location (eu-1)" in html
    assert "several locations" not in html


async def test_the_metrics_carry_the_verdict_and_the_projection(client: TestClient) -> None:
    text = await read(client, "/metrics", token=None)
    lines = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("slawatch_sla_")
    )
    assert float(lines['slawatch_sla_availability_percent{sla="acme-web"}']) == 60.0
    assert float(lines['slawatch_sla_eligible_seconds{sla="acme-web"}']) == 300.0
    assert float(lines['slawatch_sla_projected_availability_percent{sla="acme-web"}']) == 100 * (
        180 + FUTURE_S
    ) / (300 + FUTURE_S)
    verdicts = {
        key.split('verdict="')[1].rstrip('"}'): float(value)
        for key, value in lines.items()
        if key.startswith("slawatch_sla_verdict{")
    }
    assert verdicts == {"met": 0, "on_track": 1, "at_risk": 0, "breached": 0, "no_data": 0}
