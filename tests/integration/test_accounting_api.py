"""Exclusions after the fact, the audit log and credits as money (CONTRACT §7) through the real
collector app and SQLite file, on the day of `test_report_api` (2026-11-03: DOWN 10:00–10:10,
no data 20:01–21:00; now 2026-11-10 12:00)."""

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
from tests.integration.test_report_api import (
    ACME,
    ADMIN,
    CONFIG,
    NOW,
    Clock,
    auth,
    declare,
    get,
    push_day,
    report,
)

FEES = CONFIG.replace(
    "    latency: {percentile: 95, objective: 250ms}\n",
    "    latency: {percentile: 95, objective: 250ms}\n"
    "    monthly_fee: {amount: 450.00, currency: EUR}\n",
).replace(
    "    objective: 99.5\n",
    "    objective: 99.5\n    monthly_fee: {amount: 100000, currency: JPY}\n",
)
CUSTOMER_OUTAGE = {
    "sla": "acme-web",
    "kind": "exclusion",
    "category": "customer",
    "reason": "DNS change by the customer",
    "start": "2026-11-03T10:00:00Z",
    "end": "2026-11-03T10:10:00Z",
}


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], tmp_path: Path) -> TestClient:
    config = parse_config(FEES, base_dir=tmp_path, process="collector")
    return await aiohttp_client(Collector(config, clock=Clock(NOW)).app)


# --------------------------------------------------------------------------------- exclusions


async def test_an_exclusion_counts_as_maintenance_and_is_listed_apart(client: TestClient) -> None:
    await push_day(client)
    before = await report(client, period="2026-11-03")
    assert (before["down_s"], len(before["incidents"])) == (600.0, 1)
    status, created = await declare(client, CUSTOMER_OUTAGE)
    assert status == 201, created
    assert (created["kind"], created["category"]) == ("exclusion", "customer")
    after = await report(client, period="2026-11-03")
    assert (after["down_s"], after["maintenance_s"], after["incidents"]) == (0.0, 600.0, [])
    assert after["up_s"] == before["up_s"]
    assert after["maintenance"] == []
    [excluded] = after["exclusions"]
    assert (excluded["reason"], excluded["category"], excluded["kind"]) == (
        "DNS change by the customer",
        "customer",
        "exclusion",
    )
    assert (after["availability"], after["credit_percent"]) == (100.0, 0)
    status, page = await get(client, "/api/v1/slas/acme-web/report", period="2026-11-03",
                             format="html")  # fmt: skip
    assert status == 200
    assert "excluded: customer-caused — DNS change by the customer" in page
    assert "Time excluded after the fact by the terms of the agreement" in page


async def test_the_status_page_says_what_was_excluded_and_why(client: TestClient) -> None:
    await push_day(client)
    assert (await declare(client, CUSTOMER_OUTAGE))[0] == 201
    response = await client.get("/status/acme", headers=auth(ACME))
    assert response.status == 200
    page = await response.text()
    assert "excluded: customer-caused — DNS change by the customer" in page
    status, data = await get(client, "/api/v1/status/acme", ACME)
    assert status == 200, data
    [web] = [sla for sla in data["slas"] if sla["id"] == "acme-web"]
    assert web["exclusions"] == [
        {
            "start": "2026-11-03T10:00:00Z",
            "end": "2026-11-03T10:10:00Z",
            "category": "customer",
            "reason": "DNS change by the customer",
            "text": "excluded: customer-caused — DNS change by the customer",
        }
    ]
    assert data["maintenance"] == []  # an exclusion is no upkeep


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"reason": None}, {"reason"}),
        ({"reason": "  "}, {"reason"}),
        ({"category": None}, {"category"}),
        ({"category": "weather"}, {"category"}),
        ({"kind": "outage"}, {"kind"}),
        ({"kind": "maintenance"}, {"category"}),
        ({"category": None, "reason": ""}, {"category", "reason"}),
        ({"reason": 5}, {"reason"}),
    ],
)
async def test_a_bad_exclusion_is_refused_whole_naming_each_field(
    client: TestClient, changes: dict[str, Any], fields: set[str]
) -> None:
    body = {k: v for k, v in {**CUSTOMER_OUTAGE, **changes}.items() if v is not None}
    status, answer = await declare(client, body)
    assert status == 400, answer
    assert sorted(d["field"] for d in answer["details"]) == sorted(fields)
    assert (await get(client, "/api/v1/audit"))[1] == {"audit": []}
    assert (await get(client, "/api/v1/maintenance"))[1] == {"maintenance": []}


async def test_only_the_admin_declares_exclusions(client: TestClient) -> None:
    status, _ = await declare(client, CUSTOMER_OUTAGE, token=ACME)
    assert status == 403


# -------------------------------------------------------------------------------------- audit


