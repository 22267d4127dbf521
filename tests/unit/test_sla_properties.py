"""Properties of the SLA engine on random traces, against the naive reference of §4.

Traces: several checks and agents, jittered intervals, gaps, flapping, maintenance (one-off,
recurring in a timezone around its DST change, declared at run time), every quorum, require,
unknown mode, min_downtime, credits and latency objective, with now before, inside or after the
window.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slawatch.collector.engine.latency import latency_bucket
from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import Window
from slawatch.collector.engine.report_latency import LatencySource, latency_plan
from slawatch.collector.engine.service_timeline import service_timeline, swept_timeline
from slawatch.collector.engine.sla import compute_report, history_range
from slawatch.collector.engine.states import State, quorum_state, service_state
from slawatch.collector.engine.timeline import Run, SampleState, build_runs
from slawatch.config.schema import (
    CreditTier,
    LatencyObjective,
    MonthlyFee,
    OneOffMaintenance,
    Quorum,
    RecurringMaintenance,
    Sla,
)
from tests.unit.sla_reference import RefSample, reference_report

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASES = {
    "UTC": [datetime(2026, 11, 27, 9, 17, 3, 250_000, tzinfo=UTC)],
    "Asia/Kolkata": [datetime(2026, 11, 29, 18, 0, tzinfo=UTC)],  # local midnight at 18:30
    "Europe/Paris": [
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # springs forward at 01:00 UTC (02:00 local)
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # falls back at 01:00 UTC (03:00 local)
    ],
    "America/New_York": [
        datetime(2026, 3, 8, 6, 30, tzinfo=UTC),  # springs forward at 07:00 UTC
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # falls back at 06:00 UTC
    ],
    "Australia/Lord_Howe": [datetime(2026, 4, 4, 14, 30, tzinfo=UTC)],  # 30 min back at 15:00
}
"""Per timezone, instants shortly before it changes offset, so that recurring windows and
traces meet DST changes."""
ZONES = list(BASES)
UNITS = [1_000, 10_000, 60_000]
"""The time scale of a scenario: intervals, windows and maintenance are a few units long."""
FEES = [
    None,
    None,
    MonthlyFee(Decimal("450.00"), "EUR"),
    MonthlyFee(Decimal("45025"), "JPY"),
    MonthlyFee(Decimal("12.345"), "KWD"),
    MonthlyFee(Decimal("0.05"), "USD"),
]
"""Monthly fees in currencies with 2, 0 and 3 minor units (§7 credits as amounts)."""
ERRORS = [None, "timeout", "connection refused", "status 503"]
HOUR = 3_600_000
MINUTE = 60_000

Samples = dict[str, dict[str, list[RefSample]]]


@dataclass(frozen=True)
class Scenario:
    sla: Sla
    samples: Samples
    window: Window
    now_ms: int
    declared: tuple[Interval, ...]


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@st.composite
def traces(draw: st.DrawFn, start_ms: int, unit: int) -> list[RefSample]:
    """One agent's samples of one check: the shape drawn, the details from a drawn seed (fast
    to generate; hypothesis still shrinks the count and the seed)."""
    count = draw(st.integers(0, 40) | st.just(30))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    intervals = [unit, 2 * unit, 3 * unit, 5 * unit]
    interval = rnd.choice(intervals)
    t = start_ms + rnd.randrange(5 * unit)
    ok = rnd.random() < 0.7
    samples = []
    for _ in range(count):
        if rnd.random() < 0.15:
            ok = not ok
        elif rnd.random() < 0.05:
            interval = rnd.choice(intervals)
        error = None if ok else rnd.choice(ERRORS)
        latency = rnd.choice([rnd.uniform(0.5, 3000), float(rnd.randint(1, 50))]) if ok else None
        samples.append(RefSample(t, ok, interval, error, latency))
        gap = interval * rnd.choice([1, 1, 1, 1, 1, 2, 3]) + rnd.randint(
            -interval // 5, interval // 5
        )
        t += max(1, gap)
    return samples


def units(unit: int, low: int, high: int) -> st.SearchStrategy[int]:
    """A time between `low` and `high` units, sometimes off the second."""
    return st.integers(low, high).flatmap(
        lambda n: st.sampled_from([n * unit, n * unit + 1, n * unit + 617])
    )


@st.composite
def maintenance(draw: st.DrawFn, base_ms: int, zone: str, unit: int) -> tuple:
    windows: list = []
    for _ in range(draw(st.integers(0, 2))):
        start = base_ms + draw(units(unit, -10, 80))
        end = start + draw(units(unit, 1, 30))
        windows.append(OneOffMaintenance(start / 1000, end / 1000, "one-off"))
    if draw(st.booleans()):
        instant = base_ms + draw(units(unit, -10, 80))
        local = datetime.fromtimestamp(instant / 1000, ZoneInfo(zone))
        local += timedelta(minutes=draw(st.sampled_from([0, 0, 30, 60, -60])))
        every = draw(st.sampled_from(["day", "monday", "sunday", local.strftime("%A").lower()]))
        at = time(local.hour, local.minute, local.second)
        duration = draw(st.integers(1, 30)) * unit / 1000
        windows.append(RecurringMaintenance(every, at, duration, "recurring"))
    return tuple(windows)


@st.composite
def scenarios(draw: st.DrawFn, scales: Sequence[int] = tuple(UNITS)) -> Scenario:
    zone = draw(st.sampled_from(ZONES))
    base = to_ms(draw(st.sampled_from(BASES[zone])))
    unit = draw(st.sampled_from(scales))
    checks = [f"c{i}" for i in range(draw(st.integers(1, 3)))]
    agents = [f"a{i}" for i in range(draw(st.integers(1, 3)))]
    samples: Samples = {
        check: {agent: draw(traces(base, unit)) for agent in agents if draw(st.integers(0, 9))}
        for check in checks
    }
    tiers = draw(
        st.lists(
            st.builds(
                CreditTier,
                below=st.sampled_from([99.9, 99.0, 95.0, 50.0, 100.0]),
                percent=st.sampled_from([10.0, 25.0, 100.0, 5.5]),
            ),
            max_size=3,
        )
    )
    latency = draw(
        st.none()
        | st.builds(
            LatencyObjective,
            objective=st.sampled_from([0.1, 0.8, 2.0]),
            percentile=st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.9]),
        )
    )
    min_downtime = draw(st.sampled_from([0, 0, 0.5, 1, 3, 10]))
    sla = Sla(
        id="s",
        name="S",
        customer=draw(st.sampled_from([None, "acme"])),
        checks=tuple(checks),
        objective=draw(st.sampled_from([99.9, 99.0, 95.0, 50.0, 99.95, 100.0])),
        require=draw(st.sampled_from(["all", "any"])),
        timezone=zone,
        quorum=draw(st.sampled_from(["any", "majority", "all", 1, 2, 3])),
        min_downtime=min_downtime * unit / 1000,
        unknown=draw(st.sampled_from(["exclude", "up", "down"])),
        latency=latency,
        maintenance=draw(maintenance(base, zone, unit)),
        credits=tuple(tiers),
        monthly_fee=draw(st.sampled_from(FEES)),
    )
    start = base + draw(units(unit, -10, 60))
    window = Window(start, start + max(1, draw(units(unit, 0, 80))))
    now = draw(
        st.sampled_from(["after", "after", "inside", "before"]).flatmap(
            lambda when: {
                "after": units(unit, 0, 40).map(lambda d: window.to_ms + d),
                "inside": st.integers(window.from_ms, window.to_ms),
                "before": units(unit, 1, 10).map(lambda d: window.from_ms - d),
            }[when]
        )
    )
    declared = []
    if draw(st.booleans()):
        declared_start = base + draw(units(unit, -10, 80))
        declared.append(Interval(declared_start, declared_start + draw(units(unit, 1, 30))))
    return Scenario(sla, samples, window, now, tuple(declared))


def engine_runs(samples: Mapping[str, Mapping[str, Sequence[RefSample]]]) -> dict:
    """What the store gives: runs per check and agent, from samples sorted and deduplicated."""
    runs: dict[str, dict[str, list[Run]]] = {}
    for check, by_agent in samples.items():
        for agent, agent_samples in by_agent.items():
            first: dict[int, RefSample] = {}
            for sample in agent_samples:
                first.setdefault(sample.ts_ms, sample)
            states = [
                SampleState(s.ts_ms, s.ok, s.interval_ms, s.error)
                for s in sorted(first.values(), key=lambda s: s.ts_ms)
            ]
            runs.setdefault(check, {})[agent] = build_runs(states)
    return runs


def raw_latencies(samples: Samples, intervals: Sequence[Interval]) -> list[float]:
    """What the store's `latency_values` gives for these ranges (duplicates stored once)."""
    stored: dict[tuple[str, str, int], RefSample] = {}
    for check, by_agent in samples.items():
        for agent, agent_samples in by_agent.items():
            for s in agent_samples:
                stored.setdefault((check, agent, s.ts_ms), s)
    return [
        s.latency_ms
        for s in stored.values()
        if s.ok and any(i.start_ms <= s.ts_ms < i.end_ms for i in intervals)
    ]


