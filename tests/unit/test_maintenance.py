"""Maintenance windows (CONTRACT §2, §4.4, §4.7): one-off, recurring in the SLA's timezone
across DST, declared at run time; merged and clipped."""

from __future__ import annotations

from datetime import UTC, datetime, time
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.collector.engine.maintenance import (
    Interval,
    MaintenanceWindow,
    maintenance_intervals,
    merge,
    occurrences,
    overlap_ms,
    subtract,
)
from slawatch.config.schema import OneOffMaintenance, RecurringMaintenance, Sla
from tests.support import ms
from tests.unit.sla_reference import maintenance_windows

HOUR = 3_600_000


def span(start: str, end: str) -> Interval:
    return Interval(ms(start), ms(end))


def test_a_one_off_window_is_its_start_and_end() -> None:
    window = OneOffMaintenance(ms("2026-11-08T02:00:00Z") / 1000, ms("2026-11-08T04:00:00Z") / 1000)
    found = occurrences([window], "UTC", span("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"))
    assert found == [MaintenanceWindow(ms("2026-11-08T02:00:00Z"), ms("2026-11-08T04:00:00Z"))]


def test_a_weekly_window_in_paris_is_an_hour_earlier_in_utc_in_winter() -> None:
    # Sundays of November 2026: 1, 8, 15, 22, 29; Paris is at +01:00, so 02:00 local = 01:00Z.
    weekly = RecurringMaintenance("sunday", time(2, 0), 7200.0, "patching")
    found = occurrences(
        [weekly], "Europe/Paris", span("2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z")
    )
    assert [(w.start_ms, w.end_ms, w.reason) for w in found] == [
        (ms(f"2026-11-{day:02d}T01:00:00Z"), ms(f"2026-11-{day:02d}T03:00:00Z"), "patching")
        for day in (1, 8, 15, 22, 29)
    ]


def test_a_recurring_window_follows_the_local_clock_across_dst() -> None:
    # Daily at 04:00 in Paris: 02:00Z in summer (+02:00), 03:00Z from 25 October (+01:00).
    daily = RecurringMaintenance("day", time(4, 0), 1800.0)
    found = occurrences(
        [daily], "Europe/Paris", span("2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z")
    )
    assert [w.start_ms for w in found] == [
        ms("2026-10-24T02:00:00Z"),
        ms("2026-10-25T03:00:00Z"),
        ms("2026-10-26T03:00:00Z"),
    ]


def test_a_skipped_local_time_is_read_with_the_offset_before_the_jump() -> None:
    # 29 March 2026 in Paris has no 02:30: read at +01:00 it is 01:30Z (03:30 summer time).
    daily = RecurringMaintenance("day", time(2, 30), 3600.0)
    found = occurrences(
        [daily], "Europe/Paris", span("2026-03-29T00:00:00Z", "2026-03-29T12:00:00Z")
    )
    assert found == [MaintenanceWindow(ms("2026-03-29T01:30:00Z"), ms("2026-03-29T02:30:00Z"))]


def test_a_repeated_local_time_is_its_first_occurrence() -> None:
    # 25 October 2026 in Paris has 02:30 twice; the first is at +02:00, 00:30Z.
    daily = RecurringMaintenance("day", time(2, 30), 3600.0)
    found = occurrences(
        [daily], "Europe/Paris", span("2026-10-25T00:00:00Z", "2026-10-25T12:00:00Z")
    )
    assert found == [MaintenanceWindow(ms("2026-10-25T00:30:00Z"), ms("2026-10-25T01:30:00Z"))]


def test_a_window_lasts_its_duration_in_real_time_across_a_dst_change() -> None:
    # 01:30 in Paris on 29 March is 00:30Z; two real hours later is 02:30Z (04:30 local).
    daily = RecurringMaintenance("day", time(1, 30), 7200.0)
    found = occurrences(
        [daily], "Europe/Paris", span("2026-03-29T00:00:00Z", "2026-03-29T12:00:00Z")
    )
    assert found == [MaintenanceWindow(ms("2026-03-29T00:30:00Z"), ms("2026-03-29T02:30:00Z"))]