async def test_every_declaration_and_deletion_is_in_the_audit_log(client: TestClient) -> None:
    status, excluded = await declare(client, CUSTOMER_OUTAGE)
    assert status == 201
    status, planned = await declare(
        client,
        {"slas": ["acme-web", "globex-api"], "start": "2026-11-12T02:00:00Z",
         "end": "2026-11-12T03:00:00Z", "reason": "kernel upgrade"},
    )  # fmt: skip
    assert status == 201
    deleted = await client.delete(f"/api/v1/maintenance/{excluded['id']}", headers=auth(ADMIN))
    assert deleted.status == 204
    response = await client.get("/api/v1/audit", headers=auth(ADMIN))
    assert response.status == 200
    text = await response.text()
    assert ADMIN not in text
    log = (await response.json())["audit"]
    assert [(e["action"], e["window"]["id"]) for e in log] == [
        ("delete", excluded["id"]),
        ("declare", planned["id"]),
        ("declare", excluded["id"]),
    ]
    assert all(e["time"] == "2026-11-10T12:00:00Z" for e in log)
    assert all(e["principal"] == {"role": "admin", "name": "admin"} for e in log)
    assert log[0]["window"] == {
        "id": excluded["id"], "kind": "exclusion", "category": "customer",
        "slas": ["acme-web"], "start": "2026-11-03T10:00:00Z", "end": "2026-11-03T10:10:00Z",
        "reason": "DNS change by the customer", "created": "2026-11-10T12:00:00Z",
    }  # fmt: skip
    by_sla = (await get(client, "/api/v1/audit", sla="globex-api"))[1]["audit"]
    assert [e["window"]["id"] for e in by_sla] == [planned["id"]]
    assert len((await get(client, "/api/v1/audit", limit="1"))[1]["audit"]) == 1


@pytest.mark.parametrize(
    ("token", "query", "status"),
    [
        (ACME, {}, 403),
        ("wrong-token-0123456789", {}, 401),
        (ADMIN, {"limit": "0"}, 400),
        (ADMIN, {"limit": "x"}, 400),
        (ADMIN, {"sla": "nope"}, 404),
        (ADMIN, {"slaa": "acme-web"}, 400),
    ],
)
async def test_the_audit_log_is_the_admins_and_asks_clearly(
    client: TestClient, token: str, query: dict[str, str], status: int
) -> None:
    answer_status, answer = await get(client, "/api/v1/audit", token, **query)
    assert answer_status == status
    assert "error" in answer


# ------------------------------------------------------------------------------------ credits


async def test_credits_of_a_closed_day_in_money(client: TestClient) -> None:
    """The day's availability 82,260 / 82,860 = 99.276 %: below 99.9, the 10 % tier of
    acme-web: a day of November is 1/30 of 450.00 EUR, so 1.50 EUR. acme-platform has no
    credit tiers (0 JPY); globex-api no fee (null)."""
    await push_day(client)
    status, answer = await get(client, "/api/v1/credits", period="2026-11-03")
    assert status == 200, answer
    assert answer["period"] == "2026-11-03"
    by_sla = {c["sla"]: c for c in answer["credits"]}
    assert by_sla["acme-web"] == {
        "customer": "acme", "sla": "acme-web", "availability": 100 * 82260 / 82860,
        "verdict": "breached", "credit_percent": 10, "credit_amount": 1.5, "currency": "EUR",
    }  # fmt: skip
    assert (by_sla["acme-platform"]["credit_amount"], by_sla["acme-platform"]["currency"]) == (
        0,
        "JPY",
    )
    assert (by_sla["globex-api"]["credit_amount"], by_sla["globex-api"]["currency"]) == (
        None,
        None,
    )
    response = await client.get(
        "/api/v1/credits", params={"period": "2026-11-03", "format": "csv"}, headers=auth(ADMIN)
    )
    assert response.status == 200
    assert response.content_type == "text/csv"
    rows = {r["sla"]: r for r in csv.DictReader(io.StringIO(await response.text()))}
    assert rows["acme-web"]["credit_amount"] == "1.50"
    assert rows["acme-platform"]["credit_amount"] == "0"
    assert (rows["globex-api"]["credit_amount"], rows["globex-api"]["currency"]) == ("", "")
    assert rows["acme-web"]["period"] == "2026-11-03"


async def test_the_report_and_summaries_carry_the_amount(client: TestClient) -> None:
    await push_day(client)
    day = await report(client, period="2026-11-03")
    assert (day["credit_percent"], day["credit_amount"], day["currency"]) == (10, 1.5, "EUR")


@pytest.mark.parametrize(
    ("token", "query", "status"),
    [
        (ACME, {"period": "2026-11"}, 403),
        (ADMIN, {}, 400),
        (ADMIN, {"period": "November"}, 400),
        (ADMIN, {"period": "2026-11", "format": "xml"}, 400),
    ],
)
async def test_credits_are_the_admins_and_ask_for_a_period(
    client: TestClient, token: str, query: dict[str, str], status: int
) -> None:
    answer_status, answer = await get(client, "/api/v1/credits", token, **query)
    assert answer_status == status
    assert "error" in answer
