"""Customer status pages through the real collector app (CONTRACT §3 `/status/{customer}`):
samples pushed through the ingest API into a real SQLite file, pages and their JSON twin read
back over HTTP, every figure checked against `slawatch.collector.reports.build`.

The scene, collector clock at 2026-11-10 12:00 UTC, probes every 5 minutes since 20 days:
- ACME (public page, name with markup): SLA `acme-web` (check `web`, eu-1, us-1 and ap-1, quorum
  majority, Europe/Paris) and `acme-db` (check `db`, eu-1 only, UTC, a nightly config
  maintenance at 02:00 for 1 h). On 2026-11-03 10:00–10:30 UTC eu-1 and us-1 see `web` fail
  (an error with markup, URL credentials and a query token in it): one 30-minute incident, an
  outage day (20 times the objective's allowance). On 2026-11-08 12:00–12:20 `db` times out: a
  day below its objective, within 10 times its allowance. On 2026-11-05 (UTC) no agent sends
  anything.
- Globex (private page): SLA `globex-api`, all up.
- Initech: a customer without SLAs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.collector.engine.periods import Window
from slawatch.collector.main import Collector
from slawatch.collector.reports.build import report_window, sla_report
from slawatch.collector.status.cache import FRESH_S
from slawatch.collector.status.view import Redactor, plain_error
from slawatch.config.loader import parse_config
from tests.support import auth, ms

ADMIN = "admin-token-0123456789"
AGENT_TOKENS = {
    "eu-1": "eu1-token-0123456789ab",
    "us-1": "us1-token-0123456789ab",
    "ap-1": "ap1-token-0123456789ab",
}
ACME = "acme-token-0123456789a"
GLOBEX = "globex-token-01234567"
INITECH = "initech-token-0123456"
URL_PASSWORD = "hunter2-url-secret"
HEADER_SECRET = "header-secret-0123456789"
QUERY_TOKEN = "query-secret-0123456789"
SECRETS = (ADMIN, ACME, GLOBEX, INITECH, URL_PASSWORD, HEADER_SECRET, QUERY_TOKEN,
           *AGENT_TOKENS.values())  # fmt: skip

CONFIG = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  provider: Example <Hosting>
  agents:
    - {{id: eu-1, token: {AGENT_TOKENS["eu-1"]}}}
    - {{id: us-1, token: {AGENT_TOKENS["us-1"]}}}
    - {{id: ap-1, token: {AGENT_TOKENS["ap-1"]}}}
  customers:
    - {{id: acme, name: ACME <Corp>, token: {ACME}, public_status: true}}
    - {{id: globex, name: Globex, token: {GLOBEX}}}
    - {{id: initech, name: Initech, token: {INITECH}}}
checks:
  - id: web
    url: https://probe:{URL_PASSWORD}@acme.example/health
    headers: {{X-Api-Key: {HEADER_SECRET}}}
  - {{id: db, type: tcp, host: db.acme.example, port: 5432}}
  - {{id: api, url: https://globex.example/api}}
slas:
  - id: acme-web
    customer: acme
    name: ACME <website>
    checks: [web]
    objective: 99.9
    timezone: Europe/Paris
  - id: acme-db
    customer: acme
    name: ACME database
    checks: [db]
    objective: 99.5
    maintenance:
      - {{every: day, at: "02:00", duration: 1h, reason: nightly backup}}
  - id: globex-api
    customer: globex
    name: Globex API
    checks: [api]
    objective: 99.0
"""

S = 1000
MIN = 60 * S
HOUR = 60 * MIN
DAY = 24 * HOUR
STEP = 5 * MIN


NOW = ms("2026-11-10T12:00:00Z")
START = NOW - 20 * DAY
OUTAGE = (ms("2026-11-03T10:00:00Z"), ms("2026-11-03T10:30:00Z"))
DB_OUTAGE = (ms("2026-11-08T12:00:00Z"), ms("2026-11-08T12:20:00Z"))
SILENT = (ms("2026-11-05T00:00:00Z"), ms("2026-11-06T00:00:00Z"))
ERROR = (
    f"<script>alert(1)</script> HTTP 503 from https://probe:{URL_PASSWORD}@acme.example/health"
    f"?token={QUERY_TOKEN} key {HEADER_SECRET}"
)


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms / 1000

    def __call__(self) -> float:
        return self.now