def histogram(samples: Samples, intervals: Sequence[Interval]) -> dict[int, int]:
    """What the store's `latency_histograms` gives for these ranges of whole hours."""
    counts: dict[int, int] = {}
    for value in raw_latencies(samples, intervals):
        bucket = latency_bucket(value)
        counts[bucket] = counts.get(bucket, 0) + 1
    return counts


def engine_report(scenario: Scenario, *, samples: Samples | None = None, hourly: bool = False):
    samples = scenario.samples if samples is None else samples
    sla, window, now = scenario.sla, scenario.window, scenario.now_ms
    plan = latency_plan(sla, window, now, scenario.declared, hourly=hourly)
    latency = LatencySource(
        raw_latencies(samples, plan.raw),
        histogram(samples, plan.hourly) if hourly else {},
    )
    return compute_report(
        sla,
        engine_runs(samples),
        window,
        now,
        declared_maintenance=scenario.declared,
        latency=latency,
    )


def expected(scenario: Scenario) -> dict:
    return reference_report(
        scenario.sla,
        scenario.samples,
        from_ms=scenario.window.from_ms,
        to_ms=scenario.window.to_ms,
        now_ms=scenario.now_ms,
        declared=[(i.start_ms, i.end_ms) for i in scenario.declared],
    )


# ------------------------------------------------------------------------------- properties


