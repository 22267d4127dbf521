"""The durable outbox and its dispatcher against local stand-ins of the chat services (real HTTP
on 127.0.0.1) and a real SQLite file, with a clock the tests move: in order per channel, the same
bytes and id at every attempt, retries across 5xx and 429 honouring Retry-After, give-up after
max_age (logged and counted), a waiting down replaced by its resolved, nothing lost to a
restart."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from slawatch.collector.alerts.events import Down, Resolved, Subject
from slawatch.collector.alerts.outbox import (
    AlertMetrics,
    Decision,
    Dispatcher,
    Outbox,
    decode_event,
    encode_event,
)
from slawatch.collector.alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from slawatch.collector.store import AlertChanges, Notification, Store, create_store
from slawatch.config.schema import AlertsConfig
from tests.chat_services import (
    AT,
    SINCE,
    ChatServices,
    sample_events,
)

WEB = Subject("check", "web")


class Clock:
    def __init__(self, now: float = AT) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(services: ChatServices) -> Clock:
    clock = Clock()
    services.clock = clock
    return clock


def alerts_config(services: ChatServices, **settings: object) -> AlertsConfig:
    channels = (services.channel("slack", "ops"), services.channel("webhook", "hook"))
    defaults: dict[str, object] = {"channels": channels, "group_window": 0.0, "rate_limit": None}
    return AlertsConfig(**(defaults | settings))  # type: ignore[arg-type]


class Rig:
    """An outbox, its dispatcher and metrics on one store."""

    def __init__(
        self,
        store: Store,
        alerts: AlertsConfig,
        clock: Clock,
        session: aiohttp.ClientSession,
    ) -> None:
        self.registry = CollectorRegistry()
        self.metrics = AlertMetrics(self.registry)
        self.outbox = Outbox(store, alerts, clock=clock, metrics=self.metrics, rng=lambda: 1.0)
        self.dispatcher = Dispatcher(self.outbox, session, timeout=0.5)
        self.clock = clock
        self.store = store

    async def decide(self, *decisions: Decision) -> list[str]:
        now_ms = round(self.clock() * 1000)
        notifications = [n for d in decisions for n in self.outbox.notifications(d, now_ms)]
        return await self.outbox.commit(AlertChanges(notifications))

    async def queue(self, *decisions: Decision) -> None:
        """Decide one at a time, each leaving its group window alone: queued in this order."""
        for decision in decisions:
            await self.decide(decision)
            for channel in decision.channels:
                await self.outbox.release(channel, round(self.clock() * 1000))

    async def rows(self, channel: str | None = None) -> list[Notification]:
        found = await self.store.notifications(channel=channel, limit=10_000)
        return sorted(found, key=lambda row: row.seq)

    def metric(self, name: str, channel: str) -> float:
        value = self.registry.get_sample_value(name, {"channel": channel})
        return 0.0 if value is None else value


@pytest.fixture
def rig(store: Store, services: ChatServices, clock: Clock, session: aiohttp.ClientSession) -> Rig:
    return Rig(store, alerts_config(services), clock, session)


def down(
    check: str = "web", since: float = SINCE, channels: tuple[str, ...] = ("ops",)
) -> Decision:
    subject = Subject("check", check)
    event = Down("", AT, subject, since, "connection refused")
    run_ms = round(since * 1000)
    return Decision(event, (f"check:{check}", "down", run_ms), channels, f"check:{check}", run_ms)


def resolved(
    check: str = "web", since: float = SINCE, channels: tuple[str, ...] = ("ops",)
) -> Decision:
    subject = Subject("check", check)
    event = Resolved("", AT + 60, subject, since, 420.0, "connection refused")
    run_ms = round(since * 1000)
    key = (f"check:{check}", "resolved", run_ms)
    return Decision(event, key, channels, f"check:{check}", run_ms, ("down", "reminder"))


# ------------------------------------------------------------------------------- delivery


async def test_delivered_in_order_as_native_payloads(rig: Rig, services: ChatServices) -> None:
    await rig.queue(down("web"), down("db"), down("api"))
    assert services.requests == []  # committed, not sent yet: the dispatcher sends
    await rig.dispatcher.run_due()
    texts = [r.json()["text"] for r in services.received("slack")]
    assert [t.split(" — ")[0] for t in texts] == ["DOWN web", "DOWN db", "DOWN api"]
    assert [row.status for row in await rig.rows()] == ["sent"] * 3
    assert rig.metric("slawatch_alerts_sent_total", "ops") == 3


async def test_the_same_bytes_and_id_at_every_attempt_across_5xx_and_429(
    rig: Rig, services: ChatServices, clock: Clock
) -> None:
    await rig.decide(down(channels=("hook",)))
    services.answer_next(503, "maintenance")
    services.rate_limit_next("7")
    await rig.dispatcher.run_due()
    (row,) = await rig.rows()
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, 503)
    assert row.due_ms == round(clock.now * 1000) + 2_000  # backoff: 2 s (jitter pinned)
    clock.now += 2
    await rig.dispatcher.run_due()
    (row,) = await rig.rows()
    assert (row.attempts, row.last_status) == (2, 429)
    assert row.due_ms == round(clock.now * 1000) + 7_000  # the service's Retry-After
    clock.now += 6.9
    assert await rig.dispatcher.run_due() == 0
    clock.now += 0.1
    await rig.dispatcher.run_due()
    attempts = services.received("webhook")
    assert [a.status for a in attempts] == [503, 429, 200]
    assert len({a.body for a in attempts}) == 1
    assert json.loads(attempts[0].body)["id"] == row.id
    for attempt in attempts:
        assert verify_signature(
            services.webhook_secret,
            attempt.headers[TIMESTAMP_HEADER],
            attempt.body,
            attempt.headers[SIGNATURE_HEADER],
            clock.now,
        )
    assert [a.headers[TIMESTAMP_HEADER] for a in attempts] != [
        attempts[0].headers[TIMESTAMP_HEADER]
    ] * 3
    (row,) = await rig.rows()
    assert (row.status, row.attempts) == ("sent", 3)
    assert rig.metric("slawatch_alerts_failed_total", "hook") == 2
    assert rig.metric("slawatch_alerts_sent_total", "hook") == 1


async def test_telegram_flood_wait_in_the_body_is_honoured(
    store: Store, services: ChatServices, clock: Clock, session: aiohttp.ClientSession
) -> None:
    alerts = AlertsConfig(channels=(services.channel("telegram", "tg"),), group_window=0)
    rig = Rig(store, alerts, clock, session)
    await rig.decide(down(channels=("tg",)))
    services.telegram_flood_next(34)
    await rig.dispatcher.run_due()
    (row,) = await rig.rows()
    assert row.due_ms == round(clock.now * 1000) + 34_000
    clock.now += 34
    await rig.dispatcher.run_due()
    assert [r.status for r in services.received("telegram")] == [429, 200]


async def test_a_failing_head_holds_its_channel_but_not_the_others(
    rig: Rig, services: ChatServices, clock: Clock
) -> None:
    await rig.queue(down("web", channels=("ops",)), down("db", channels=("ops",)))
    await rig.queue(down("api", channels=("hook",)))
    services.answer_next(500, "boom")
    await rig.dispatcher.run_due()
    assert [(r.service, r.status) for r in services.requests] == [("slack", 500), ("webhook", 200)]
    clock.now += 2
    await rig.dispatcher.run_due()
    texts = [r.json()["text"].split(" — ")[0] for r in services.received("slack")]
    assert texts == ["DOWN web", "DOWN web", "DOWN db"]


async def test_a_timeout_is_retried(rig: Rig, services: ChatServices, clock: Clock) -> None:
    await rig.decide(down())
    services.hang_next()
    await rig.dispatcher.run_due()
    (row,) = await rig.rows()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "no answer within 0.5s")
    clock.now += 2
    await rig.dispatcher.run_due()
    assert [row.status for row in await rig.rows()] == ["sent"]


# -------------------------------------------------------------------------------- give up


async def test_given_up_after_max_age_logged_and_counted_then_the_channel_moves_on(
    store: Store, services: ChatServices, clock: Clock, session: aiohttp.ClientSession
) -> None:
    rig = Rig(store, alerts_config(services, max_age=600.0), clock, session)
    await rig.queue(down("web"))
    clock.now += 1
    await rig.queue(down("db"))
    services.answer_next(404, "no_service", times=100)  # a revoked webhook
    with capture_logs() as logs:
        for _ in range(20):
            await rig.dispatcher.run_due()
            clock.now += 60
    web, db = await rig.rows()
    assert (web.status, db.status) == ("given_up", "given_up")
    assert web.last_error == "HTTP 404: no_service"
    assert rig.metric("slawatch_alerts_given_up_total", "ops") == 2
    given_up = [entry for entry in logs if entry["event"] == "alert_given_up"]
    assert [entry["notification"] for entry in given_up] == [web.id, db.id]
    assert services.token not in repr(logs)
    services._queued.clear()
    await rig.decide(down("api"))
    await rig.dispatcher.run_due()
    assert (await rig.rows())[-1].status == "sent"


async def attempts_until_done(
    store: Store,
    services: ChatServices,
    clock: Clock,
    session: aiohttp.ClientSession,
    late_s: float = 0.0,
) -> tuple[Notification, list[float]]:
    """Queue one notification for a channel that always answers 503 (max_age 100 s) and run
    each attempt when it is due (`late_s` after, as a timer that wakes late) until it is no
    longer pending: its row, and when each attempt was made (seconds after the first)."""
    rig = Rig(store, alerts_config(services, max_age=100.0), clock, session)
    await rig.queue(down())
    services.answer_next(503, "down for maintenance", times=100)
    first = clock.now
    attempted = []
    for _ in range(20):
        (row,) = await rig.rows()
        if row.status != "pending":
            break
        clock.now = max(clock.now, row.due_ms / 1000 + late_s)
        attempted.append(round(clock.now - first, 3))
        await rig.dispatcher.run_due()
    return row, attempted


async def test_the_last_attempt_is_made_just_before_max_age_not_given_up_early(
    store: Store, services: ChatServices, clock: Clock, session: aiohttp.ClientSession
) -> None:
    row, attempted = await attempts_until_done(store, services, clock, session)
    # backoff 2, 4, 8, 16, 32 s (jitter pinned); the next, 64 s, would pass the deadline: the
    # last attempt goes 1 ms before it, then the notification is given up
    assert attempted == [0, 2, 6, 14, 30, 62, 99.999]
    assert len(services.received("slack")) == 7
    assert (row.status, row.attempts) == ("given_up", 7)


async def test_a_last_attempt_woken_a_little_late_is_still_made(
    store: Store, services: ChatServices, clock: Clock, session: aiohttp.ClientSession
) -> None:
    # timers wake a few ms late
    row, _ = await attempts_until_done(store, services, clock, session, late_s=0.005)
    assert len(services.received("slack")) == 7  # the last one 4 ms past the deadline
    assert (row.status, row.attempts) == ("given_up", 7)


async def test_a_notification_older_than_max_age_is_given_up_untried(
    store: Store, services: ChatServices, clock: Clock, session: aiohttp.ClientSession
) -> None:
    rig = Rig(store, alerts_config(services, max_age=600.0), clock, session)
    await rig.decide(down())
    clock.now += 601  # the collector was stopped meanwhile
    await rig.dispatcher.run_due()
    assert services.requests == []
    assert [row.status for row in await rig.rows()] == ["given_up"]


async def test_channels_no_longer_configured_give_their_queue_up(
    rig: Rig, store: Store, services: ChatServices, clock: Clock, session: aiohttp.ClientSession
) -> None:
    await rig.decide(down(channels=("ops", "hook")))
    fewer = Rig(store, AlertsConfig(channels=(services.channel("slack", "ops"),)), clock, session)
    assert await fewer.outbox.give_up_orphans() == 1
    statuses = {row.channel: row.status for row in await fewer.rows()}
    assert statuses == {"ops": "pending", "hook": "given_up"}


# --------------------------------------------------------------------- down + resolved, restart


async def test_a_down_still_waiting_when_its_resolved_comes_is_one_message(
    rig: Rig, services: ChatServices, clock: Clock
) -> None:
    await rig.decide(down())
    services.answer_next(502, "bad gateway")
    await rig.dispatcher.run_due()
    await rig.decide(resolved())
    clock.now += 2
    await rig.dispatcher.run_due()
    texts = [r.json()["text"] for r in services.received("slack")]
    assert texts[0].startswith("DOWN web")
    assert texts[1].startswith("RESOLVED web — was down 03:12–03:19 UTC (7m)")
    assert len(texts) == 2  # the down was never delivered: only its story
    first, second = await rig.rows()
    assert (first.status, first.merged_into) == ("merged", second.id)


async def test_a_webhook_gets_the_down_and_its_resolved_each_in_order(
    rig: Rig, services: ChatServices, clock: Clock
) -> None:
    """Issue 15: merging is for people reading chat; a webhook's receiver (a ticketing system)
    gets every event, in order, however late."""
    await rig.decide(down(channels=("hook",)))
    services.answer_next(502, "bad gateway")
    await rig.dispatcher.run_due()
    await rig.decide(resolved(channels=("hook",)))
    clock.now += 2
    await rig.dispatcher.run_due()
    received = [r.json() for r in services.received("webhook")]
    assert [(body["event"], r.status) for body, r in
            zip(received, services.received("webhook"), strict=True)] == [
        ("down", 502), ("down", 200), ("resolved", 200)
    ]  # fmt: skip
    assert [row.status for row in await rig.rows("hook")] == ["sent", "sent"]


async def test_a_down_being_sent_is_not_replaced(rig: Rig, services: ChatServices) -> None:
    await rig.decide(down())
    (row,) = await rig.rows()
    rig.outbox.busy["ops"] = row.seq  # the dispatcher is sending it right now
    await rig.decide(resolved())
    rig.outbox.busy.clear()
    assert [r.status for r in await rig.rows()] == ["pending", "pending"]


async def test_nothing_is_lost_to_a_restart(
    tmp_path: Path, services: ChatServices, clock: Clock, session: aiohttp.ClientSession
) -> None:
    alerts = alerts_config(services)
    store = create_store(tmp_path / "restart.db")
    await store.open()
    await Rig(store, alerts, clock, session).queue(down("web"), down("db"))
    await store.close()
    store = create_store(tmp_path / "restart.db")
    await store.open()
    try:
        rig = Rig(store, alerts, clock, session)
        await rig.decide(down("web"))  # decided again after the restart: stored once
        await rig.dispatcher.run_due()
    finally:
        await store.close()
    texts = [r.json()["text"].split(" — ")[0] for r in services.received("slack")]
    assert texts == ["DOWN web", "DOWN db"]


async def test_a_stop_lets_the_delivery_in_flight_finish_and_records_it(
    rig: Rig, services: ChatServices
) -> None:
    await rig.queue(down("web"), down("db"))
    services.delay_next(0.3)
    rig.dispatcher.start()
    await services.wait_for_arrivals(1)
    await rig.dispatcher.stop()  # SIGTERM while Slack takes its time
    assert [r.status for r in services.received("slack")] == [200]
    assert [(row.status, row.attempts) for row in await rig.rows()] == [
        ("sent", 1), ("pending", 0)
    ]  # fmt: skip


async def test_a_stop_waits_for_a_hanging_delivery_only_so_long(
    rig: Rig, services: ChatServices
) -> None:
    await rig.queue(down("web"))
    services.hang_next()
    rig.dispatcher.start()
    await services.wait_for_arrivals(1)
    with capture_logs() as logs:
        await rig.dispatcher.stop(wait_s=0.1)
    assert [e["channel"] for e in logs if e["event"] == "alert_delivery_interrupted"] == ["ops"]
    (row,) = await rig.rows()
    assert (row.status, row.attempts) == ("pending", 0)  # sent again after the restart


# ---------------------------------------------------------------------------------- codec


def test_every_event_survives_the_json_codec() -> None:
    for event in sample_events().values():
        assert decode_event(encode_event(event)) == event
    assert decode_event(encode_event(replace(sample_events()["down"], id="x"))).id == "x"


async def test_pruning_forgets_finished_notifications_keeps_waiting_ones_and_recent_marks(
    rig: Rig, store: Store, clock: Clock
) -> None:
    await rig.queue(down("web"), down("db"))
    await rig.dispatcher.run_due()
    await rig.queue(down("api", channels=("hook",)))
    now_ms = round(clock.now * 1000)
    await store.commit_alerts(AlertChanges(marks=[("old", now_ms - 1), ("recent", now_ms)]))
    assert await store.prune_notifications(now_ms - 1, marks_before_ms=now_ms) == 0
    assert await store.prune_notifications(now_ms + 1, marks_before_ms=now_ms) == 2
    assert [(row.kind, row.status, row.channel) for row in await rig.rows()] == [
        ("down", "pending", "hook")
    ]
    assert await store.alert_marks(["old", "recent"]) == {"recent"}


async def test_a_channel_that_cannot_render_does_not_stop_the_others(
    store: Store, services: ChatServices, clock: Clock, session: aiohttp.ClientSession
) -> None:
    telegram = services.channel("telegram", "tg")
    settings = {k: v for k, v in telegram.settings.items() if k != "chat_id"}
    broken = replace(telegram, settings=settings)
    alerts = AlertsConfig(channels=(broken, services.channel("slack", "ops")), group_window=0)
    rig = Rig(store, alerts, clock, session)
    with capture_logs() as logs:
        await rig.decide(down(channels=("tg", "ops")))
    assert [row.channel for row in await rig.rows()] == ["ops"]
    (failed,) = [e for e in logs if e["event"] == "alert_render_failed"]
    assert failed["channel"] == "tg" and "chat_id" in failed["error"]