def sample(ts_ms: int, ok: bool, check: str, error: str = ERROR) -> dict[str, Any]:
    return {
        "check": check, "ts": ts_ms / 1000, "ok": ok, "latency_ms": 80.0 if ok else 900.0,
        "interval_s": STEP / 1000, "type": "http", "status_code": 200 if ok else 503,
        "error": None if ok else error,
    }  # fmt: skip


def scene(agent: str, until_ms: int = NOW) -> list[dict[str, Any]]:
    """One agent's samples of the module's scene, from `START` to `until_ms`."""
    found = []
    for ts in range(START, until_ms, STEP):
        if SILENT[0] <= ts < SILENT[1]:
            continue
        failing = agent in ("eu-1", "us-1") and OUTAGE[0] <= ts < OUTAGE[1]
        found.append(sample(ts, not failing, "web"))
        if agent == "eu-1":
            found.append(
                sample(ts, not DB_OUTAGE[0] <= ts < DB_OUTAGE[1], "db", "timeout after 10s")
            )
            found.append(sample(ts, True, "api"))
    return found


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def collector(tmp_path: Path, clock: Clock) -> Collector:
    return Collector(parse_config(CONFIG, base_dir=tmp_path, process="collector"), clock=clock)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], collector: Collector) -> TestClient:
    return await aiohttp_client(collector.app)


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def push(client: TestClient, agent: str, samples: list[dict[str, Any]]) -> None:
    for start in range(0, len(samples), 5000):
        body = {"agent": agent, "samples": samples[start : start + 5000]}
        response = await client.post(
            "/api/v1/samples", json=body, headers=auth(AGENT_TOKENS[agent])
        )
        assert response.status == 200, await response.text()


async def push_scene(client: TestClient, until_ms: int = NOW) -> None:
    for agent in AGENT_TOKENS:
        await push(client, agent, scene(agent, until_ms))


