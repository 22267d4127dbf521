"""Alerts end to end in the real collector app: samples pushed through the ingest API into a real
SQLite file, the evaluator and the dispatcher running in the app, local stand-ins of every chat
service receiving the native payloads over HTTP. The collector's clock is the test's; the
background loops do the work (the tests only move the clock and wake them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.collector.alerts.service import SERVICE, AlertService
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from slawatch.config.schema import Secret
from tests.chat_services import SERVICES, ChatServices
from tests.smtp_server import smtp_server
from tests.support import async_wait_until

ADMIN = "admin-token-0123456789"
EU1 = "eu1-token-0123456789ab"
US1 = "us1-token-0123456789ab"
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC).timestamp()
NATIVE_SUCCESS = {"slack": 200, "discord": 204, "teams": 202, "googlechat": 200,
                  "telegram": 200, "mattermost": 200, "webhook": 200, "ntfy": 200,
                  "pagerduty": 202}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def channel_yaml(services: ChatServices, service: str, revoked: bool = False) -> str:
    """The channel of the config for the stand-in of `service`; a `revoked` one answers 404."""
    channel = services.channel(service, service)
    fields = {"id": service, "type": service}
    for key, value in channel.settings.items():
        fields[key] = value.value if isinstance(value, Secret) else value
        if revoked and key == "url":
            fields[key] += "/revoked"
    return "    - " + json.dumps(fields) + "\n"


def config_text(
    services: ChatServices, rules: str, group_window: str = "0s", revoked: tuple[str, ...] = ()
) -> str:
    channels = "".join(channel_yaml(services, s, s in revoked) for s in SERVICES)
    return f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  public_url: https://sla.example.com
  agents: [{{id: eu-1, token: {EU1}}}, {{id: us-1, token: {US1}}}]
  customers: [{{id: acme, name: ACME}}]
checks:
  - {{id: web, url: "http://127.0.0.1:1/", interval: 10s}}
slas:
  - {{id: shop, customer: acme, checks: [web], objective: 99.9}}
alerts:
  group_window: {group_window}
  channels:
{channels}  rules:
{rules}"""


