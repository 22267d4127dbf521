"""Properties of the alerts over random sample sequences (issue 14), on the real evaluator and a
real SQLite store: flapping, maintenance, min_downtime, quorum, `after` and `resolve_after` all
drawn at random. Whatever happens:

- every `resolved` tells a stretch that was DOWN: DOWN at `down_since`, never UP for
  `resolve_after` (at all, when it is 0) before `up_since`, UP from `up_since` on;
- every `resolved` closes a `down` decided before it, and a `down` has at most one `resolved`;
- every `down` starts where a DOWN stretch of its target starts, `after` before it was decided.

Samples are pushed as the agents probe, at their timestamps, so what the evaluator knew at each
instant is what the final data says about that instant: the properties are checked against the
SLA engine's timeline of all the data. Bounded: a few dozen examples of at most 40 steps.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from slawatch.collector.alerts.evaluator import Evaluator
from slawatch.collector.alerts.events import Down, Event, Resolved
from slawatch.collector.alerts.formats import rfc3339
from slawatch.collector.alerts.outbox import Outbox, decode_event
from slawatch.collector.alerts.targets import Target
from slawatch.collector.engine.service_timeline import Segment, service_timeline
from slawatch.collector.engine.states import State
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Store, create_store
from slawatch.config.loader import parse_config
from tests.unit.test_alert_evaluator import T0, Clock

STEP_S = 5
AGENTS = ("a", "b", "c")
Step = tuple[bool | None, ...]
"""What each agent saw at one step: up, down, or nothing (no sample)."""

pytestmark = pytest.mark.slow


@dataclass(frozen=True, slots=True)
class Scenario:
    agents: int
    quorum: str
    on_sla: bool
    min_downtime: int
    maintenance: tuple[int, int] | None
    """(first step, steps) of a maintenance window of the SLA."""
    after: int
    resolve_after: int
    flapping: tuple[int, int, int] | None
    """(changes, window, settle) in seconds; None: no flap detection."""
    steps: tuple[Step, ...]

    def config(self, folder: Path) -> str:
        maintenance = ""
        if self.maintenance is not None:
            first, length = self.maintenance
            start, end = (rfc3339(T0 + step * STEP_S) for step in (first, first + length))
            maintenance = f"    maintenance: [{{start: {start}, end: {end}}}]\n"
        if self.flapping is None:
            flapping = "false"
        else:
            changes, window, settle = self.flapping
            flapping = f"{{changes: {changes}, window: {window}s, settle: {settle}s}}"
        watched = "slas: [shop]" if self.on_sla else "checks: [web]"
        return f"""
collector:
  listen: 127.0.0.1:0
  database: {folder / "collector.db"}
  customers: [{{id: acme}}]
checks:
  - {{id: web, url: "http://127.0.0.1:1/", interval: {STEP_S}s, quorum: {self.quorum}}}
slas:
  - id: shop
    customer: acme
    checks: [web]
    objective: 99.9
    quorum: {self.quorum}
    min_downtime: {self.min_downtime}s
{maintenance}alerts:
  group_window: 0s
  channels:
    - {{id: tickets, type: webhook, url: "https://tickets.example/hook", secret: s3cret}}
  rules:
    - {{{watched}, channels: [tickets], after: {self.after}s, resolve_after: {self.resolve_after}s,
        repeat: 30s, burn_rate: false, flapping: {flapping}}}
