"""Period close through the real collector app (CONTRACT §7): the day of `test_report_api`'s
scene closes, its report goes once by e-mail (a local aiosmtpd) and by signed webhook (a local
receiver), its evidence bundle is kept and outlives the raw samples; an SMTP server that is
down at close time gets the report when it is back."""

from __future__ import annotations

import email.policy
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.collector.alerts.service import SERVICE
from slawatch.collector.evidence.close import CLOSER
from slawatch.collector.evidence.verify import verify
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.chat_services import ChatServices
from tests.integration.test_report_api import AGENT_TOKENS, Clock, day_samples, push
from tests.smtp_server import SmtpServer, smtp_server
from tests.support import async_wait_until, auth, free_port, ms

ADMIN = "admin-token-0123456789"
ACME = "acme-token-0123456789a"
BEFORE = ms("2026-11-04T00:30:00Z")
"""At start: the latest closed day is 2026-11-02 (delay 1 h), without data; 2026-11-03 is over
but not closed yet."""
CLOSE = ms("2026-11-04T01:00:00Z")
"""2026-11-03 ends at midnight; with the delay of 1 h it closes now."""


def config_text(smtp_port: int, services: ChatServices) -> str:
    agents = "\n".join(f"    - {{id: {a}, token: {t}}}" for a, t in AGENT_TOKENS.items())
    return f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
{agents}
  customers:
    - id: acme
      name: ACME Corp
      token: {ACME}
      report_to:
        email: [sla@acme.example]
        webhook: "{services.url_for("webhook")}"
        secret: "{services.webhook_secret}"
slas:
  - {{id: acme-web, customer: acme, name: ACME website, checks: [web], objective: 99.9,
      period: day}}
reports:
  delay: 1h
  smtp: {{host: 127.0.0.1, port: {smtp_port}, starttls: false, from: slawatch@provider.example}}
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def clock(services: ChatServices) -> Clock:
    clock = Clock(BEFORE)
    services.clock = clock  # the receiver judges the signature's age on the collector's time
    return clock


async def start(
    tmp_path: Path, smtp_port: int, services: ChatServices, clock: Clock, aiohttp_client: Any
) -> tuple[Collector, TestClient]:
    config = parse_config(config_text(smtp_port, services), base_dir=tmp_path, process="collector")
    collector = Collector(config, clock=clock)
    return collector, await aiohttp_client(collector.app)


async def notifications(client: TestClient) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/notifications", headers=auth(ADMIN))
    assert response.status == 200
    return (await response.json())["notifications"]


async def close_the_day(collector: Collector, client: TestClient, clock: Clock) -> None:
    for agent in AGENT_TOKENS:
        await push(client, agent, day_samples(agent))

    async def day_before_posted() -> bool:
        rows = [n for n in await notifications(client) if n["channel"] == "report:acme:webhook"]
        return len(rows) == 1 and rows[0]["status"] == "sent"

    # Closed at start; the clock moves on only once its webhook is not in flight any more (the
    # receiver would find its signature stale).
    await async_wait_until(day_before_posted, timeout=60)
    clock.now = CLOSE / 1000
    assert await collector.app[CLOSER].close_due() == ["period_closed:acme-web:2026-11-03"]


