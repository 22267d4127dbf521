"""Storms: the first state change leaves at once, those that follow within the channel's group
window leave as one message; nothing overtakes what is held; a webhook is never grouped; the
rate limit on top makes the excess wait and leave grouped, never dropped."""

from __future__ import annotations

import json

import aiohttp

from slawatch.collector.alerts.events import Down, Subject
from slawatch.collector.alerts.outbox import Decision
from slawatch.collector.alerts.storms import Held, Release, plan_release
from slawatch.collector.store import Store
from slawatch.config.schema import AlertsConfig, RateLimit
from tests.chat_services import (
    AT,
    SINCE,
    ChatServices,
    sample_events,
    slack_block_problems,
)
from tests.unit.test_alert_outbox import Clock, Rig, down, resolved

SECOND = 1000


def held(seq: int, created_ms: int) -> Held:
    return Held(seq, created_ms, Down(f"n{seq}", 0.0, Subject("check", f"c{seq}"), 0.0))


# ------------------------------------------------------------------------------------ plan


def test_the_first_changes_leave_at_once_and_what_follows_waits_for_the_window() -> None:
    waiting = [held(1, 1_000), held(2, 1_000)]
    assert plan_release(waiting, 1_000, window_ms=30_000, rate_limit=None) == Release(
        (tuple(waiting),)
    )
    after_a_release = {"window_ms": 30_000, "rate_limit": None, "released_ms": [1_000]}
    assert plan_release(waiting, 30_999, **after_a_release) == Release(look_again_ms=31_000)
    assert plan_release(waiting, 31_000, **after_a_release) == Release((tuple(waiting),))
    assert plan_release([], 0, window_ms=30_000, rate_limit=None) == Release()


def test_a_big_storm_is_split_in_groups() -> None:
    waiting = [held(i, 0) for i in range(5)]
    release = plan_release(waiting, 0, window_ms=0, rate_limit=None, max_group=2)
    assert [len(group) for group in release.groups] == [2, 2, 1]


def test_the_rate_limit_holds_the_excess_until_a_slot_frees() -> None:
    limit = RateLimit(messages=2, per=60)
    waiting = [held(1, 0), held(2, 5_000)]
    full = plan_release(
        waiting, 40_000, window_ms=0, rate_limit=limit, released_ms=[10_000, 30_000]
    )
    assert full == Release(look_again_ms=70_000)  # when the one sent at 10 s leaves the minute
    free = plan_release(
        waiting, 70_000, window_ms=0, rate_limit=limit, released_ms=[10_000, 30_000]
    )
    assert free == Release((tuple(waiting),))
    old = plan_release(waiting, 40_000, window_ms=0, rate_limit=limit, released_ms=[-30_000])
    assert old.groups == (tuple(waiting),)
    split = plan_release(
        [held(i, 0) for i in range(3)],
        0,
        window_ms=0,
        rate_limit=RateLimit(1, 60),
        max_group=2,
    )
    assert [len(g) for g in split.groups] == [2] and split.look_again_ms == 0


# ------------------------------------------------------------------------ through the outbox


def rig_for(
    store: Store,
    services: ChatServices,
    session: aiohttp.ClientSession,
    clock: Clock,
    rate_limit: RateLimit | None = None,
) -> Rig:
    services.clock = clock
    channels = (services.channel("slack", "ops"), services.channel("discord", "dc"))
    alerts = AlertsConfig(channels=channels, group_window=30.0, rate_limit=rate_limit)
    return Rig(store, alerts, clock, session)