"""


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    agents = draw(st.integers(1, 3))
    overall = st.sampled_from(["up", "down", "mixed", "gap"])
    steps: list[Step] = []
    for kind, length in draw(st.lists(st.tuples(overall, st.integers(1, 4)), min_size=2,
                                      max_size=16)):  # fmt: skip
        for _ in range(length):
            if kind == "mixed":
                seen = draw(st.lists(st.sampled_from([True, False, None]), min_size=agents,
                                     max_size=agents))  # fmt: skip
                steps.append(tuple(seen))
            else:
                steps.append(tuple([{"up": True, "down": False, "gap": None}[kind]] * agents))
    flapping = st.sampled_from([None, (2, 30, 10), (2, 60, 20), (3, 60, 20), (3, 120, 40),
                                (4, 120, 10)])  # fmt: skip
    return Scenario(
        agents=agents,
        quorum=draw(st.sampled_from(["any", "majority", "all", "2"])),
        on_sla=draw(st.booleans()),
        min_downtime=draw(st.sampled_from([0, 10, 30])),
        maintenance=draw(st.none() | st.tuples(st.integers(0, 30), st.integers(1, 12))),
        after=draw(st.sampled_from([0, 5, 12])),
        resolve_after=draw(st.sampled_from([0, 5, 15])),
        flapping=draw(flapping),
        steps=tuple(steps[:40]),
    )


def row(ts: float, ok: bool) -> SampleRow:
    return SampleRow(round(ts * 1000), ok, 12.0 if ok else None, STEP_S * 1000,
                     200 if ok else None, None if ok else "HTTP 503", None, None, None, None,
                     None, None, "web", "http")  # fmt: skip


async def play(scenario: Scenario, folder: Path) -> tuple[list[Event], Target, Store]:
    """Every event decided while the agents probe `scenario.steps`, evaluated at each step and
    between two (the timer)."""
    config = parse_config(scenario.config(folder), base_dir=folder, process="collector")
    clock = Clock(T0)
    store = create_store(folder / "collector.db")
    await store.open()
    judge = Evaluator(store, config, Outbox(store, config.alerts, clock=clock), clock=clock)
    sla = config.sla("shop")
    assert sla is not None
    target = judge.watch.sla_target(sla) if scenario.on_sla else judge.watch.check_target("web")
    decided: list[Event] = []
    for index, step in enumerate(scenario.steps):
        ts = T0 + index * STEP_S
        for agent, ok in zip(AGENTS, step, strict=False):
            if ok is not None:
                await store.ingest(agent, [row(ts, ok)], labels=None, now_ms=round(ts * 1000))
        for now in (ts, ts + STEP_S / 2):
            clock.now = now
            changes = await judge.evaluate(budgets=False)
            decided.extend(decode_event(n.event) for n in changes.notifications)
    return decided, target, store


def check_properties(
    events: list[Event], segments: tuple[Segment, ...], scenario: Scenario
) -> None:
    def at(instant_ms: int) -> Segment:
        return next(s for s in segments if s.start_ms <= instant_ms < s.end_ms)

    downs = [e for e in events if isinstance(e, Down)]
    for down in downs:
        since_ms = round(down.since * 1000)
        assert at(since_ms).state is State.DOWN and at(since_ms).start_ms == since_ms, down
        assert down.at - down.since >= scenario.after, down
    resolved = [e for e in events if isinstance(e, Resolved)]
    for up in resolved:
        start_ms, end_ms = round(up.down_since * 1000), round(up.up_since * 1000)
        assert at(start_ms).state is State.DOWN, up
        assert end_ms <= round(up.at * 1000), up
        recovery = at(end_ms)
        assert recovery.state is State.UP and recovery.start_ms == end_ms, up
        held_ms = min(recovery.end_ms, round(up.at * 1000)) - end_ms
        assert held_ms >= scenario.resolve_after * 1000, up
        for segment in segments:
            if start_ms < segment.start_ms < end_ms and segment.state is State.UP:
                assert segment.duration_ms < scenario.resolve_after * 1000, (up, segment)
        assert any(d.since == up.down_since and d.at <= up.at for d in downs), up
    per_down = Counter(up.down_since for up in resolved)
    assert all(count == 1 for count in per_down.values()), per_down


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_resolved_tells_a_real_outage(scenario: Scenario) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as folder:
            events, target, store = await play(scenario, Path(folder))
            try:
                end_ms = round((T0 + len(scenario.steps) * STEP_S) * 1000)
                runs = await store.runs(["web"], round(T0 * 1000), end_ms)
            finally:
                await store.close()
        timeline = service_timeline(target.sweep, runs, round(T0 * 1000), end_ms)
        for kind in sorted({e.kind for e in events}):
            event(f"decided {kind}")
        check_properties(events, timeline.segments, scenario)

    asyncio.run(run())