async def test_a_closed_day_is_mailed_and_posted_once_and_its_bundle_kept(
    tmp_path: Path,
    smtp: SmtpServer,
    services: ChatServices,
    clock: Clock,
    aiohttp_client: Callable[..., Any],
) -> None:
    collector, client = await start(tmp_path, smtp.port, services, clock, aiohttp_client)
    await close_the_day(collector, client, clock)

    def the_days_mail() -> list[Any]:
        return [m for m in smtp.messages if "2026-11-03" in m.mail["Subject"]]

    (received,) = await async_wait_until(the_days_mail, timeout=60)
    mail = received.mail
    assert received.recipients == ["sla@acme.example"]
    assert mail["Subject"].strip().startswith("SLA report ACME website, 2026-11-03: 99.2")
    message_id = mail["Message-ID"]
    assert message_id.endswith("@slawatch>")
    html = mail.get_body(("html",))
    assert html is not None and "ACME website" in html.get_content()
    attached = {part.get_filename(): part for part in mail.iter_attachments()}
    assert sorted(attached) == ["acme-web-2026-11-03.csv", "acme-web-2026-11-03.json"]
    report = json.loads(attached["acme-web-2026-11-03.json"].get_content())
    assert (report["down_s"], report["unknown_s"], report["period"]) == (
        600.0,
        3540.0,
        "2026-11-03",
    )

    async def the_days_event() -> list[Any]:
        return [r.json() for r in services.received("webhook")
                if r.status == 200 and r.json()["period"] == "2026-11-03"]  # fmt: skip

    (event,) = await async_wait_until(the_days_event, timeout=60)
    assert (event["event"], event["sla"], event["customer"]) == (
        "period_closed",
        "acme-web",
        "acme",
    )
    assert event["report"] == report
    assert event["evidence"] == "/api/v1/slas/acme-web/evidence?period=2026-11-03"

    async def both_sent() -> list[dict[str, Any]]:
        rows = [n for n in await notifications(client) if n["event"] == "period_closed"]
        mine = [n for n in rows if n["created"] == "2026-11-04T01:00:00Z"]
        return mine if len(mine) == 2 and all(n["status"] == "sent" for n in mine) else []

    rows = await async_wait_until(both_sent, timeout=60)
    assert sorted(n["channel"] for n in rows) == ["report:acme:email", "report:acme:webhook"]

    clock.now += 600
    assert await collector.app[CLOSER].close_due() == []  # closed once
    kept = tmp_path / "data" / "collector.db.evidence" / "acme-web" / "2026-11-03.zip"
    assert verify(kept).samples == 3 * 23 * 60
    with zipfile.ZipFile(kept) as archive:
        assert json.loads(archive.read("report.json"))["down_s"] == 600.0

    # The raw samples go (retention); the kept bundle is still served, the same bytes.
    store = collector.store
    await store.prune(CLOSE + 86_400_000, raw_retention_ms=1000, rollup_retention_ms=10**12)
    assert await store.sample_count() == 0
    response = await client.get(
        "/api/v1/slas/acme-web/evidence?period=2026-11-03", headers=auth(ACME)
    )
    assert response.status == 200
    assert await response.read() == kept.read_bytes()
    window = "from=2026-11-03T00:00:00Z&to=2026-11-03T12:00:00Z"  # not a kept period
    gone = await client.get(f"/api/v1/slas/acme-web/evidence?{window}", headers=auth(ACME))
    assert gone.status == 410
    assert "pruned" in (await gone.json())["error"]


async def test_a_period_closed_while_the_smtp_server_is_down_is_mailed_when_it_is_back(
    tmp_path: Path, services: ChatServices, clock: Clock, aiohttp_client: Callable[..., Any]
) -> None:
    port = free_port()  # nothing listens there yet
    collector, client = await start(tmp_path, port, services, clock, aiohttp_client)
    await close_the_day(collector, client, clock)

    async def failing() -> list[dict[str, Any]]:
        rows = [n for n in await notifications(client) if n["channel"] == "report:acme:email"]
        tried = any(n["attempts"] >= 1 and "connect" in (n["last_error"] or "") for n in rows)
        return [n for n in rows if n["created"] == "2026-11-04T01:00:00Z"] if tried else []

    (pending,) = await async_wait_until(failing, timeout=60)
    assert pending["status"] == "pending"  # waits behind the day before, also undelivered

    async def webhooks_sent() -> bool:
        rows = [n for n in await notifications(client) if n["channel"] == "report:acme:webhook"]
        return len(rows) == 2 and all(n["status"] == "sent" for n in rows)

    # The clock moves on only once no webhook is in flight (its signature would be stale).
    await async_wait_until(webhooks_sent, timeout=60)
    with smtp_server(port=port) as smtp:
        clock.now += 3600  # past any backoff
        service = collector.app[SERVICE]

        async def mailed() -> list[Any]:
            await service.deliver_due()
            return [m for m in smtp.messages if "2026-11-03" in m.mail["Subject"]]

        (received,) = await async_wait_until(mailed, timeout=60)
    parsed = received.mail
    assert parsed["X-Slawatch-Event"] == "period_closed"
    assert email.policy.default is not None


async def test_a_reload_keeps_the_report_channels_and_their_waiting_reports(
    tmp_path: Path, services: ChatServices, clock: Clock, aiohttp_client: Callable[..., Any]
) -> None:
    port = free_port()  # nothing listens: the reports wait
    collector, client = await start(tmp_path, port, services, clock, aiohttp_client)
    await close_the_day(collector, client, clock)
    service = collector.app[SERVICE]
    assert await service.reload(collector.config) == 0  # nothing given up
    assert service.outbox.alerts.channel("report:acme:email") is not None
    rows = [n for n in await notifications(client) if n["channel"] == "report:acme:email"]
    assert len(rows) == 2 and all(n["status"] == "pending" for n in rows)
