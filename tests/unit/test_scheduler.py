"""The scheduler on an event loop with a virtual clock: spacing, no overlap, skips, concurrency.

The loop's `time()` is virtual and jumps to the next timer whenever nothing is ready, so a minute
of schedule runs in milliseconds and every timing below is exact, not hoped for.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import selectors
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from slawatch.agent.metrics import AgentMetrics
from slawatch.agent.sample import ProbeResult, Sample
from slawatch.agent.scheduler import (
    STARTUP_SPREAD_S,
    Scheduler,
    first_slot,
    late_start_grace,
    stable_offset,
)
from slawatch.config.schema import Check, HttpTarget

T = TypeVar("T")
WALL_EPOCH = 1_800_000_000.0
"""Wall clock minus the virtual loop clock."""
EPS = 1e-6


class _TimeWarpSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            raise RuntimeError("virtual loop: nothing scheduled and nothing ready, forever")
        self._loop.now += timeout
        return events


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(selector=_TimeWarpSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(make: Callable[[VirtualClockLoop], Coroutine[Any, Any, T]]) -> T:
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(make(loop))
    finally:
        loop.close()


def check(check_id: str, interval: float) -> Check:
    return Check(
        id=check_id,
        type="http",
        target=HttpTarget(url="http://127.0.0.1:9/"),
        interval=interval,
        timeout=interval,
    )


@dataclass
class Run:
    check: str
    start: float
    end: float | None = None


class FakeProbe:
    """Takes the durations it is given (virtual seconds, cycled per check), records every run."""

    def __init__(self, loop: asyncio.AbstractEventLoop, durations: dict[str, list[float]]) -> None:
        self.loop = loop
        self.durations = durations
        self.runs: list[Run] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0

    async def __call__(self, target: Check) -> ProbeResult:
        run = Run(target.id, self.loop.time())
        runs_of_check = sum(1 for r in self.runs if r.check == target.id)
        durations = self.durations[target.id]
        self.runs.append(run)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(durations[runs_of_check % len(durations)])
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        run.end = self.loop.time()
        return ProbeResult(ok=True, latency_ms=(run.end - run.start) * 1000)


async def run_schedule(
    loop: VirtualClockLoop,
    checks: list[Check],
    probe: Callable[[Check], Awaitable[ProbeResult]],
    *,
    seconds: float,
    concurrency: int = 256,
    registry: CollectorRegistry | None = None,
) -> list[Sample]:
    samples: list[Sample] = []

    async def sink(sample: Sample) -> None:
        samples.append(sample)

    scheduler = Scheduler(
        checks,
        sink,
        probe=probe,
        concurrency=concurrency,
        metrics=AgentMetrics(registry or CollectorRegistry()),
        wall_clock=lambda: loop.time() + WALL_EPOCH,
    )
    await scheduler.start()
    await asyncio.sleep(seconds)
    await scheduler.stop()
    return samples


def grid_slot_at_or_before(target: Check, wall: float) -> float:
    offset = stable_offset(target.id, target.interval)
    return math.floor((wall - offset + EPS) / target.interval) * target.interval + offset


INTERVALS = st.sampled_from([0.3, 1.0, 2.0, 5.0])


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[Check], dict[str, list[float]]]:
    intervals = draw(st.lists(INTERVALS, min_size=1, max_size=4))
    checks = [check(f"check-{i}", interval) for i, interval in enumerate(intervals)]
    durations = {
        c.id: draw(
            st.lists(
                st.floats(min_value=0.0, max_value=3 * c.interval, allow_nan=False),
                min_size=1,
                max_size=12,
            )
        )
        for c in checks
    }
    return checks, durations


@settings(max_examples=60, deadline=None)
@given(schedules())
def test_runs_keep_their_grid_never_overlap_and_every_skip_is_counted(
    schedule: tuple[list[Check], dict[str, list[float]]],
) -> None:
    checks, durations = schedule
    registry = CollectorRegistry()

    async def scenario(loop: VirtualClockLoop) -> FakeProbe:
        probe = FakeProbe(loop, durations)
        await run_schedule(loop, checks, probe, seconds=40.0, registry=registry)
        return probe

    probe = run_virtual(scenario)
    for target in checks:
        grace = late_start_grace(target.interval)
        runs = [r for r in probe.runs if r.check == target.id]
        assert runs, "every check runs within 40 s"
        slots = [grid_slot_at_or_before(target, r.start + WALL_EPOCH) - WALL_EPOCH for r in runs]
        first = first_slot(target, WALL_EPOCH) - WALL_EPOCH
        assert abs(slots[0] - first) < EPS and abs(runs[0].start - first) < EPS
        expected_skips, borderline = 0, False
        for j, run in enumerate(runs):
            assert slots[j] - EPS <= run.start <= slots[j] + grace + EPS, "late by at most grace"
            if run.end is None:
                assert j == len(runs) - 1, "only the last run may be cut by stop()"
                break
            # The next slot is the first one after this run's that it ends no later than + grace.
            following = slots[j] + target.interval
            while run.end > following + grace + EPS:
                following += target.interval
                expected_skips += 1
            # Ending at `following + grace` to the last float bit may go either way.
            borderline = abs(run.end - (following + grace)) < EPS
            if j + 1 < len(runs):
                nxt = runs[j + 1]
                if borderline and abs(slots[j + 1] - following - target.interval) < EPS:
                    following += target.interval
                    expected_skips += 1
                assert nxt.start >= run.end - EPS, "a check never overlaps itself"
                assert abs(slots[j + 1] - following) < EPS, "no slot skipped without cause"
                assert abs(nxt.start - max(following, run.end)) < EPS, "runs start when allowed"
                assert nxt.start - run.start >= target.interval - grace - EPS
        skipped = registry.get_sample_value("slawatch_skipped_runs_total", {"check": target.id})
        assert (skipped or 0) in (expected_skips, expected_skips + borderline)


@settings(max_examples=40, deadline=None)
@given(schedules(), st.integers(min_value=1, max_value=3))
def test_concurrency_is_bounded_and_checks_still_never_overlap(
    schedule: tuple[list[Check], dict[str, list[float]]], concurrency: int
) -> None:
    checks, durations = schedule

    async def scenario(loop: VirtualClockLoop) -> tuple[FakeProbe, list[Sample]]:
        probe = FakeProbe(loop, durations)
        samples = await run_schedule(loop, checks, probe, seconds=30.0, concurrency=concurrency)
        return probe, samples

    probe, samples = run_virtual(scenario)
    assert probe.max_in_flight <= concurrency
    for target in checks:
        runs = [r for r in probe.runs if r.check == target.id]
        for before, after in itertools.pairwise(runs):
            assert before.end is not None and after.start >= before.end - EPS
        slots = [r.start for r in runs]
        assert slots == sorted(slots)
    finished = sorted((r.check, r.start + WALL_EPOCH) for r in probe.runs if r.end is not None)
    assert sorted((s.check, s.ts) for s in samples) == finished, "ts is the wall clock at start"


def test_a_long_interval_runs_soon_after_the_start_then_joins_its_grid() -> None:
    # An hourly check whose grid slot is far away: one run within STARTUP_SPREAD_S of the start,
    # then its stable grid (at least half an interval after that first run).
    hourly = next(c for i in range(100) if (c := check(f"hourly-{i}", 3600.0))
                  and first_slot(c, WALL_EPOCH) - WALL_EPOCH > 1800)  # fmt: skip
    probe_durations = {hourly.id: [0.5]}

    async def scenario(loop: VirtualClockLoop) -> FakeProbe:
        probe = FakeProbe(loop, probe_durations)
        await run_schedule(loop, [hourly], probe, seconds=3 * 3600.0)
        return probe

    runs = run_virtual(scenario).runs
    first = stable_offset(hourly.id, STARTUP_SPREAD_S)
    grid = first_slot(hourly, WALL_EPOCH) - WALL_EPOCH
    assert abs(runs[0].start - first) < EPS and runs[0].start <= STARTUP_SPREAD_S
    assert [round(r.start - grid, 6) for r in runs[1:]] == [0.0, 3600.0, 7200.0][: len(runs) - 1]
    assert len(runs) >= 3


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([11.0, 20.0, 60.0, 3600.0]), min_size=1, max_size=4),
    st.lists(st.floats(0.0, 3.0), min_size=1, max_size=6),
    st.floats(0.0, 7200.0),
)
def test_long_intervals_start_within_the_spread_then_keep_grid_and_spacing(
    intervals: list[float], factors: list[float], started: float
) -> None:
    checks = [check(f"long-{i}", interval) for i, interval in enumerate(intervals)]
    durations = {c.id: [f * c.interval for f in factors] for c in checks}

    async def scenario(loop: VirtualClockLoop) -> FakeProbe:
        loop.now = started  # a start anywhere in the checks' phase
        probe = FakeProbe(loop, durations)
        await run_schedule(loop, checks, probe, seconds=4 * max(intervals))
        return probe

    probe = run_virtual(scenario)
    for target in checks:
        runs = [r for r in probe.runs if r.check == target.id]
        grace = late_start_grace(target.interval)
        assert started <= runs[0].start <= started + 10.0 + EPS, "the first run within 10 s"
        for before, after in itertools.pairwise(runs):
            assert before.end is not None and after.start >= before.end - EPS, "no overlap"
            assert after.start - before.start >= target.interval / 2 - EPS
            on_grid = grid_slot_at_or_before(target, after.start + WALL_EPOCH) - WALL_EPOCH
            assert on_grid - EPS <= after.start <= on_grid + grace + EPS, "on its grid"


def test_offsets_are_stable_in_range_and_spread() -> None:
    offsets = [stable_offset(f"customer-{i}-web", 5.0) for i in range(1000)]
    assert offsets == [stable_offset(f"customer-{i}-web", 5.0) for i in range(1000)]
    assert all(0 <= o < 5.0 for o in offsets)
    per_100ms = Counter(int(o / 0.1) for o in offsets)
    assert len(per_100ms) == 50
    assert max(per_100ms.values()) <= 3 * 1000 / 50, "no 100 ms slice gets a crowd"


def test_a_restart_keeps_each_checks_phase() -> None:
    target = check("acme-web", 30.0)
    before = first_slot(target, WALL_EPOCH + 12.3)
    after = first_slot(target, WALL_EPOCH + 1000.7)
    assert before >= WALL_EPOCH + 12.3 and before - (WALL_EPOCH + 12.3) < 30.0
    assert (after - before) / 30.0 == round((after - before) / 30.0)


def test_stop_abandons_probes_in_flight() -> None:
    async def scenario(loop: VirtualClockLoop) -> FakeProbe:
        probe = FakeProbe(loop, {"slow": [1000.0]})
        samples = await run_schedule(loop, [check("slow", 5.0)], probe, seconds=10.0)
        assert samples == []
        return probe

    probe = run_virtual(scenario)
    assert len(probe.runs) == 1 and probe.cancelled == 1


def test_state_changes_are_logged_and_metrics_follow_the_last_probe() -> None:
    outcomes = iter([True, False, False, False, True, True])
    errors = iter(["connection refused", "connection refused", "timeout after 1s"])
    registry = CollectorRegistry()

    async def probe(target: Check) -> ProbeResult:
        if next(outcomes):
            return ProbeResult(ok=True, latency_ms=42.0)
        await asyncio.sleep(0.25)
        return ProbeResult(ok=False, latency_ms=None, error=next(errors))

    web = check("web", 1.0)
    five_runs = first_slot(web, WALL_EPOCH) - WALL_EPOCH + 4.5

    async def scenario(loop: VirtualClockLoop) -> list[Sample]:
        return await run_schedule(loop, [web], probe, seconds=five_runs, registry=registry)

    with capture_logs() as logs:
        samples = run_virtual(scenario)
    assert [s.result.ok for s in samples] == [True, False, False, False, True]
    events = [
        (e["event"], e.get("error"))
        for e in logs
        if e["event"] in ("probe_failed", "probe_recovered")
    ]
    assert events == [
        ("probe_failed", "connection refused"),
        ("probe_failed", "timeout after 1s"),
        ("probe_recovered", None),
    ]
    assert registry.get_sample_value("slawatch_probe_success", {"check": "web"}) == 1
    assert registry.get_sample_value("slawatch_probe_duration_seconds", {"check": "web"}) == 0.042
    assert registry.get_sample_value("slawatch_schedule_lag_seconds_count") == 5


def test_a_failure_without_latency_reports_the_time_to_failure() -> None:
    registry = CollectorRegistry()

    async def probe(target: Check) -> ProbeResult:
        await asyncio.sleep(0.75)
        return ProbeResult(ok=False, latency_ms=None, error="timeout after 0.75s")

    run_virtual(
        lambda loop: run_schedule(loop, [check("web", 1.0)], probe, seconds=1.5, registry=registry)
    )
    assert registry.get_sample_value("slawatch_probe_success", {"check": "web"}) == 0
    duration = registry.get_sample_value("slawatch_probe_duration_seconds", {"check": "web"})
    assert duration is not None and abs(duration - 0.75) < EPS


def test_a_probe_that_raises_fails_its_check_instead_of_stopping_it() -> None:
    async def probe(target: Check) -> ProbeResult:
        raise RuntimeError("bug in a probe")

    web = check("web", 1.0)
    three_runs = first_slot(web, WALL_EPOCH) - WALL_EPOCH + 2.5
    with capture_logs() as logs:
        samples = run_virtual(lambda loop: run_schedule(loop, [web], probe, seconds=three_runs))
    assert len(samples) == 3, "the check keeps running"
    assert all(not s.result.ok for s in samples)
    assert samples[0].result.error == "probe crashed: bug in a probe"
    assert any(e["event"] == "probe_crashed" for e in logs)


def test_skipped_runs_are_logged() -> None:
    async def probe(target: Check) -> ProbeResult:
        await asyncio.sleep(2.5)
        return ProbeResult(ok=True, latency_ms=2500.0)

    with capture_logs() as logs:
        run_virtual(lambda loop: run_schedule(loop, [check("web", 1.0)], probe, seconds=3.0))
    skipped = [e for e in logs if e["event"] == "run_skipped"]
    assert skipped and skipped[0]["check"] == "web" and skipped[0]["runs"] == 2


def test_update_keeps_unchanged_checks_on_their_grid_stops_removed_and_starts_new() -> None:
    """A live change of checks (central checks, reload): `kept` keeps its slots exactly, `gone`
    runs no more after the update, `new` starts, `changed` restarts with its new interval."""
    kept, gone, changed = check("kept", 1.0), check("gone", 1.0), check("changed", 2.0)
    new = check("new", 1.0)
    changed_now = check("changed", 0.5)
    update_at = 10.25

    async def scenario(loop: VirtualClockLoop) -> tuple[FakeProbe, tuple[Any, ...]]:
        probe = FakeProbe(loop, {c: [0.01] for c in ("kept", "gone", "changed", "new")})

        async def sink(sample: Sample) -> None:
            return None

        scheduler = Scheduler(
            [kept, gone, changed],
            sink,
            probe=probe,
            wall_clock=lambda: loop.time() + WALL_EPOCH,
        )
        await scheduler.start()
        await asyncio.sleep(update_at)
        outcome = scheduler.update([kept, changed_now, new])
        await asyncio.sleep(10.0)
        await scheduler.stop()
        return probe, outcome

    probe, outcome = run_virtual(scenario)
    assert outcome == (["new"], ["changed"], ["gone"])
    kept_runs = [r.start for r in probe.runs if r.check == "kept"]
    slots = {grid_slot_at_or_before(kept, s + WALL_EPOCH) - WALL_EPOCH for s in kept_runs}
    assert len(kept_runs) == len(slots) == 20, "one run a slot, none twice, none missed"
    assert all(abs(r - s) < EPS for r, s in zip(sorted(kept_runs), sorted(slots), strict=True))
    assert not [r for r in probe.runs if r.check == "gone" and r.start > update_at]
    new_runs = [r.start for r in probe.runs if r.check == "new"]
    assert new_runs and new_runs[0] <= update_at + 1.0
    changed_after = [r.start for r in probe.runs if r.check == "changed" and r.start > update_at]
    gaps = [b - a for a, b in itertools.pairwise(changed_after)]
    assert gaps and all(abs(gap - 0.5) < EPS for gap in gaps)


def test_update_with_the_same_checks_changes_nothing() -> None:
    async def scenario(loop: VirtualClockLoop) -> tuple[Any, ...]:
        async def sink(sample: Sample) -> None:
            return None

        checks = [check("a", 1.0), check("b", 2.0)]
        probe = FakeProbe(loop, {"a": [0.01], "b": [0.01]})
        scheduler = Scheduler(checks, sink, probe=probe)
        await scheduler.start()
        await asyncio.sleep(3.0)
        tasks = dict(scheduler._tasks)
        outcome = scheduler.update([check("b", 2.0), check("a", 1.0)])
        assert {k: v[1] for k, v in scheduler._tasks.items()} == {k: v[1] for k, v in tasks.items()}
        await scheduler.stop()
        return outcome

    assert run_virtual(scenario) == ([], [], [])
