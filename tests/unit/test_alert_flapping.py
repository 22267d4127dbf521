"""Flap detection: changes counted from a target's segments, flapping within the window, settled
after the quiet time; and the evaluator turning rapid cycles into one message until it settles."""

from __future__ import annotations

from pathlib import Path

from slawatch.collector.alerts import flapping
from slawatch.collector.alerts.evaluator import AlertState
from slawatch.collector.alerts.outbox import decode_event
from slawatch.collector.engine.service_timeline import Segment
from slawatch.collector.engine.states import State
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Store
from slawatch.config.loader import parse_config
from slawatch.config.schema import FlappingSettings
from tests.unit.test_alert_evaluator import (
    CONFIG,
    T0,
    Clock,
    evaluator,
    notifications,
    probe,
)

UP, DOWN, UNKNOWN = State.UP, State.DOWN, State.UNKNOWN
SETTINGS = FlappingSettings(changes=3, window=600, settle=300)


def every_5s(ts: float, ok: bool) -> SampleRow:
    """A sample of `web` by an agent probing every 5 s."""
    return SampleRow(round(ts * 1000), ok, 12.0 if ok else None, 5000, 200 if ok else None,
                     None if ok else "HTTP 503", None, None, None, None, None, None, "web",
                     "http")  # fmt: skip


def segments(*parts: tuple[int, int, State]) -> list[Segment]:
    return [Segment(start, end, state) for start, end, state in parts]


def test_changes_look_through_unknown() -> None:
    timeline = segments(
        (0, 10, UP), (10, 20, DOWN), (20, 30, UNKNOWN), (30, 40, DOWN), (40, 50, UNKNOWN),
        (50, 60, UP), (60, 70, DOWN),
    )  # fmt: skip
    assert flapping.changes(timeline) == [10, 50, 60]
    assert flapping.changes(segments((0, 5, UNKNOWN), (5, 9, DOWN))) == []


def test_detect_counts_changes_within_the_window() -> None:
    changes = [150_000, 400_000, 650_000, 690_000]
    assert flapping.detect(changes, 690_000, SETTINGS) == flapping.Flap(4, 150_000)
    assert flapping.detect(changes, 750_001, SETTINGS) == flapping.Flap(3, 400_000)
    assert flapping.detect(changes, 1_000_001, SETTINGS) is None  # 400 s left the window
    assert flapping.detect(changes[:2], 400_000, SETTINGS) is None


def test_settled_after_the_quiet_time() -> None:
    changes = [100_000, 400_000]
    assert not flapping.settled(changes, 699_999, SETTINGS)
    assert flapping.settled(changes, 700_000, SETTINGS)
    assert flapping.settled([], 0, SETTINGS)


async def test_rapid_cycles_make_one_flapping_message_until_settled(
    store: Store, tmp_path: Path
) -> None:
    rules = (
        "    - checks: [web]\n      channels: [ops]\n      events: [down, resolved, flapping]\n"
        "      flapping: {changes: 4, window: 5m, settle: 3m}\n"
    )
    config = parse_config(CONFIG + rules, base_dir=tmp_path, process="collector")
    clock = Clock()
    judge = evaluator(store, config, clock)

    async def phase(seconds: float, ok: bool) -> None:
        await probe(store, clock, clock.now + seconds, ok=ok)
        await judge.evaluate()
        for row in await notifications(store):  # delivered at once: nothing merges
            if row.status == "held":
                await store.notification_sent(row.seq, row.created_ms, attempts=1, status=200)

    await phase(30, True)
    for _ in range(5):
        await phase(30, False)
        await phase(30, True)
    await phase(30, False)
    assert await changes(store) == ["down", "resolved", "down", "resolved", "flapping"]
    rows = await notifications(store)
    second = decode_event(rows[3].event)  # the outage open when it began to flap: its own end
    assert (second.down_since, second.up_since) == (T0 + 90, T0 + 120)  # type: ignore[union-attr]
    flap = decode_event(rows[4].event)
    assert flap.changes == 4 and flap.window_s == 300  # type: ignore[union-attr]
    assert flap.since == T0 + 30  # type: ignore[union-attr]
    await phase(170, True)  # UP, but changes still within the settle time
    assert len(await changes(store)) == 5
    await phase(30, True)
    assert await changes(store) == [
        "down", "resolved", "down", "resolved", "flapping", "flapping_ended"
    ]  # fmt: skip
    ended = decode_event((await notifications(store))[-1].event)
    assert (ended.state, ended.since) == ("up", T0 + 360)  # type: ignore[union-attr]
    assert ended.flapping_since == T0 + 30  # type: ignore[union-attr]
    assert await store.open_alerts() == []


async def changes(store: Store) -> list[str]:
    """The kinds decided, each once (a storm's grouped message lists changes decided apart)."""
    return [row.kind for row in await notifications(store) if row.kind != "grouped"]


async def test_flapping_that_settles_down_sends_down(store: Store, tmp_path: Path) -> None:
    rules = (
        "    - checks: [web]\n      channels: [ops]\n      after: 1m\n"
        "      events: [down, resolved, flapping]\n"
        "      flapping: {changes: 3, window: 5m, settle: 2m}\n"
    )
    config = parse_config(CONFIG + rules, base_dir=tmp_path, process="collector")
    clock = Clock()
    judge = evaluator(store, config, clock)
    await probe(store, clock, T0 + 20, ok=True)
    for _ in range(2):  # each outage shorter than `after`: no down, but flapping
        await probe(store, clock, clock.now + 20, ok=False)
        await judge.evaluate()
        await probe(store, clock, clock.now + 20, ok=True)
        await judge.evaluate()
    assert [row.kind for row in await notifications(store)] == ["flapping"]
    down_since = clock.now
    await probe(store, clock, clock.now + 110, ok=False)
    await judge.evaluate()
    assert [row.kind for row in await notifications(store)] == ["flapping"]
    await probe(store, clock, clock.now + 20, ok=False)
    await judge.evaluate()
    assert await changes(store) == ["flapping", "flapping_ended", "down"]
    rows = await notifications(store)
    assert decode_event(rows[2].event).since == down_since  # type: ignore[union-attr]
    ended = decode_event(rows[1].event)
    assert (ended.state, ended.since) == ("down", down_since)  # type: ignore[union-attr]


