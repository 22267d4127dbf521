"""What an incremental pass does with a fleet that changes little (issue 15): it reads back no
runs of checks that are UP and cannot flap, and sweeps for silent checks and agents only when
one may have fallen silent, deciding what a full pass decides all the same. Real SQLite stores;
the store's `runs` and the evaluator's sweep are wrapped only to count what they are asked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from slawatch.collector.alerts.evaluator import Evaluator
from slawatch.collector.alerts.outbox import Outbox
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import AlertChanges, Store, create_store
from slawatch.config.loader import parse_config
from slawatch.config.schema import Config
from tests.unit.test_alert_evaluator import T0, Clock

CHECKS = [f"c{number:02d}" for number in range(30)]


def config(tmp_path: Path, rule: str, checks: str = "") -> Config:
    text = f"""
collector:
  listen: "127.0.0.1:0"
  public_url: "https://sla.example.com"
{checks}alerts:
  group_window: 0s
  channels:
    - {{id: tickets, type: webhook, url: "https://tickets.example/hook", secret: s3cret}}
  rules:
    - {rule}
"""
    return parse_config(text, base_dir=tmp_path, process="collector")


def row(check: str, ts: float, ok: bool, interval_s: float = 10.0) -> SampleRow:
    return SampleRow(round(ts * 1000), ok, 12.0 if ok else None, round(interval_s * 1000),
                     200 if ok else 503, None if ok else "status 503",
                     None, None, None, None, None, None, check, "http")  # fmt: skip


class Counted:
    """The checks each call of the store's `runs` asked for."""

    def __init__(self, store: Store) -> None:
        self.asked: list[set[str]] = []
        read = store.runs

        async def runs(checks: Sequence[str], start_ms: int, end_ms: int):  # type: ignore[no-untyped-def]
            self.asked.append(set(checks))
            return await read(checks, start_ms, end_ms)

        store.runs = runs  # type: ignore[method-assign]

    def take(self) -> set[str]:
        found = set().union(*self.asked) if self.asked else set()
        self.asked.clear()
        return found


async def push(store: Store, judge: Evaluator, rows: list[SampleRow], agent: str = "eu-1") -> None:
    """Ingest, and tell the evaluator as the collector's ingest does."""
    now_ms = max(r.ts_ms for r in rows)
    result = await store.ingest(agent, rows, labels=None, now_ms=now_ms)
    oldest: dict[tuple[str, str], int] = {}
    for r in rows:
        oldest[(r.check, agent)] = min(r.ts_ms, oldest.get((r.check, agent), r.ts_ms))
    judge.touch(result.checks, oldest)


def kinds(changes: AlertChanges) -> list[tuple[str, str]]:
    """(kind, check or agent) of each notification decided."""
    found = []
    for notification in changes.notifications:
        fields = json.loads(notification.event)["fields"]
        about = fields["subject"]["fields"]["id"] if "subject" in fields else fields["agent"]
        found.append((notification.kind, about))
    return sorted(found)


async def test_up_checks_are_not_read_back_unless_a_rule_may_see_them_flap(
    store: Store, tmp_path: Path
) -> None:
    clock = Clock(T0 + 60)
    settings = config(tmp_path, "{checks: ['c*'], channels: [tickets], after: 0s, flapping: false}")
    judge = Evaluator(store, settings, Outbox(store, settings.alerts, clock=clock),
                      clock=clock, incremental=True)  # fmt: skip
    counted = Counted(store)
    await push(store, judge, [row(c, T0 + t, True) for c in CHECKS for t in range(0, 61, 10)])
    assert kinds(await judge.evaluate(budgets=False)) == []
    assert counted.take() == set()  # UP for a minute, no flapping rule: nothing to read back

    clock.now = T0 + 71
    await push(store, judge, [row(c, T0 + 70, c != "c07") for c in CHECKS])
    assert kinds(await judge.evaluate(budgets=False)) == [("down", "c07")]
    assert counted.take() == {"c07"}

    clock.now = T0 + 81
    await push(store, judge, [row(c, T0 + 80, True) for c in CHECKS])
    assert kinds(await judge.evaluate(budgets=False)) == [("resolved", "c07")]
    assert counted.take() == {"c07"}