async def test_a_storm_of_200_checks_is_one_message_per_channel(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    rig = rig_for(store, services, session, clock)
    await rig.decide(*(down(f"check-{i:03d}", channels=("ops", "dc")) for i in range(200)))
    await rig.dispatcher.run_due()
    (slack,) = services.received("slack")
    (discord,) = services.received("discord")
    assert slack.status == 200 and discord.status == 204  # within each service's limits
    payload = slack.json()
    assert payload["text"].startswith("STORM 200 changes — 200 DOWN — check-000, check-001")
    assert slack_block_problems(payload["blocks"]) == []
    assert "check-199" in json.dumps(payload) or "more" in json.dumps(payload)
    rows = await rig.rows("ops")
    assert sum(row.status == "merged" for row in rows) == 200
    (grouped,) = [row for row in rows if row.kind == "grouped"]
    assert grouped.status == "sent"
    assert {row.merged_into for row in rows if row.status == "merged"} == {grouped.id}


async def test_the_first_change_goes_at_once_what_follows_in_the_window_goes_grouped(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    rig = rig_for(store, services, session, clock)
    await rig.decide(down("web"))
    assert [row.status for row in await rig.rows("ops")] == ["pending"]  # not held
    await rig.dispatcher.run_due()
    clock.now += 10
    await rig.decide(down("db"))
    clock.now += 5
    await rig.decide(down("api"))
    clock.now += 14.999
    await rig.dispatcher.run_due()
    texts = [r.json()["text"] for r in services.received("slack")]
    assert [t.split(" — ")[0] for t in texts] == ["DOWN web"]
    clock.now += 0.001  # 30 s after "web" left
    await rig.dispatcher.run_due()
    texts = [r.json()["text"] for r in services.received("slack")]
    assert texts[1].startswith("STORM 2 changes — 2 DOWN — db, api")
    clock.now += 60  # quiet for longer than the window: the next change goes at once again
    await rig.decide(down("cache"))
    await rig.dispatcher.run_due()
    assert services.received("slack")[-1].json()["text"].startswith("DOWN cache")


async def test_a_message_that_is_not_a_change_never_overtakes_held_changes(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    rig = rig_for(store, services, session, clock)
    burn = sample_events()["burn_rate"]
    await rig.decide(down("web"))
    await rig.dispatcher.run_due()
    clock.now += 5
    await rig.decide(down("db"))  # held until 30 s after "web"
    clock.now += 5
    await rig.decide(Decision(burn, ("sla:acme-website", "burn_rate", 1), ("ops",)))
    await rig.dispatcher.run_due()
    assert [r.json()["text"].split(" — ")[0] for r in services.received("slack")] == ["DOWN web"]
    clock.now += 20
    await rig.dispatcher.run_due()
    texts = [r.json()["text"].split(" — ")[0] for r in services.received("slack")]
    assert texts == ["DOWN web", "DOWN db", "BURN RATE SLA acme-website"]


async def test_a_resolved_within_the_window_replaces_its_held_down(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    rig = rig_for(store, services, session, clock)
    await rig.decide(down("api"))
    clock.now += 1
    await rig.decide(down("web"), down("db"))
    clock.now += 4
    await rig.decide(resolved("web", since=SINCE))
    clock.now += 25
    await rig.dispatcher.run_due()
    first, storm = services.received("slack")
    assert first.json()["text"].startswith("DOWN api")
    lines = [b["text"]["text"] for b in storm.json()["blocks"] if b["type"] == "section"]
    listed = "\n".join(lines)
    assert "RESOLVED web" in listed and "DOWN db" in listed and "DOWN web" not in listed


async def test_a_webhook_gets_every_change_on_its_own_in_order(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    services.clock = clock
    alerts = AlertsConfig(channels=(services.channel("webhook", "hook"),), group_window=30.0)
    rig = Rig(store, alerts, clock, session)
    await rig.decide(down("web", channels=("hook",)), down("db", channels=("hook",)))
    await rig.dispatcher.run_due()
    clock.now += 1
    await rig.decide(down("api", channels=("hook",)))
    await rig.decide(resolved("web", channels=("hook",)))
    await rig.dispatcher.run_due()
    bodies = [r.json() for r in services.received("webhook")]
    assert [(b["event"], b["check"]) for b in bodies] == [
        ("down", "web"),
        ("down", "db"),
        ("down", "api"),
        ("resolved", "web"),
    ]
    assert all("events" not in b for b in bodies)
    assert {row.kind for row in await rig.rows()} == {"down", "resolved"}


async def test_past_the_rate_limit_changes_wait_and_leave_grouped(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    rig = rig_for(store, services, session, clock, RateLimit(messages=2, per=600))
    for name in ("a", "b", "c", "d", "e"):  # one every 30 s: each finds the window closed
        await rig.decide(down(name))
        await rig.dispatcher.run_due()
        clock.now += 30
    texts = [r.json()["text"].split(" — ")[0] for r in services.received("slack")]
    assert texts == ["DOWN a", "DOWN b"]
    assert [row.status for row in await rig.rows("ops")][-3:] == ["held"] * 3
    clock.now = AT + 599.999
    await rig.dispatcher.run_due()
    assert len(services.received("slack")) == 2
    clock.now = AT + 600  # ten minutes after "a" left: one slot
    await rig.dispatcher.run_due()
    texts = [r.json()["text"] for r in services.received("slack")]
    assert texts[2].startswith("STORM 3 changes — 3 DOWN — c, d, e")