def test_a_window_that_started_before_the_span_is_included_unclipped() -> None:
    # Saturday 23:00 for 3 h overlaps a span that starts on Sunday.
    weekly = RecurringMaintenance("saturday", time(23, 0), 3 * 3600.0)
    found = occurrences([weekly], "UTC", span("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"))
    assert found == [MaintenanceWindow(ms("2026-10-31T23:00:00Z"), ms("2026-11-01T02:00:00Z"))]
    assert maintenance_intervals(
        [weekly], "UTC", span("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    ) == [span("2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z")]


def test_config_and_declared_windows_merge_and_are_clipped() -> None:
    config = [
        OneOffMaintenance(ms("2026-11-08T02:00:00Z") / 1000, ms("2026-11-08T04:00:00Z") / 1000),
        RecurringMaintenance("day", time(3, 0), 7200.0),  # overlaps the one-off on the 8th
    ]
    declared = [
        span("2026-11-09T05:00:00Z", "2026-11-09T06:00:00Z"),  # touches the daily window
        span("2026-11-09T12:00:00Z", "2026-11-09T13:00:00Z"),
    ]
    found = maintenance_intervals(
        config, "UTC", span("2026-11-08T00:00:00Z", "2026-11-09T12:30:00Z"), declared
    )
    assert found == [
        span("2026-11-08T02:00:00Z", "2026-11-08T05:00:00Z"),
        span("2026-11-09T03:00:00Z", "2026-11-09T06:00:00Z"),
        span("2026-11-09T12:00:00Z", "2026-11-09T12:30:00Z"),
    ]


def test_daily_windows_longer_than_a_day_make_one_interval() -> None:
    daily = RecurringMaintenance("day", time(0, 0), 30 * 3600.0)
    assert maintenance_intervals(
        [daily], "UTC", span("2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z")
    ) == [span("2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z")]


def test_interval_arithmetic() -> None:
    assert merge(
        [Interval(5, 7), Interval(0, 2), Interval(2, 3), Interval(6, 9), Interval(4, 4)]
    ) == [
        Interval(0, 3),
        Interval(5, 9),
    ]
    holes = [Interval(2, 4), Interval(6, 7)]
    assert subtract(Interval(0, 10), holes) == [Interval(0, 2), Interval(4, 6), Interval(7, 10)]
    assert subtract(Interval(3, 6), holes) == [Interval(4, 6)]
    assert subtract(Interval(2, 4), holes) == []
    assert overlap_ms(holes, 3, 7) == 2
    with pytest.raises(ValueError, match="must not end before it starts"):
        Interval(2, 1)


ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
DAYS = ["day", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.lists(
        st.builds(
            RecurringMaintenance,
            every=st.sampled_from(DAYS),
            at=st.times().map(lambda t: t.replace(microsecond=0)),
            duration=st.integers(1, 60 * 30).map(lambda m: m * 60.0),
        ),
        min_size=1,
        max_size=3,
    ),
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.integers(1, 10 * 24),
    st.lists(st.integers(0, 10 * 24 * 60), min_size=1, max_size=30),
)
def test_every_instant_is_in_maintenance_exactly_when_a_window_covers_it(
    zone: str,
    windows: list[RecurringMaintenance],
    start: datetime,
    hours: int,
    probes: list[int],
) -> None:
    """Against naive enumeration of every local day (tests/unit/sla_reference.py)."""
    whole = Interval(
        round(start.timestamp() * 1000), round(start.timestamp() * 1000) + hours * HOUR
    )
    found = maintenance_intervals(windows, zone, whole)
    sla = Sla("s", "s", ("c",), 99.0, timezone=zone, maintenance=tuple(windows))
    naive = maintenance_windows(sla, (), whole.start_ms, whole.end_ms)
    assert found == sorted(found, key=lambda i: i.start_ms)
    assert all(a.end_ms < b.start_ms for a, b in pairwise(found))
    edges = [t for i in found for t in (i.start_ms - 1, i.start_ms, i.end_ms - 1, i.end_ms)]
    minutes = [whole.start_ms + (m * 60_000) % whole.duration_ms for m in probes]
    for t in [*minutes, *edges]:
        if whole.start_ms <= t < whole.end_ms:
            inside = any(i.start_ms <= t < i.end_ms for i in found)
            assert inside == any(s <= t < e for s, e in naive), t