async def test_a_rule_that_does_not_send_flapping_does_not_detect_it(
    store: Store, tmp_path: Path
) -> None:
    rules = (
        "    - checks: [web]\n      channels: [ops]\n      after: 1m\n"
        "      events: [down, resolved]\n"
        "      flapping: {changes: 3, window: 5m, settle: 2m}\n"
    )
    config = parse_config(CONFIG + rules, base_dir=tmp_path, process="collector")
    clock = Clock()
    judge = evaluator(store, config, clock)
    await probe(store, clock, T0 + 20, ok=True)
    for _ in range(3):  # outages shorter than `after`: nothing to say
        await probe(store, clock, clock.now + 20, ok=False)
        await judge.evaluate()
        await probe(store, clock, clock.now + 20, ok=True)
        await judge.evaluate()
    clock.now += 600
    await probe(store, clock, clock.now + 20, ok=True)
    await judge.evaluate()
    assert await notifications(store) == []
    assert await store.open_alerts() == []


def test_changes_before_the_last_settle_no_longer_count() -> None:
    changes = [100_000, 150_000, 200_000]
    assert flapping.detect(changes, 250_000, SETTINGS) == flapping.Flap(3, 100_000)
    assert flapping.detect(changes, 500_000, SETTINGS) is None  # quiet for `settle`: settled
    later = [*changes, 520_000, 540_000]  # all within the window, but it settled in between
    assert flapping.detect(later, 540_000, SETTINGS) is None
    assert flapping.detect([*later, 560_000], 560_000, SETTINGS) == flapping.Flap(3, 520_000)


async def test_no_second_flapping_message_once_settled(store: Store, tmp_path: Path) -> None:
    """The settle time is shorter than the window: the changes that made the first message are
    still inside the window after it settled, and must not make a second one."""
    rules = (
        "    - checks: [web]\n      channels: [ops]\n      after: 0s\n"
        "      events: [down, resolved, flapping]\n"
        "      flapping: {changes: 4, window: 10m, settle: 1m}\n"
    )
    config = parse_config(CONFIG + rules, base_dir=tmp_path, process="collector")
    clock = Clock()
    judge = evaluator(store, config, clock)
    await probe(store, clock, T0 + 20, ok=True)
    for ok in (False, True, False, True, False, True):
        await probe(store, clock, clock.now + 20, ok=ok)
        await judge.evaluate()
    kinds = await changes(store)
    assert kinds == ["down", "resolved", "down", "resolved", "flapping"]
    for _ in range(8):  # UP and quiet: settles after 1 m, then stays quiet for good
        await probe(store, clock, clock.now + 20, ok=True)
        await judge.evaluate()
    assert await changes(store) == [*kinds, "flapping_ended"]
    assert await store.open_alerts() == []


async def test_the_end_of_a_flapping_episode_is_no_recovery(store: Store, tmp_path: Path) -> None:
    """Issue 14's minimal case: three agents every 5 s; a real outage (down, resolved), then the
    check flaps without any outage long enough for `after`. The episode ends as "stopped
    flapping", never as a RESOLVED of an outage that did not happen."""
    rules = (
        "    - checks: [web]\n      channels: [tickets]\n      after: 12s\n"
        "      flapping: {changes: 4, window: 2m, settle: 20s}\n"
    )
    config = parse_config(CONFIG + rules, base_dir=tmp_path, process="collector")
    clock = Clock()
    judge = evaluator(store, config, clock)
    states = [True] + [False] * 4 + [True, False, True, False, True] + [True] * 8
    for step, ok in enumerate(states):
        ts = T0 + 5 * step
        for agent in ("eu-1", "us-1", "ap-1"):
            row = every_5s(ts, ok)
            await store.ingest(agent, [row], labels=None, now_ms=round(ts * 1000))
        clock.now = ts
        await judge.evaluate(budgets=False)
    rows = await notifications(store, channel="tickets")
    assert [row.kind for row in rows] == ["down", "resolved", "flapping", "flapping_ended"]
    down, resolved, flap, ended = (decode_event(row.event) for row in rows)
    assert down.since == T0 + 5  # type: ignore[union-attr]
    assert (resolved.down_since, resolved.up_since) == (T0 + 5, T0 + 25)  # type: ignore[union-attr]
    assert flap.since == T0 + 25  # type: ignore[union-attr]
    assert ended.state == "up" and ended.since == T0 + 45  # type: ignore[union-attr]
    assert await store.open_alerts() == []


def test_open_alerts_stored_before_episodes_and_outages_were_told_apart() -> None:
    """A flapping episode opened with no outage was stored with its first change as its run:
    read back, it is an episode (ends as flapping_ended); an outage that began to flap later
    stays an outage (its recovery is still told)."""
    episode = AlertState.from_json(
        '{"error": null, "flapping_since_ms": 5000, "last_sent_ms": 9000, "reminders": 0,'
        ' "run_ms": 5000}'
    )
    assert episode.outage is False
    outage = AlertState.from_json(
        '{"error": "HTTP 503", "flapping_since_ms": 7000, "last_sent_ms": 9000,'
        ' "reminders": 1, "run_ms": 5000}'
    )
    assert outage.outage is True
    assert AlertState.from_json(outage.to_json()) == outage