class Rig:
    def __init__(self, client: TestClient, services: ChatServices, clock: Clock) -> None:
        self.client = client
        self.services = services
        self.clock = clock

    @property
    def service(self) -> AlertService:
        return self.client.app[SERVICE]

    async def push(self, agent: str, token: str, samples: list[dict[str, Any]]) -> None:
        response = await self.client.post(
            "/api/v1/samples",
            json={"agent": agent, "samples": samples},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 200, await response.text()

    async def probe(self, seconds: float, ok: bool, *, checks: tuple[str, ...] = ("web",)) -> None:
        """eu-1 probes every 10 s for `seconds`; the clock follows."""
        samples = []
        end = self.clock.now + seconds
        ts = self.clock.now
        while ts < end:
            samples.extend(sample(ts, ok, check) for check in checks)
            ts += 10
        await self.push("eu-1", EU1, samples)
        self.clock.now = end
        self.service.poke()

    async def move(self, seconds: float) -> None:
        """Time passes: the timer's evaluation, then the channels look again."""
        self.clock.now += seconds
        await self.service.evaluate_now()
        self.service.outbox.wake()

    async def requests(self, count: int, service: str | None = None) -> list[Any]:
        def arrived() -> list[Any]:
            found = [r for r in self.services.requests if service in (None, r.service)]
            return found if len(found) >= count else []

        return await async_wait_until(arrived)

    async def settled(self) -> None:
        """Until nothing waits in the outbox: every delivery committed (the stand-ins record a
        request before the collector has read the answer)."""

        async def nothing_waits() -> bool:
            rows = await self.service.store.notifications(statuses=("held", "pending"))
            return not rows

        await async_wait_until(nothing_waits)

    async def metric(self, name: str, **labels: str) -> float:
        text = await (await self.client.get("/metrics")).text()
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            if line.startswith(f"{name}{{{wanted}}} "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no {name}{{{wanted}}} in /metrics")


def sample(ts: float, ok: bool, check: str = "web") -> dict[str, Any]:
    return {"check": check, "ts": ts, "ok": ok, "latency_ms": 12.0 if ok else 3.0,
            "interval_s": 10, "type": "http", "status_code": 200 if ok else None,
            "error": None if ok else "connection refused"}  # fmt: skip


@pytest.fixture
def make_rig(
    aiohttp_client: Callable[..., Any], services: ChatServices, tmp_path: Path
) -> Callable[..., Any]:
    async def make(rules: str, group_window: str = "0s", revoked: tuple[str, ...] = ()) -> Rig:
        clock = Clock()
        services.clock = clock
        text = config_text(services, rules, group_window, revoked)
        config = parse_config(text, base_dir=tmp_path, process="collector")
        client = await aiohttp_client(Collector(config, clock=clock).app)
        return Rig(client, services, clock)

    return make


ALL_CHANNELS = "[" + ", ".join(SERVICES) + "]"


async def test_down_and_resolved_reach_every_service_in_its_native_format(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(
        f"    - {{checks: ['*'], channels: {ALL_CHANNELS}, after: 15s, events: [down, resolved]}}\n"
    )
    await rig.probe(30, ok=True)
    await rig.probe(10, ok=False)
    await rig.service.evaluate_now()
    assert await rig.service.store.notifications() == []  # DOWN for 10 s only
    await rig.probe(10, ok=False)
    downs = await rig.requests(len(SERVICES))
    assert {(r.service, r.status) for r in downs} == set(NATIVE_SUCCESS.items())
    webhook = next(r for r in downs if r.service == "webhook").json()
    assert (webhook["event"], webhook["check"], webhook["since"]) == (
        "down",
        "web",
        "2026-11-27T03:00:30Z",
    )
    assert webhook["error"] == "connection refused"
    assert webhook["link"].startswith("https://sla.example.com/status/acme?expires=")
    slack = next(r for r in downs if r.service == "slack").json()
    assert slack["text"].startswith("DOWN web — 1/1 agents: connection refused — since 03:00 UTC")
    await rig.probe(20, ok=True)
    everything = await rig.requests(2 * len(SERVICES))
    resolved = everything[len(SERVICES) :]
    assert {(r.service, r.status) for r in resolved} == set(NATIVE_SUCCESS.items())
    hook = next(r for r in resolved if r.service == "webhook").json()
    assert (hook["event"], hook["duration_s"]) == ("resolved", 20.0)
    assert hook["id"] != webhook["id"]
    await rig.settled()
    for service in SERVICES:
        assert await rig.metric("slawatch_alerts_sent_total", channel=service) == 2
        assert await rig.metric("slawatch_alerts_pending", channel=service) == 0


async def test_retried_across_5xx_and_429_then_counted(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig("    - {checks: [web], channels: [webhook], events: [down]}\n")
    rig.services.answer_next(500, "oops")
    rig.services.rate_limit_next("7")
    await rig.probe(20, ok=False)

    async def attempted(times: int) -> list[Any]:
        """Once the collector has recorded the answer (the stand-in records the request
        before): moving the clock sooner would leave the retry due after the new time."""
        rows = await rig.service.store.notifications()
        return rows if rows and rows[0].attempts == times else []

    await async_wait_until(lambda: attempted(1))
    await rig.move(2)
    (row,) = await async_wait_until(lambda: attempted(2))
    assert row.last_status == 429
    assert row.due_ms == round(rig.clock.now * 1000) + 7000  # Retry-After: 7 s
    await rig.move(6.999)
    assert (await rig.service.dispatcher.step("webhook")) == pytest.approx(0.001)
    await rig.move(0.001)
    attempts = await rig.requests(3)
    assert [a.status for a in attempts] == [500, 429, 200]
    assert len({a.body for a in attempts}) == 1
    await rig.settled()
    assert await rig.metric("slawatch_alerts_failed_total", channel="webhook") == 2
    assert await rig.metric("slawatch_alerts_sent_total", channel="webhook") == 1


async def test_a_storm_of_200_checks_is_one_message(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(
        "    - {checks: ['check-*'], channels: [slack, discord], after: 0s, events: [down]}\n",
        group_window="20s",
    )
    checks = tuple(f"check-{i:03d}" for i in range(200))
    await rig.probe(20, ok=False, checks=checks)
    await rig.move(0)
    slack = (await rig.requests(1, "slack"))[0].json()
    discord = await rig.requests(1, "discord")
    assert slack["text"].startswith(
        "STORM 200 changes — 200 DOWN — check-000, check-001, check-002"
    )
    assert discord[0].status == 204

    async def delivered() -> list[Any]:
        rows = await rig.service.store.notifications(limit=1000)
        return rows if all(row.status in ("merged", "sent") for row in rows) else []

    rows = await async_wait_until(delivered)
    grouped = sorted((row.channel, row.status) for row in rows if row.kind == "grouped")
    assert grouped == [("discord", "sent"), ("slack", "sent")]
    assert sum(row.status == "merged" for row in rows) == 400


async def test_a_down_goes_out_on_the_evaluation_that_decides_it(
    make_rig: Callable[..., Any],
) -> None:
    """The group window holds what follows a change, never the first one; a webhook is never
    held."""
    rig = await make_rig(
        "    - {checks: [web], channels: [slack, webhook], after: 0s, events: [down, resolved]}\n",
        group_window="30s",
    )
    await rig.probe(10, ok=False)
    await rig.service.evaluate_now()
    downs = await rig.requests(2)  # the clock has not moved
    assert sorted(r.service for r in downs) == ["slack", "webhook"]
    await rig.probe(10, ok=True)
    await rig.service.evaluate_now()
    hook = (await rig.requests(2, "webhook"))[1].json()
    assert (hook["event"], hook["check"]) == ("resolved", "web")
    (held,) = await rig.service.store.notifications(statuses=("held",))
    assert (held.channel, held.kind) == ("slack", "resolved")
    await rig.move(20)  # 30 s after the down left
    resolved = (await rig.requests(2, "slack"))[1].json()
    assert resolved["text"].startswith("RESOLVED web — was down 03:00–03:00 UTC (10s)")


async def test_declared_maintenance_silences_the_check(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(
        "    - {checks: [web], channels: [slack], repeat: 1m, events: [down, reminder]}\n"
    )
    response = await rig.client.post(
        "/api/v1/maintenance",
        json={
            "sla": "shop",
            "start": "2026-11-27T02:59:00Z",
            "end": "2026-11-27T03:05:00Z",
            "reason": "database upgrade",
        },
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status == 201, await response.text()
    await rig.probe(60, ok=False)
    await rig.move(1)
    assert await rig.service.store.notifications() == []
    await rig.probe(240, ok=False)  # 03:05:00: the window is over
    await rig.move(1)
    (message,) = await rig.requests(1)
    assert message.json()["text"].startswith("DOWN web — 1/1 agents: connection refused")


async def test_no_data_after_silence_and_agent_silent(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(
        "    - {checks: [web], channels: [slack], events: [no_data, agent_silent]}\n"
    )
    await rig.probe(30, ok=True)  # samples 03:00:00 to 03:00:20, pushed at 03:00:00
    await rig.move(9)
    assert await rig.service.store.notifications() == []
    await rig.move(1)  # two intervals without a sample
    (no_data,) = await rig.requests(1)
    assert no_data.json()["text"].startswith(
        "NO DATA web — no sample from any agent since 03:00 UTC (20s) — monitoring is blind"
    )
    await rig.move(19)
    assert len(await rig.service.store.notifications()) == 1
    await rig.move(1)  # a minute without a push
    silent = (await rig.requests(2))[1].json()
    assert silent["text"].startswith("AGENT SILENT eu-1 — no push since 03:00 UTC (1m)")


async def test_pagerduty_gets_each_trigger_and_resolve_while_a_chat_groups_and_merges(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(
        "    - {checks: ['*'], channels: [slack, pagerduty], after: 0s, events: [down, resolved]}\n",
        group_window="30s",
    )
    await rig.probe(10, ok=False, checks=("web", "api"))
    await rig.service.evaluate_now()
    triggers = await rig.requests(2, "pagerduty")
    assert {r.json()["event_action"] for r in triggers} == {"trigger"}
    keys = {r.json()["payload"]["source"]: r.json()["dedup_key"] for r in triggers}
    assert keys == {
        "web": "slawatch/check/web/1795748400000",
        "api": "slawatch/check/api/1795748400000",
    }
    await rig.probe(10, ok=True, checks=("api",))
    await rig.service.evaluate_now()
    resolve = (await rig.requests(3, "pagerduty"))[2].json()
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", keys["api"])
    rows = await rig.service.store.notifications(limit=100)
    slack = {(row.kind, row.status) for row in rows if row.channel == "slack"}
    assert ("down", "merged") in slack  # api's down waited in the window: the resolved tells it
    assert all(row.status == "sent" for row in rows if row.channel == "pagerduty")


async def test_email_alerts_through_the_collector(
    aiohttp_client: Callable[..., Any], tmp_path: Path
) -> None:
    with smtp_server() as smtp:
        text = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  public_url: https://sla.example.com
  agents: [{{id: eu-1, token: {EU1}}}]
reports:
  smtp: {{host: 127.0.0.1, port: {smtp.port}, starttls: false, from: "slawatch <sla@acme.example>"}}
alerts:
  channels:
    - {{id: oncall-mail, type: email, to: [oncall@acme.example]}}
  rules:
    - {{checks: [web], channels: [oncall-mail], events: [down, resolved]}}
"""
        clock = Clock()
        config = parse_config(text, base_dir=tmp_path, process="collector")
        client = await aiohttp_client(Collector(config, clock=clock).app)
        rig = Rig(client, ChatServices(), clock)
        await rig.probe(20, ok=False)
        await rig.service.evaluate_now()
        await asyncio.to_thread(smtp.wait_for_messages, 1)
        await rig.probe(20, ok=True)
        await rig.service.evaluate_now()
        await rig.move(30)  # the group window after the down
        down, resolved = await asyncio.to_thread(smtp.wait_for_messages, 2)
    assert down.mail["Subject"] == "DOWN web — 1/1 agents: connection refused — since 03:00 UTC"
    assert resolved.mail["Subject"].startswith("RESOLVED web — was down 03:00–03:00 UTC (20s)")
    assert down.recipients == resolved.recipients == ["oncall@acme.example"]
    assert down.mail["From"] == "slawatch <sla@acme.example>"
    await rig.settled()
    assert await rig.metric("slawatch_alerts_sent_total", channel="oncall-mail") == 2
