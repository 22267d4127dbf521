"""Storms: state changes within a channel's group window leave as one message; the rate limit
on top makes the excess wait and leave grouped, never dropped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from collector.alerts.events import Down, Subject
from collector.alerts.storms import Held, Release, plan_release
from collector.store import Store
from config.schema import AlertsConfig, RateLimit
from tests.chat_services import SINCE, ChatServices, running_chat_services, slack_block_problems
from tests.unit.test_alert_outbox import Clock, Rig, down, resolved

SECOND = 1000


def held(seq: int, created_ms: int) -> Held:
    return Held(seq, created_ms, Down(f"n{seq}", 0.0, Subject("check", f"c{seq}"), 0.0))


# ------------------------------------------------------------------------------------ plan


def test_nothing_leaves_before_the_window_closes() -> None:
    waiting = [held(1, 1_000), held(2, 20_000)]
    assert plan_release(waiting, 30_999, window_ms=30_000, rate_limit=None) == Release(
        look_again_ms=31_000
    )
    release = plan_release(waiting, 31_000, window_ms=30_000, rate_limit=None)
    assert release == Release((tuple(waiting),))
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


@pytest.fixture
async def services() -> AsyncIterator[ChatServices]:
    async with running_chat_services() as running:
        yield running


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "collector.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


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
    await rig.decide(*(down(f"check-{i:03d}", channels=("ops", "dc")) for i in range(150)))
    clock.now += 10
    await rig.decide(*(down(f"check-{i:03d}", channels=("ops", "dc")) for i in range(150, 200)))
    clock.now += 19.999
    assert await rig.dispatcher.run_due() == 0
    assert services.requests == []
    clock.now += 0.001  # 30 s after the first change
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


async def test_one_change_in_its_window_goes_alone(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    rig = rig_for(store, services, session, clock)
    await rig.decide(down("web"))
    clock.now += 30
    await rig.dispatcher.run_due()
    (message,) = services.received("slack")
    assert message.json()["text"].startswith("DOWN web")


async def test_a_resolved_within_the_window_replaces_its_down(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    rig = rig_for(store, services, session, clock)
    await rig.decide(down("web"), down("db"))
    clock.now += 5
    await rig.decide(resolved("web", since=SINCE))
    clock.now += 25
    await rig.dispatcher.run_due()
    (message,) = services.received("slack")
    lines = [b["text"]["text"] for b in message.json()["blocks"] if b["type"] == "section"]
    listed = "\n".join(lines)
    assert "RESOLVED web" in listed and "DOWN db" in listed and "DOWN web" not in listed


async def test_past_the_rate_limit_changes_wait_and_leave_grouped(
    store: Store, services: ChatServices, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    rig = rig_for(store, services, session, clock, RateLimit(messages=2, per=600))
    for name in ("a", "b", "c", "d", "e"):
        await rig.decide(down(name))
        clock.now += 30
        await rig.dispatcher.run_due()
    texts = [r.json()["text"].split(" — ")[0] for r in services.received("slack")]
    assert texts == ["DOWN a", "DOWN b"]
    assert [row.status for row in await rig.rows("ops")][-3:] == ["held"] * 3
    clock.now += 600 - 4 * 30 - 1
    await rig.dispatcher.run_due()
    assert len(services.received("slack")) == 2
    clock.now += 1  # ten minutes after "a" left: one slot
    await rig.dispatcher.run_due()
    texts = [r.json()["text"] for r in services.received("slack")]
    assert texts[2].startswith("STORM 3 changes — 3 DOWN — c, d, e")