@PROPERTY
@given(scenarios())
def test_every_field_equals_the_reference(scenario: Scenario) -> None:
    assert engine_report(scenario).to_json() == expected(scenario)


@PROPERTY
@given(scenarios())
def test_the_window_is_up_down_unknown_or_maintenance(scenario: Scenario) -> None:
    report = engine_report(scenario).to_json()
    as_of = max(scenario.window.from_ms, min(scenario.window.to_ms, scenario.now_ms))
    parts = ("up_s", "down_s", "unknown_s", "maintenance_s")
    assert round(sum(report[p] for p in parts) * 1000) == as_of - scenario.window.from_ms
    assert all(report[p] >= 0 for p in parts)


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_arrival_order_and_duplicates_change_nothing(
    scenario: Scenario, rnd: random.Random
) -> None:
    shuffled: Samples = {}
    for check, by_agent in scenario.samples.items():
        for agent, agent_samples in by_agent.items():
            copies = [*agent_samples, *rnd.sample(agent_samples, k=len(agent_samples) // 2)]
            rnd.shuffle(copies)
            shuffled.setdefault(check, {})[agent] = copies
    assert engine_report(scenario, samples=shuffled) == engine_report(scenario)


@PROPERTY
@given(scenarios(), st.integers(1, 10**9))
def test_a_window_split_in_two_adds_up(scenario: Scenario, cut: int) -> None:
    """Forgiveness looks at whole runs, so even with min_downtime the parts add up."""
    window = scenario.window
    assume_long = window.duration_ms >= 2
    if not assume_long:
        return
    middle = window.from_ms + 1 + cut % (window.duration_ms - 1)
    whole = engine_report(scenario)
    first = engine_report(replace(scenario, window=Window(window.from_ms, middle)))
    second = engine_report(replace(scenario, window=Window(middle, window.to_ms)))
    for total in ("up_ms", "down_ms", "unknown_ms", "maintenance_ms"):
        assert getattr(first, total) + getattr(second, total) == getattr(whole, total)
    assert first.latency.count + second.latency.count == whole.latency.count
    assert sum(i.duration_ms for i in first.incidents + second.incidents) == sum(
        i.duration_ms for i in whole.incidents
    )
    runs = {(i.run_start_ms, i.run_end_ms) for i in whole.incidents}
    assert {(i.run_start_ms, i.run_end_ms) for i in first.incidents + second.incidents} == runs


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_a_window_in_progress_promises_only_what_is_certain(
    scenario: Scenario, rnd: random.Random
) -> None:
    """§4.8: whatever the samples after now, the window ends with at least the credit shown
    while in progress, at most the projected availability, and breached if it showed breached
    (the drawn traces already run past now; more samples are added up to past the window)."""
    window, now = scenario.window, scenario.now_ms
    if not window.from_ms <= now < window.to_ms:
        return
    later: Samples = {}
    for check, by_agent in scenario.samples.items():
        for agent, agent_samples in by_agent.items():
            extra, t = [], max([now, *(s.ts_ms for s in agent_samples)]) + 1
            interval = agent_samples[-1].interval_ms if agent_samples else window.duration_ms
            while t < window.to_ms and len(extra) < 50:
                ok = rnd.random() < 0.8
                extra.append(RefSample(t, ok, interval, None if ok else "timeout", 1.0))
                t += interval * rnd.choice([1, 1, 3])
            later.setdefault(check, {})[agent] = [*agent_samples, *extra]
    early = engine_report(scenario)
    final = engine_report(replace(scenario, samples=later, now_ms=window.to_ms + rnd.randrange(2)))
    assert not early.complete and final.complete
    assert final.projected_availability == final.availability
    assert early.verdict in ("on_track", "at_risk", "breached", "no_data")
    assert final.verdict in ("met", "breached", "no_data")
    assert early.credit_percent <= final.credit_percent
    if early.verdict == "breached":
        assert final.verdict == "breached"
    if final.availability is not None:
        assert early.projected_availability is not None
        assert final.availability <= early.projected_availability


@PROPERTY
@given(scenarios())
def test_one_agent_with_quorum_any_is_that_agents_view(scenario: Scenario) -> None:
    agent_samples = next(
        (s for by_agent in scenario.samples.values() for s in by_agent.values()), []
    )
    sla = replace(
        scenario.sla,
        checks=("c0",),
        quorum="any",
        min_downtime=0.0,
        maintenance=(),
        unknown="exclude",
    )
    single = replace(scenario, sla=sla, samples={"c0": {"a0": agent_samples}}, declared=())
    report = engine_report(single)
    as_of = report.as_of_ms
    up = down = 0
    for run in build_runs(
        SampleState(s.ts_ms, s.ok, s.interval_ms)
        for s in sorted(agent_samples, key=lambda s: s.ts_ms)
    ):
        covered = max(0, min(run.end_ms, as_of) - max(run.start_ms, scenario.window.from_ms))
        if run.ok:
            up += covered
        else:
            down += covered
    assert (report.up_ms, report.down_ms) == (up, down)


@FEW
@given(scenarios())
def test_fetching_only_the_history_range_gives_the_same_report(scenario: Scenario) -> None:
    """The caller's loop of the module docstring, on runs filtered as the store filters them."""
    full = engine_report(scenario)
    all_runs = engine_runs(scenario.samples)
    sla, window, now = scenario.sla, scenario.window, scenario.now_ms
    plan = latency_plan(sla, window, now, scenario.declared, hourly=False)
    latency = LatencySource(raw_latencies(scenario.samples, plan.raw))
    history = history_range(sla, window, now)
    for _ in range(40):
        fetched = {
            check: {
                agent: [
                    r for r in runs if r.start_ms < history.end_ms and r.end_ms > history.start_ms
                ]
                for agent, runs in by_agent.items()
            }
            for check, by_agent in all_runs.items()
        }
        report = compute_report(
            sla,
            fetched,
            window,
            now,
            declared_maintenance=scenario.declared,
            latency=latency,
            history=history,
        )
        if report.wider_history is None:
            break
        history = report.wider_history
    assert report.to_json() == full.to_json()


@FEW
@given(scenarios())
def test_hourly_histograms_approximate_percentiles_within_one_percent(
    scenario: Scenario,
) -> None:
    exact = engine_report(scenario).latency
    approx = engine_report(scenario, hourly=True).latency
    assert approx.count == exact.count
    for name in ("p50_ms", "p95_ms", "p99_ms"):
        a, e = getattr(approx, name), getattr(exact, name)
        assert (a is None) == (e is None)
        if e is not None:
            assert math.isclose(a, e, rel_tol=0.01)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Lord_Howe"])
def test_scenario_bases_meet_dst_changes(zone: str) -> None:
    """Two hours after each base the zone has changed offset (traces last longer than that)."""
    for base in BASES[zone]:
        before, after = (
            base.astimezone(ZoneInfo(zone)),
            (base + timedelta(hours=2)).astimezone(ZoneInfo(zone)),
        )
        assert before.utcoffset() != after.utcoffset()


# ----------------------------------------------------------------- fast paths of the engine


@st.composite
def agent_runs(draw: st.DrawFn, base_ms: int) -> list[Run]:
    """Sorted, disjoint runs of one agent, as the store gives them or as a shared timeline
    passes them: gaps or none, touching runs of the same state, empty runs."""
    rnd = random.Random(draw(st.integers(0, 2**32)))
    runs, t = [], base_ms + rnd.randrange(-50, 50)
    for _ in range(draw(st.integers(0, 30))):
        t += rnd.choice([0, 0, 0, rnd.randrange(1, 40)])
        length = rnd.choice([0, rnd.randrange(1, 60), rnd.randrange(1, 60)])
        ok = rnd.random() < 0.6
        runs.append(Run(t, t + length, ok, None if ok else rnd.choice(ERRORS), t, 10))
        t += length
    return runs


def sla_of(checks: tuple[str, ...], quorum: Quorum, require: str) -> Sla:
    return Sla(id="s", name="S", checks=checks, objective=99.9, quorum=quorum, require=require)  # type: ignore[arg-type]


@PROPERTY
@given(
    st.integers(0, 2).flatmap(lambda n: st.lists(agent_runs(0), min_size=n, max_size=n)),
    st.sampled_from(["any", "majority", "all", 1, 2, 3]),
    st.sampled_from(["all", "any"]),
    st.integers(-100, 600),
    st.integers(-10, 700),
)
def test_the_timeline_of_one_check_and_one_agent_is_the_sweeps(
    by_agent: list[list[Run]], quorum: Quorum, require: str, start_ms: int, length_ms: int
) -> None:
    """One check seen by at most one agent takes a fast path; with two agents, the sweep (both
    must give the general sweep's timeline)."""
    sla = sla_of(("c0",), quorum, require)
    runs = {"c0": {f"a{i}": agent for i, agent in enumerate(by_agent)}}
    end_ms = start_ms + length_ms
    assert service_timeline(sla, runs, start_ms, end_ms) == swept_timeline(
        sla, runs, start_ms, end_ms
    )


@PROPERTY
@given(
    st.lists(agent_runs(0), min_size=1, max_size=4),
    st.sampled_from(["any", "majority", "all", 2]),
    st.sampled_from(["all", "any"]),
    st.integers(-100, 600),
    st.integers(0, 700),
)
def test_the_sweep_equals_the_state_at_every_instant(
    views: list[list[Run]], quorum: Quorum, require: str, start_ms: int, length_ms: int
) -> None:
    """The sweep against §4.2 and §4.3 applied millisecond by millisecond (checks c0, c1 seen
    by the drawn agents in turn)."""
    checks = ("c0", "c1")
    runs: dict[str, dict[str, list[Run]]] = {"c0": {}, "c1": {}}
    for index, view in enumerate(views):
        runs[checks[index % 2]][f"a{index}"] = view
    sla = sla_of(checks, quorum, require)
    end_ms = start_ms + length_ms
    timeline = swept_timeline(sla, runs, start_ms, end_ms)

    def agent_state(agent: list[Run], instant: int) -> State:
        for run in agent:
            if run.start_ms <= instant < run.end_ms:
                return State.UP if run.ok else State.DOWN
        return State.UNKNOWN

    expected: list[State] = []
    for instant in range(start_ms, end_ms):
        check_states = [
            quorum_state((agent_state(a, instant) for a in runs[check].values()), quorum)
            for check in checks
        ]
        expected.append(service_state(check_states, require))
    found = [s.state for s in timeline.segments for _ in range(s.start_ms, s.end_ms)]
    assert found == expected
    assert all(a.state is not b.state for a, b in itertools.pairwise(timeline.segments))


@PROPERTY
@given(scenarios())
def test_a_report_of_the_open_incident_only_has_the_same_figures(scenario: Scenario) -> None:
    """`incidents="open"` (what summaries ask) changes only the list of incidents."""
    sla, window, now = scenario.sla, scenario.window, scenario.now_ms
    runs = engine_runs(scenario.samples)
    options = {
        "declared_maintenance": scenario.declared,
        "history": history_range(sla, window, now),
    }
    whole = compute_report(sla, runs, window, now, **options)
    for wanted in ("all", "open"):
        kept = [i for i in whole.incidents if wanted == "all" or i.end_ms is None]
        short = compute_report(sla, runs, window, now, incidents=wanted, **options)
        assert short == replace(whole, incidents=tuple(kept))
