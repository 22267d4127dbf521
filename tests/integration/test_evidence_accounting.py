"""Evidence bundles of an SLA with accounting (CONTRACT §7): service hours 8×5, a holiday, an
exclusion after the fact and a monthly fee, verified by recomputing them; on the day of
`test_report_api` (2026-11-03, a Tuesday: DOWN 10:00–10:10; now 2026-11-10 12:00)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.collector.evidence.keys import load_or_create
from slawatch.collector.evidence.verify import VerificationFailed, verify
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.integration.test_evidence import members, rezip, write
from tests.integration.test_report_api import ADMIN, CONFIG, NOW, Clock, declare, push_day
from tests.support import auth

EIGHT_BY_FIVE = CONFIG.replace(
    "    latency: {percentile: 95, objective: 250ms}\n",
    "    latency: {percentile: 95, objective: 250ms}\n"
    '    hours: [{days: mon-fri, from: "08:00", to: "17:00"}]\n'
    "    holidays: [2026-11-02]\n"
    "    monthly_fee: {amount: 450.00, currency: EUR}\n",
)
EXCLUSION = {
    "sla": "acme-web",
    "kind": "exclusion",
    "category": "customer",
    "reason": "DNS change by the customer",
    "start": "2026-11-03T10:00:00Z",
    "end": "2026-11-03T10:05:00Z",
}
WEEK_S = 7 * 86_400
SERVICE_S = 4 * 9 * 3600  # Tuesday to Friday 08:00–17:00; Monday is the holiday


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], tmp_path: Path) -> TestClient:
    config = parse_config(EIGHT_BY_FIVE, base_dir=tmp_path, process="collector")
    return await aiohttp_client(Collector(config, clock=Clock(NOW)).app)


async def week_bundle(client: TestClient) -> bytes:
    await push_day(client)
    status, created = await declare(client, EXCLUSION)
    assert status == 201, created
    response = await client.get(
        "/api/v1/slas/acme-web/evidence?period=2026-W45", headers=auth(ADMIN)
    )
    assert response.status == 200, await response.text()
    return await response.read()


async def test_a_bundle_of_an_8x5_sla_with_a_holiday_and_an_exclusion_verifies(
    client: TestClient, tmp_path: Path
) -> None:
    files = members(await week_bundle(client))
    report = json.loads(files["report.json"])
    assert report["outside_hours_s"] == WEEK_S - SERVICE_S
    assert (report["maintenance_s"], report["down_s"]) == (300.0, 300.0)
    assert report["credit_percent"] == 10 and report["currency"] == "EUR"
    assert report["credit_amount"] is not None and report["credit_amount"] > 0
    [listed] = report["exclusions"]
    assert (listed["category"], listed["reason"]) == ("customer", "DNS change by the customer")
    windows = json.loads(files["windows.json"])
    assert windows["maintenance"] == []
    [excluded] = windows["exclusions"]
    assert (excluded["kind"], excluded["category"], excluded["reason"]) == (
        "exclusion",
        "customer",
        "DNS change by the customer",
    )
    assert windows["holidays"] == ["2026-11-02"]
    assert windows["hours"] == [{"days": [0, 1, 2, 3, 4], "start_s": 28_800, "end_s": 61_200}]
    sla = json.loads(files["sla.json"])
    assert sla["monthly_fee"] == {"amount": "450.00", "currency": "EUR"}
    assert (sla["hours"], sla["holidays"]) == (windows["hours"], windows["holidays"])
    key = load_or_create(tmp_path / "data" / "collector.db.evidence-key")
    result = verify(write(tmp_path, rezip(files)), key.public)
    assert (result.sla, result.period) == ("acme-web", "2026-W45")


async def test_a_changed_exclusion_window_fails_naming_windows_json(
    client: TestClient, tmp_path: Path
) -> None:
    files = members(await week_bundle(client))
    key = load_or_create(tmp_path / "data" / "collector.db.evidence-key")
    windows = json.loads(files["windows.json"])
    windows["exclusions"][0]["end_ms"] += 300_000  # the whole outage excluded
    files["windows.json"] = json.dumps(windows).encode()
    with pytest.raises(VerificationFailed) as failure:
        verify(write(tmp_path, rezip(files)), key.public)
    assert str(failure.value).startswith("windows.json: its SHA-256 differs"), failure.value
    # With the collector's key (what an insider has), hashed and signed again: the
    # recomputed report no longer matches report.json, and the failure names windows.json.
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["windows.json"] = {
        "sha256": hashlib.sha256(files["windows.json"]).hexdigest(),
        "bytes": len(files["windows.json"]),
    }
    files["manifest.json"] = json.dumps(manifest).encode()
    files["manifest.sig"] = key.sign(files["manifest.json"])
    with pytest.raises(VerificationFailed) as failure:
        verify(write(tmp_path, rezip(files), "signed.zip"), key.public)
    message = str(failure.value)
    assert message.startswith("report.json: "), message
    assert "windows.json" in message


async def test_hours_in_windows_json_unlike_sla_json_fail_naming_windows_json(
    client: TestClient, tmp_path: Path
) -> None:
    files = members(await week_bundle(client))
    key = load_or_create(tmp_path / "data" / "collector.db.evidence-key")
    windows = json.loads(files["windows.json"])
    windows["holidays"] = []
    files["windows.json"] = json.dumps(windows).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["windows.json"] = {
        "sha256": hashlib.sha256(files["windows.json"]).hexdigest(),
        "bytes": len(files["windows.json"]),
    }
    files["manifest.json"] = json.dumps(manifest).encode()
    files["manifest.sig"] = key.sign(files["manifest.json"])
    with pytest.raises(VerificationFailed) as failure:
        verify(write(tmp_path, rezip(files)), key.public)
    assert str(failure.value) == "windows.json: holidays: differ from sla.json's"