async def page(client: TestClient, customer: str, token: str | None = None) -> str:
    headers = {**BROWSER, **(auth(token) if token else {})}
    response = await client.get(f"/status/{customer}", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    return await response.text()


async def twin(client: TestClient, customer: str, token: str | None = None) -> dict[str, Any]:
    response = await client.get(f"/api/v1/status/{customer}", headers=auth(token) if token else {})
    assert response.status == 200, await response.text()
    return await response.json()


def cells(html: str, sla: str) -> list[tuple[str, str]]:
    """(class, aria-label) of each day cell of an SLA's bar."""
    card = re.search(
        rf'<article class="card sla" id="sla-{re.escape(sla)}".*?</article>', html, re.S
    )
    assert card, f"no card of {sla}"
    return re.findall(
        r'<li class="([a-z_]+)" role="img" title="[^"]*" aria-label="([^"]*)"', card.group(0)
    )


async def declare(client: TestClient, sla: str, start: int, end: int, reason: str) -> int:
    response = await client.post(
        "/api/v1/maintenance",
        json={"sla": sla, "start": iso(start), "end": iso(end), "reason": reason},
        headers=auth(ADMIN),
    )
    assert response.status == 201, await response.text()
    return (await response.json())["id"]


def iso(ms_: int) -> str:
    return datetime.fromtimestamp(ms_ / 1000, UTC).isoformat().replace("+00:00", "Z")


def banner(html: str) -> str:
    found = re.search(r'<strong id="overall" data-status="([a-z_]+)">([^<]*)</strong>', html)
    assert found, "no banner"
    return found.group(1)


def state_of(html: str, sla: str) -> str:
    found = re.search(rf'id="sla-{re.escape(sla)}".*?data-state="([a-z_]+)"', html, re.S)
    assert found, f"no state of {sla}"
    return found.group(1)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# ------------------------------------------------------------------------------------ access


async def test_a_public_page_needs_no_token_and_is_self_contained(client: TestClient) -> None:
    await push_scene(client)
    response = await client.get("/status/acme")  # an API client's Accept: */*
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = await response.text()
    assert '<h1 id="customer">ACME &lt;Corp&gt;</h1>' in html
    assert '<div class="provider" id="provider">Example &lt;Hosting&gt;</div>' in html
    assert "<h3>ACME &lt;website&gt;</h3>" in html and "<h3>ACME database</h3>" in html
    assert "Globex" not in html
    assert banner(html) == "operational" and "All systems operational" in html
    assert '<meta http-equiv="refresh" content="60">' in html
    assert "prefers-color-scheme: dark" in html and 'name="viewport"' in html
    for external in ("<script", "src=", "@import", "url(", "<link"):
        assert external not in html
    assert 'class="report"' not in html  # reports need a token: no link on an anonymous view
    assert_no_secret(html)
    data = await twin(client, "acme")
    assert data == await (await client.get("/status/acme.json")).json()
    assert [s["id"] for s in data["slas"]] == ["acme-web", "acme-db"]
    assert all(s["report"] is None for s in data["slas"])


async def test_a_private_page_is_for_its_customer_and_the_admin(client: TestClient) -> None:
    await push_scene(client)
    for token in (GLOBEX, ADMIN):
        html = await page(client, "globex", token)
        link = re.search(r'<a class="report" href="([^"]+)">', html)
        assert link, "the customer and the admin get the report link"
        href = link.group(1).replace("&amp;", "&")
        assert href == "../api/v1/slas/globex-api/report?period=2026-11&format=html"
        report = await client.get(f"/status/{href}", headers=auth(token))
        assert report.status == 200 and "Globex API" in await report.text()
        assert (await twin(client, "globex", token))["slas"][0]["report"] == href[2:]
    for headers, status in (
        ({}, 401),
        (auth("not-a-known-token-0123"), 401),
        (auth(ACME), 404),  # another customer's token: as if Globex did not exist
        (auth(AGENT_TOKENS["eu-1"]), 403),
    ):
        for path in ("/status/globex", "/status/globex.json", "/api/v1/status/globex"):
            response = await client.get(path, headers=headers)
            assert response.status == status, (path, headers)
            assert response.content_type == "application/json"
            assert (await response.json())["error"]
        browser = await client.get("/status/globex", headers={**headers, **BROWSER})
        assert browser.status == status
        assert browser.content_type == "text/html"
        assert "default-src 'none'" in browser.headers["Content-Security-Policy"]
        html = await browser.text()
        assert "Globex" not in html and "<script" not in html
    unauthorized = await client.get("/status/globex", headers=BROWSER)
    assert unauthorized.headers["WWW-Authenticate"] == 'Bearer realm="slawatch"'
    assert "private" in await unauthorized.text()


async def test_a_public_page_links_reports_only_for_its_own_customer(client: TestClient) -> None:
    await push_scene(client)
    assert 'class="report"' in await page(client, "acme", ACME)
    assert 'class="report"' in await page(client, "acme", ADMIN)
    assert 'class="report"' not in await page(client, "acme", GLOBEX)
    assert 'class="report"' not in await page(client, "acme", "not-a-known-token-0123")
    assert all(s["report"] is None for s in (await twin(client, "acme", GLOBEX))["slas"])


@pytest.mark.parametrize(
    "path",
    ["/status/nobody", "/status/Nobody", "/status/acme.json.json", "/status/" + "a" * 300,
     "/status/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/api/v1/status/nobody",
     "/status/nobody.json"],
)  # fmt: skip
async def test_an_unknown_customer_is_404(client: TestClient, path: str) -> None:
    response = await client.get(path, headers=auth(ADMIN))
    assert response.status == 404
    body = await response.json()
    assert body["error"].startswith("no status page") and len(body["error"]) < 200
    browser = await client.get(path, headers=BROWSER)
    assert browser.status == 404
    html = await browser.text()
    if path.startswith("/status/"):
        assert browser.content_type == "text/html" and "Page not found" in html
    assert "<script>" not in html


# ----------------------------------------------------------------------------------- content


async def test_names_and_errors_show_as_text_and_secrets_never(client: TestClient) -> None:
    await push_scene(client)
    for token in (None, ACME, ADMIN):
        html = await page(client, "acme", token)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>" not in html
        assert "https://***@acme.example/health?token=***" in html
        assert "The server answered with an error: HTTP 503 (Service Unavailable)" in html
        assert_no_secret(html)
        data = await twin(client, "acme", token)
        (incident,) = data["slas"][0]["incidents"]
        assert incident["error"].startswith("<script>alert(1)</script> HTTP 503 from https://***@")
        assert (
            incident["summary"]
            == "The server answered with an error: HTTP 503 (Service Unavailable)"
        )
        assert_no_secret(str(data))


async def test_the_json_twin_carries_the_current_periods(client: TestClient) -> None:
    await push_scene(client)
    data = await twin(client, "acme")
    assert data["customer"] == {"id": "acme", "name": "ACME <Corp>"}
    assert data["provider"] == "Example <Hosting>"
    assert (data["status"], data["status_text"]) == ("operational", "All systems operational")
    assert data["updated"] == "2026-11-10T12:00:00Z" and data["refresh_s"] == 60
    listed = (await (await client.get("/api/v1/slas", headers=auth(ACME))).json())["slas"]
    for mine, summary in zip(data["slas"], listed, strict=True):
        for key in ("id", "name", "period", "from", "to", "as_of", "availability", "met",
                    "error_budget_s", "error_budget_remaining_s", "missing_checks", "verdict",
                    "complete", "projected_availability", "credit_percent", "eligible_s",
                    "unknown_s", "future_s"):  # fmt: skip
            assert mine[key] == summary[key], key
    web, db = data["slas"]
    # November in Paris so far (from 31 October 23:00 UTC): 30 minutes down in 8 d 13 h 05 min
    # measured (5 November had no data but for the last sample's 5 minutes), below the
    # objective so far; but the budget is 0.1 % of those and the 20 d 11 h to come, 2505.9 s,
    # of which 705.9 s (28 %) are left: on track (CONTRACT §4.8), no credit certain.
    assert (web["state"], web["met"], web["verdict"]) == ("operational", False, "on_track")
    assert (web["eligible_s"], web["future_s"], web["complete"]) == (738_300, 1_767_600, False)
    assert web["error_budget_s"] == pytest.approx(2505.9)
    assert web["error_budget_remaining_s"] == pytest.approx(web["error_budget_s"] - 1800)
    assert web["projected_availability"] == 100 * (738_300 - 1800 + 1_767_600) / 2_505_900
    assert web["credit_percent"] == 0
    assert web["budget_note"] == (
        "The error budget is 41 min 45 s, not the 43 min 12 s of the whole period: 23 h 55 min "
        "without data are unknown and left out, as time without data is, with their share of "
        "the budget."
    )
    assert (db["state"], db["met"], db["verdict"]) == ("operational", True, "on_track")
    assert db["error_budget_remaining_s"] == pytest.approx(db["error_budget_s"] - 1200)
    assert [i["run_start"] for i in web["incidents"]] == ["2026-11-03T10:00:00Z"]
    assert web["incidents"][0]["checks"] == ["web"] and web["open_incidents"] == []
    assert db["incidents"][0]["summary"] == "No answer in time"
    assert db["incidents"][0]["error"] == "timeout after 10s"


async def test_a_budget_mostly_spent_is_at_risk(client: TestClient, clock: Clock) -> None:
    """Late in November acme-db may be down 0.5 % of the month, about 212 minutes; down 180
    minutes it still meets its objective so far, with less than a quarter of its budget left."""
    now = ms("2026-11-29T12:00:00Z")
    clock.now = now / 1000
    await push_scene(client, until_ms=now - 160 * MIN)
    await push(
        client, "eu-1", [sample(ts, False, "db") for ts in range(now - 160 * MIN, now, STEP)]
    )
    db = (await twin(client, "acme"))["slas"][1]
    assert db["met"] is True and 0 < db["error_budget_remaining_ratio"] < 0.25
    assert db["verdict"] == "at_risk"
    assert 'data-verdict="at_risk">at risk<' in await page(client, "acme")


async def test_day_bars_are_the_per_day_reports(client: TestClient, collector: Collector) -> None:
    await push_scene(client)
    await declare(client, "acme-db", ms("2026-11-07T00:00:00Z"), ms("2026-11-08T00:00:00Z"), "move")
    data = await twin(client, "acme")
    html = await page(client, "acme")
    config = collector.config
    for status in data["slas"]:
        sla = config.sla(status["id"])
        assert sla is not None
        days = status["days"]
        assert len(days) == 90 and days[-1]["date"] == "2026-11-10" and days[-1]["partial"]
        for day in days:
            window, _ = report_window(sla, NOW, period=day["date"])
            report = (await sla_report(collector.store, sla, window, NOW, latency=False)).report
            assert (day["from"], day["to"]) == (iso(window.from_ms), iso(window.to_ms))
            assert day["availability"] == report.availability, day
            assert day["up_s"] == report.up_ms / 1000
            assert day["down_s"] == report.down_ms / 1000
            assert day["unknown_s"] == report.unknown_ms / 1000
            assert day["maintenance_s"] == report.maintenance_ms / 1000
        eligible = sum(d["up_s"] + d["down_s"] for d in days)
        assert status["uptime"]["availability"] == pytest.approx(
            100 * sum(d["up_s"] for d in days) / eligible
        )
        bar = cells(html, sla.id)
        assert [level for level, _ in bar] == [day["level"] for day in days]
        for (_, label), day in zip(bar, days, strict=True):
            if day["level"] in ("operational", "degraded", "outage"):
                shown = float(label.split(": ")[1].split(" %")[0])  # floored to 3 places
                assert day["availability"] - 0.001 < shown <= day["availability"], label
    web, db = ({d["date"]: d for d in s["days"]} for s in data["slas"])
    assert web["2026-10-25"]["up_s"] == 25 * 3600  # the Paris day that ends summer time
    assert web["2026-11-03"]["level"] == "outage" and web["2026-11-04"]["level"] == "operational"
    assert db["2026-11-08"]["level"] == "degraded"
    assert db["2026-11-07"]["level"] == "maintenance"
    assert db["2026-11-07"]["maintenance_s"] == 86_400
    assert web["2026-10-20"]["level"] == "no_data"  # before the first sample
    assert db["2026-10-01"]["level"] == "no_data"  # its nightly maintenance does not make it blue
    labels = dict(
        zip(
            [d["date"] for d in data["slas"][0]["days"]],
            [lab for _, lab in cells(html, "acme-web")],
            strict=True,
        )
    )
    assert labels["2026-11-03"] == (
        "Tue 3 Nov 2026: 97.916 % available over 1 d measured, 30 min down"
    )
    assert labels["2026-10-20"] == "Tue 20 Oct 2026: no data"
    assert cells(html, "acme-db")[-4][1] == "Sat 7 Nov 2026: maintenance only (1 d)"


async def test_maintenance_shows_and_its_changes_show_at_once(client: TestClient) -> None:
    await push_scene(client)
    assert banner(await page(client, "acme")) == "operational"
    ongoing = await declare(client, "acme-web", NOW - HOUR, NOW + 2 * HOUR, "switch <upgrade>")
    await declare(client, "acme-web", NOW + 3 * DAY, NOW + 3 * DAY + HOUR, "")
    html = await page(client, "acme")
    assert banner(html) == "maintenance" and "Under maintenance" in html
    assert (
        state_of(html, "acme-web") == "maintenance" and state_of(html, "acme-db") == "operational"
    )
    assert (
        "Maintenance in progress until 2026-11-10 14:00 UTC</strong>: switch &lt;upgrade&gt;"
        in html
    )
    assert (
        "<strong>2026-11-11 02:00 UTC</strong> to 2026-11-11 03:00 UTC (1 h): nightly backup"
        in html
    )
    assert "every day at 02:00 UTC" in html
    data = await twin(client, "acme")
    assert data["maintenance"] == [
        {"slas": ["acme-web"], "start": "2026-11-10T11:00:00Z", "end": "2026-11-10T14:00:00Z",
         "reason": "switch <upgrade>", "ongoing": True, "schedule": None},
        {"slas": ["acme-db"], "start": "2026-11-11T02:00:00Z", "end": "2026-11-11T03:00:00Z",
         "reason": "nightly backup", "ongoing": False, "schedule": "every day at 02:00 UTC"},
        {"slas": ["acme-web"], "start": "2026-11-13T12:00:00Z", "end": "2026-11-13T13:00:00Z",
         "reason": "", "ongoing": False, "schedule": None},
    ]  # fmt: skip
    # Deleted: the page says so on the next request, cache or not (the clock has not moved).
    response = await client.delete(f"/api/v1/maintenance/{ongoing}", headers=auth(ADMIN))
    assert response.status == 204
    html = await page(client, "acme")
    assert banner(html) == "operational" and state_of(html, "acme-web") == "operational"


async def test_an_open_incident_shows(client: TestClient, clock: Clock) -> None:
    since = NOW - 30 * MIN
    await push_scene(client, until_ms=since)
    clock.now = (NOW - FRESH_S * S) / 1000
    assert banner(await page(client, "acme")) == "no_data"  # nothing for 30 minutes
    clock.now = NOW / 1000
    for agent in AGENT_TOKENS:  # eu-1 and us-1 of 3 see web fail: a majority
        failing = agent != "ap-1"
        await push(client, agent, [sample(ts, not failing, "web", "connection refused")
                                   for ts in range(since, NOW, STEP)])  # fmt: skip
    await push(client, "eu-1", [sample(ts, True, "db") for ts in range(since, NOW - STEP, STEP)])
    html = await page(client, "acme")
    assert banner(html) == "degraded" and "Degraded service" in html
    assert state_of(html, "acme-web") == "outage" and state_of(html, "acme-db") == "operational"
    notice = re.search(r'<div class="notice bad open-incident">(.*?)</div>\n', html, re.S)
    assert notice
    assert (
        'ACME &lt;website&gt;: outage since <time datetime="2026-11-10T11:30:00Z">'
        "2026-11-10 12:30 CET</time></strong> (30 min so far)" in notice.group(1)
    )
    assert "The server refused the connection · checks: web" in notice.group(1)
    web = (await twin(client, "acme"))["slas"][0]
    (now_open,) = web["open_incidents"]
    assert (now_open["run_start"], now_open["end"]) == ("2026-11-10T11:30:00Z", None)
    assert now_open["checks"] == ["web"] and now_open["error"] == "connection refused"
    assert [i["run_start"] for i in web["incidents"]] == [
        "2026-11-10T11:30:00Z",
        "2026-11-03T10:00:00Z",
    ]
    await push(client, "eu-1", [sample(NOW - STEP, False, "db")])
    clock.now += FRESH_S
    assert banner(await page(client, "acme")) == "major_outage"


async def test_new_samples_of_its_checks_show_once_a_status_is_two_seconds_old(
    client: TestClient, clock: Clock
) -> None:
    await push_scene(client)
    computed = (await twin(client, "acme"))["updated"]
    clock.now += 3
    await push(client, "eu-1", [sample(NOW + 1000, True, "api")])  # Globex's check
    assert (await twin(client, "acme"))["updated"] == computed  # kept: within CACHE_S
    await push(client, "eu-1", [sample(NOW + 2000, True, "web")])  # ACME's
    assert (await twin(client, "acme"))["updated"] == "2026-11-10T12:00:03Z"
    await push(client, "eu-1", [sample(NOW + 3000, True, "web")])
    assert (await twin(client, "acme"))["updated"] == "2026-11-10T12:00:03Z"  # under FRESH_S
    clock.now += FRESH_S
    assert (await twin(client, "acme"))["updated"] == "2026-11-10T12:00:05Z"


async def test_samples_stored_already_leave_the_status_as_computed(
    client: TestClient, clock: Clock
) -> None:
    await push_scene(client)
    await push(client, "eu-1", [sample(NOW + 1000, True, "web")])
    computed = (await twin(client, "acme"))["updated"]
    clock.now += FRESH_S + 1
    resent = [sample(NOW + 1000, True, "web"), sample(NOW + 1000, True, "api")]  # api: Globex's
    await push(client, "eu-1", resent)  # the web sample is a duplicate: nothing new for ACME
    assert (await twin(client, "acme"))["updated"] == computed
    await push(client, "eu-1", [sample(NOW + 2000, True, "web")])
    assert (await twin(client, "acme"))["updated"] == "2026-11-10T12:00:03Z"


async def test_no_data_yet(client: TestClient) -> None:
    html = await page(client, "acme")
    assert banner(html) == "no_data" and "No data yet" in html
    for sla in ("acme-web", "acme-db"):
        assert state_of(html, sla) == "no_data"
        assert {level for level, _ in cells(html, sla)} == {"no_data"}
        assert len(cells(html, sla)) == 90
    data = await twin(client, "acme")
    # Nothing measured, the whole month to come: its whole budget is left (CONTRACT §4.8).
    assert {(s["state"], s["verdict"], s["availability"]) for s in data["slas"]} == {
        ("no_data", "on_track", None)
    }
    assert {s["projected_availability"] for s in data["slas"]} == {100.0}
    assert html.count('<div class="measured">nothing measured yet</div>') == 2
    empty = await page(client, "initech", INITECH)
    assert "No service is monitored for this customer yet." in empty
    assert (await twin(client, "initech", INITECH))["slas"] == []


async def test_a_status_is_kept_a_few_seconds_of_the_clock(
    client: TestClient, clock: Clock
) -> None:
    await push_scene(client)
    first = await twin(client, "acme")
    clock.now += 5
    assert (await twin(client, "acme"))["updated"] == first["updated"]
    clock.now += 6
    assert (await twin(client, "acme"))["updated"] == "2026-11-10T12:00:11Z"


async def test_the_html_report_names_the_configured_provider(client: TestClient) -> None:
    await push_scene(client)
    response = await client.get(
        "/api/v1/slas/acme-web/report", params={"format": "html"}, headers=auth(ACME)
    )
    assert response.status == 200
    assert "Service level report from Example &lt;Hosting&gt;" in await response.text()


async def test_many_incidents_are_the_engines_and_the_page_lists_the_newest(
    client: TestClient, collector: Collector
) -> None:
    """Two days of `web` failing one probe an hour (eu-1 and us-1): 48 incidents of 5 minutes,
    49 with the one of 3 November."""
    flaps = set(range(NOW - 48 * HOUR, NOW, HOUR))
    for agent in AGENT_TOKENS:
        samples = scene(agent)
        for item in samples:
            if item["check"] == "web" and round(item["ts"] * 1000) in flaps and agent != "ap-1":
                item.update(sample(round(item["ts"] * 1000), False, "web", "HTTP 502"))
        await push(client, agent, samples)
    web = (await twin(client, "acme"))["slas"][0]
    assert web["incident_count"] == 49 and len(web["incidents"]) == 49
    sla = collector.config.sla("acme-web")
    assert sla is not None
    window = Window(NOW - 14 * DAY, NOW)
    report = (await sla_report(collector.store, sla, window, NOW, latency=False)).report
    redact = Redactor.of(collector.config)
    assert [(i["run_start"], i["run_end"], i["checks"], i["error"]) for i in web["incidents"]] == [
        (iso(i.run_start_ms), iso(i.run_end_ms or 0), list(i.checks), redact(i.error or ""))
        for i in reversed(report.incidents)
    ]
    html = await page(client, "acme")
    listed = re.search(r'<h2 id="incidents">.*?</ul>', html, re.S)
    assert listed and listed.group(0).count('<li class="incident">') == 30
    assert "And 20 earlier incidents in these 14 days." in html  # and db's of 8 November


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("HTTP 503", "The server answered with an error: HTTP 503 (Service Unavailable)"),
        ("status 404 not in [200-399]",
         "The server answered with an unexpected status: HTTP 404 (Not Found)"),
        ("status 299 not in [200]", "The server answered with an unexpected status: HTTP 299"),
        ("timeout after 10s", "No answer in time"),
        ("connection refused", "The server refused the connection"),
        ("dns: name not found", "The server's name could not be resolved (DNS)"),
        ("certificate verify failed: self-signed certificate",
         "The server's TLS certificate was not accepted"),
        ("certificate expires in 3 days", "The server's TLS certificate was not accepted"),
        ("tls handshake failed: wrong version number",
         "The secure connection (TLS) could not be established"),
        ("network is unreachable", "The server could not be reached"),
        ("connection closed before the end of the response", "The connection was cut"),
        ("slower than 2s (2.345s)", "The server answered too slowly"),
        ("body lacks 'ok'", "The answer did not contain what was expected"),
        ("probe error: KeyError", "The check failed"),
        (None, "The check failed"),
    ],
)  # fmt: skip
def test_errors_in_plain_words(error: str | None, words: str) -> None:
    assert plain_error(error) == words
