"""An incremental pass decides exactly what a full pass decides (issue 15).

Two evaluators, each on its own real SQLite store, see the same samples: one judges every
target on every pass, the other (`incremental=True`, told of each ingest as the collector's
ingest tells it) only the targets whose inputs changed or whose time came. Evaluated at the
same random instants (within steps and across gaps where nothing arrives), they must decide the
same notifications and open and close the same alerts, pass after pass. The scenarios are those
of `test_alert_properties` (quorum, flapping, maintenance, `after`, `resolve_after`, `repeat`,
SLA and check targets). Bounded: a few dozen examples.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slawatch.collector.alerts.evaluator import Evaluator
from slawatch.collector.alerts.outbox import Outbox, decode_event
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import AlertChanges, Store, create_store, settling
from slawatch.config.loader import parse_config
from tests.unit.test_alert_evaluator import INTERVAL, T0, Clock, config_with, sample
from tests.unit.test_alert_properties import AGENTS, STEP_S, Scenario, row, scenarios

pytestmark = pytest.mark.slow


def decided(changes: AlertChanges) -> tuple[object, ...]:
    """What a pass decided, without the links (signed with each store's own key)."""
    notifications = []
    for n in changes.notifications:
        event = json.loads(n.event)
        event["fields"].pop("link", None)
        notifications.append((n.channel, n.id, n.kind, json.dumps(event, sort_keys=True)))
    opened = sorted((a.rule, a.subject, a.topic, a.state) for a in changes.opened)
    return tuple(notifications), tuple(opened), tuple(sorted(changes.closed))


async def compare(scenario: Scenario, instants: list[list[int]], folder: Path) -> int:
    """Plays the scenario on both evaluators; returns how many passes decided something."""
    clock = Clock(T0)
    evaluators = []
    for name in ("full", "incremental"):
        place = folder / name
        place.mkdir()
        config = parse_config(scenario.config(place), base_dir=place, process="collector")
        store = create_store(place / "collector.db")
        await store.open()
        outbox = Outbox(store, config.alerts, clock=clock)
        evaluators.append(
            Evaluator(store, config, outbox, clock=clock, incremental=name == "incremental")
        )
    full, incremental = evaluators
    busy = 0
    try:
        for index, step in enumerate(scenario.steps):
            ts = T0 + index * STEP_S
            clock.now = ts
            for agent, ok in zip(AGENTS, step, strict=False):
                if ok is not None:
                    for judge in evaluators:
                        await judge.store.ingest(
                            agent, [row(ts, ok)], labels=None, now_ms=round(ts * 1000)
                        )
                    # as the collector's ingest tells it: the checks, and their oldest samples
                    incremental.touch(["web"], {("web", agent): round(ts * 1000)})
            for offset_ms in instants[index]:
                clock.now = ts + offset_ms / 1000
                expected = decided(await full.evaluate(budgets=False))
                assert decided(await incremental.evaluate(budgets=False)) == expected, (
                    index,
                    offset_ms,
                )
                busy += any(expected)
    finally:
        for judge in evaluators:
            await judge.store.close()
    return busy


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), data=st.data())
def test_an_incremental_pass_decides_what_a_full_pass_decides(
    scenario: Scenario, data: st.DataObject
) -> None:
    # Per step, when it is evaluated (ms after the step's samples): several times, or not at all.
    offsets = st.lists(st.integers(0, STEP_S * 1000 - 1), max_size=3, unique=True).map(sorted)
    instants = [data.draw(offsets) for _ in scenario.steps]

    async def run() -> None:
        with tempfile.TemporaryDirectory() as folder:
            await compare(scenario, instants, Path(folder))

    asyncio.run(run())


def test_an_agent_going_silent_between_two_passes_is_judged_while_the_others_runs_only_grew(
    tmp_path: Path,
) -> None:
    """Found by the property above: agents a and c DOWN, their runs only growing from one pass
    to the next, while b's coverage ended between the two passes (it sent nothing): the check
    is DOWN by quorum `all` at the second pass, and the incremental pass must see it."""
    up = (True, True, True)
    steps = (up,) * 30 + ((True, True, False), (False, None, None), (False, None, False), up, up)
    scenario = Scenario(agents=3, quorum="all", on_sla=False, min_downtime=0, maintenance=None,
                        after=0, resolve_after=0, flapping=None, steps=steps)  # fmt: skip
    instants: list[list[int]] = [[] for _ in steps]
    instants[31] = instants[32] = [1]
    assert asyncio.run(compare(scenario, instants, tmp_path)) == 1  # the `down`, on both


async def test_a_pass_ahead_of_a_merge_judges_its_checks_again_once_the_merge_has_ended(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A late sample that changes no last run (one UP probe inside a stored outage: two more
    changes, flapping) is judged by the pass after the merge, woken by it."""
    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 3600)  # merged by a read only, not the timer
    rule = (
        "    - checks: [web]\n      channels: [ops]\n      events: [flapping]\n"
        "      flapping: {changes: 4, window: 10m, settle: 5m}\n"
    )
    config = config_with(rule, tmp_path)
    clock = Clock(T0 + 300)
    judge = Evaluator(
        store, config, Outbox(store, config.alerts, clock=clock), clock=clock, incremental=True
    )
    woken = asyncio.Event()

    async def push(rows: list[SampleRow]) -> None:
        await store.ingest("eu-1", rows, labels=None, now_ms=round(clock.now * 1000))
        judge.touch(["web"], {("web", "eu-1"): min(r.ts_ms for r in rows)})  # as the ingest does

    await push([sample(T0 + s, not 100 <= s < 200) for s in range(0, 300, int(INTERVAL))])
    assert not (await judge.evaluate(read_ahead=woken.set)).notifications  # two changes
    await push([sample(T0 + 145, True)])  # set aside: the merge is due
    clock.now += 1
    assert not (await judge.evaluate(read_ahead=woken.set)).notifications  # read ahead of it
    assert not woken.is_set()
    await store.runs(["web"], 0, round(clock.now * 1000))  # another reader: merged
    await asyncio.wait_for(woken.wait(), 10)
    clock.now += 1
    changes = await judge.evaluate(read_ahead=woken.set)
    assert [decode_event(n.event).kind for n in changes.notifications] == ["flapping"]