async def test_a_rule_that_detects_flapping_still_reads_the_recent_changes(
    store: Store, tmp_path: Path
) -> None:
    clock = Clock(T0 + 60)
    rule = "{checks: ['c*'], channels: [tickets], after: 0s}"  # flapping detected by default
    settings = config(tmp_path, rule)
    judge = Evaluator(store, settings, Outbox(store, settings.alerts, clock=clock),
                      clock=clock, incremental=True)  # fmt: skip
    counted = Counted(store)
    await push(store, judge, [row(c, T0 + t, True) for c in CHECKS for t in range(0, 61, 10)])
    await judge.evaluate(budgets=False)
    assert counted.take() == set(CHECKS)  # UP for a minute only: the flapping window needs them

    # Runs that only grow by newer samples (same start, same state) are not read back again,
    # until a minute after they were judged (the schedule's safety net)...
    for second in range(61, 120):
        clock.now = T0 + second
        if second % 10 == 0:
            await push(store, judge, [row(c, T0 + second, True) for c in CHECKS])
        assert kinds(await judge.evaluate(budgets=False)) == []
        assert counted.take() == set(), second
    clock.now = T0 + 120
    await push(store, judge, [row(c, T0 + 120, True) for c in CHECKS])
    await judge.evaluate(budgets=False)
    assert counted.take() == set(CHECKS)
    # ... but a change is, and the flapping it makes is told.
    decided = []
    for second in range(130, 180, 10):  # five changes within the window
        clock.now = T0 + second + 1
        await push(
            store, judge, [row(c, T0 + second, c != "c03" or second % 20 == 0) for c in CHECKS]
        )
        decided += kinds(await judge.evaluate(budgets=False))
        assert counted.take() == {"c03"}
    assert ("flapping", "c03") in decided, decided


async def test_silent_checks_and_agents_are_swept_for_only_when_one_may_be(
    tmp_path: Path,
) -> None:
    """A full and an incremental evaluator, each on its own store, see the same pushes and are
    evaluated every second for 12 minutes: checks stop one after another (configured ones,
    and ones known only from samples, one of which shortens its interval), an agent stops
    pushing, then comes back. They decide the same, and the incremental one sweeps far less."""
    clock = Clock(T0)
    checks = "checks:\n" + "".join(
        f"  - {{id: k{n}, url: 'http://127.0.0.1:1/', interval: {5 * (n + 1)}s}}\n"
        for n in range(3)
    )
    rule = "{checks: ['*'], channels: [tickets], after: 0s, flapping: false}"
    evaluators: list[Evaluator] = []
    stores: list[Store] = []
    for name in ("full", "incremental"):
        place = tmp_path / name
        place.mkdir()
        settings = config(place, rule, checks)
        store = create_store(place / "collector.db")
        await store.open()
        stores.append(store)
        evaluators.append(Evaluator(store, settings, Outbox(store, settings.alerts, clock=clock),
                                    clock=clock, incremental=name == "incremental"))  # fmt: skip
    full, incremental = evaluators
    sweeps = 0
    sweep = incremental.silences.sweep

    def counted_sweep(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal sweeps
        sweeps += 1
        sweep(*args, **kwargs)

    incremental.silences.sweep = counted_sweep  # type: ignore[method-assign]
    # (check, agent, interval s, probing from, probing until) in seconds after T0
    plan = [
        ("k0", "eu-1", 5, 0, 200),
        ("k1", "eu-1", 10, 0, 400),
        ("k2", "us-1", 15, 0, 300),  # us-1 stops pushing at 300 s, back at 600 s
        ("k2", "us-1", 15, 600, 720),
        ("s0", "eu-1", 30, 0, 720),
        ("s1", "eu-1", 60, 0, 250),  # known from samples only: its interval shortens at 250 s
        ("s1", "eu-1", 5, 250, 330),
    ]
    decided: list[list[tuple[str, str]]] = [[], []]
    try:
        for second in range(721):
            clock.now = T0 + second
            for agent in ("eu-1", "us-1"):
                rows = [
                    row(check, T0 + second, True, interval)
                    for check, owner, interval, start, end in plan
                    if owner == agent and start <= second < end and (second - start) % interval == 0
                ]
                if rows:
                    for judge in evaluators:
                        await push(judge.store, judge, rows, agent)
            expected = kinds(await full.evaluate(budgets=False))
            assert kinds(await incremental.evaluate(budgets=False)) == expected, second
            decided[0] += expected
    finally:
        for store in stores:
            await store.close()
    told = {kind for kind, _ in decided[0]}
    assert {"no_data", "agent_silent"} <= told, decided[0]
    assert ("no_data", "s1") in decided[0]  # silent 10 s after its last sample (2 × 5 s)
    assert sweeps < 721 / 10, sweeps  # 17 when written: one a minute at least, and when due
