"""Service hours and holidays (CONTRACT §7) on random traces, against the naive reference.

The scenarios of `test_sla_properties` (every quorum, require, unknown mode, min_downtime,
maintenance, now before, inside or after the window), with lines of service hours and holidays
drawn around the trace's own local times, in zones that change offset during the trace (Paris,
New York, Lord Howe's half hour) and at scales from seconds to hours (traces of several days
crossing the DST change, weekends and holidays).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slawatch.collector.engine.maintenance import Interval
from slawatch.config.schema import ServiceHours
from tests.unit.sla_reference import reference_report
from tests.unit.test_sla_properties import (
    MINUTE,
    Scenario,
    engine_report,
    expected,
    scenarios,
)

HOUR = 60 * MINUTE
FEW = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def local(ms: int, zone: str) -> datetime:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).astimezone(
        ZoneInfo(zone)
    )


@st.composite
def with_hours(draw: st.DrawFn, base: st.SearchStrategy[Scenario]) -> Scenario:
    """A scenario whose SLA gets 1–3 lines of hours (or none) and 0–2 holidays, their edges on
    whole local minutes near the window, so that they cut the trace."""
    scenario = draw(base)
    sla, window = scenario.sla, scenario.window
    span = max(window.duration_ms, MINUTE)
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        anchor = local(window.from_ms + draw(st.integers(-span // 2, span)), sla.timezone)
        start_min = anchor.hour * 60 + anchor.minute
        length = draw(st.integers(1, max(1, span // MINUTE)))
        end_min = min(24 * 60, start_min + length)
        if draw(st.booleans()):
            end_min = 24 * 60
        if end_min <= start_min:
            continue
        days = draw(
            st.sampled_from([tuple(range(7)), (0, 1, 2, 3, 4), (anchor.weekday(),), (5, 6)])
        )
        lines.append(ServiceHours(days, start_min * 60, end_min * 60))
    holidays = []
    for _ in range(draw(st.integers(0, 2))):
        moment = window.from_ms + draw(st.integers(-span, 2 * span))
        holidays.append(local(moment, sla.timezone).date())
    if not lines and not holidays:
        lines.append(ServiceHours((0, 1, 2, 3, 4), 8 * 3600, 18 * 3600))
    sla = replace(sla, hours=tuple(lines), holidays=tuple(sorted(set(holidays))))
    declared = list(scenario.declared)
    if draw(st.booleans()):  # a window excluded after the fact, over the trace
        start = window.from_ms + draw(st.integers(-span // 2, span))
        declared.append(Interval(start, start + draw(st.integers(1, span))))
    return replace(scenario, sla=sla, declared=tuple(declared))


@FEW
@given(with_hours(scenarios()))
def test_hours_every_field_equals_the_reference(scenario: Scenario) -> None:
    assert engine_report(scenario).to_json() == expected(scenario)


@pytest.mark.slow
@LONG
@given(with_hours(scenarios(scales=(30 * MINUTE, HOUR))))
def test_hours_over_days_across_dst_and_holidays_equal_the_reference(scenario: Scenario) -> None:
    assert engine_report(scenario).to_json() == expected(scenario)


@FEW
@given(with_hours(scenarios()))
def test_the_window_is_up_down_unknown_maintenance_or_outside_hours(scenario: Scenario) -> None:
    report = engine_report(scenario)
    parts = (
        report.up_ms
        + report.down_ms
        + report.unknown_ms
        + report.maintenance_ms
        + report.outside_hours_ms
    )
    if scenario.sla.unknown == "exclude":
        assert parts == report.as_of_ms - report.window.from_ms
    assert report.future_ms <= report.window.to_ms - report.as_of_ms


@FEW
@given(with_hours(scenarios()), st.booleans())
def test_an_exclusion_counts_as_maintenance(scenario: Scenario, split: bool) -> None:
    """The declared window, as an exclusion after the fact (§7), gives the reference's report
    with it passed as an exclusion: the engine takes exclusions as it takes maintenance."""
    declared = [(i.start_ms, i.end_ms) for i in scenario.declared]
    kept, excluded = (declared[:-1], declared[-1:]) if split else ([], declared)
    reference = reference_report(
        scenario.sla,
        scenario.samples,
        from_ms=scenario.window.from_ms,
        to_ms=scenario.window.to_ms,
        now_ms=scenario.now_ms,
        declared=kept,
        exclusions=excluded,
    )
    assert engine_report(scenario).to_json() == reference
