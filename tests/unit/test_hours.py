"""Service hours and holidays (CONTRACT §7): exact intervals across DST, and their place in the
report (removed like maintenance, counted in `outside_hours_s`, out of `future_s`)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from slawatch.collector.engine.hours import offset_pieces, outside_hours, service_intervals
from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import Window, window_for_period
from slawatch.collector.engine.sla import compute_report
from slawatch.collector.engine.timeline import Run
from slawatch.config.schema import OneOffMaintenance, ServiceHours, Sla

HOUR = 3_600_000
DAY = 24 * HOUR
WEEKDAYS = (0, 1, 2, 3, 4)


def ms(*parts: int, tz: str = "UTC") -> int:
    return round(datetime(*parts, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def eight_to_six(**changes: object) -> Sla:
    fields: dict = {
        "id": "s",
        "name": "S",
        "checks": ("web",),
        "objective": 99.0,
        "timezone": "Europe/Paris",
        "hours": (ServiceHours(WEEKDAYS, 8 * 3600, 18 * 3600),),
    }
    fields.update(changes)
    return Sla(**fields)


def total(intervals: list[Interval]) -> int:
    return sum(i.duration_ms for i in intervals)


def test_a_week_of_office_hours_is_five_times_ten_hours() -> None:
    week = Interval(ms(2026, 11, 23, tz="Europe/Paris"), ms(2026, 11, 30, tz="Europe/Paris"))
    found = service_intervals(eight_to_six().hours, (), "Europe/Paris", week)
    assert total(found) == 50 * HOUR
    assert found[0] == Interval(ms(2026, 11, 23, 7), ms(2026, 11, 23, 17))  # UTC+1 in winter
    assert total(outside_hours(eight_to_six(), week)) == 7 * DAY - 50 * HOUR


def test_holidays_are_whole_local_days_off() -> None:
    sla = eight_to_six(holidays=(date(2026, 11, 25),))
    week = Interval(ms(2026, 11, 23, tz="Europe/Paris"), ms(2026, 11, 30, tz="Europe/Paris"))
    assert total(service_intervals(sla.hours, sla.holidays, sla.timezone, week)) == 40 * HOUR


def test_holidays_without_hours_leave_the_other_days_whole() -> None:
    sla = eight_to_six(hours=(), holidays=(date(2026, 12, 25),), timezone="America/New_York")
    span = Interval(
        ms(2026, 12, 24, tz="America/New_York"), ms(2026, 12, 27, tz="America/New_York")
    )
    assert outside_hours(sla, span) == [
        Interval(ms(2026, 12, 25, tz="America/New_York"), ms(2026, 12, 26, tz="America/New_York"))
    ]


@pytest.mark.parametrize(
    ("day", "real_hours"),
    [(date(2026, 3, 29), 2), (date(2026, 10, 25), 4), (date(2026, 3, 28), 3)],
)
def test_hours_follow_the_wall_clock_across_dst(day: date, real_hours: int) -> None:
    """01:00–04:00 local: 2 real hours when the clock skips 02:00–03:00, 4 when it repeats it."""
    hours = (ServiceHours(tuple(range(7)), 3600, 4 * 3600),)
    start = ms(day.year, day.month, day.day, tz="Europe/Paris")
    span = Interval(start, start + 22 * HOUR)  # the local day, whatever its length
    assert total(service_intervals(hours, (), "Europe/Paris", span)) == real_hours * HOUR


def test_to_midnight_and_back_to_back_lines_merge() -> None:
    hours = (
        ServiceHours((5,), 20 * 3600, 86_400),
        ServiceHours((6,), 0, 2 * 3600),
    )
    span = Interval(ms(2026, 11, 28), ms(2026, 11, 30))  # Saturday, Sunday
    assert service_intervals(hours, (), "UTC", span) == [
        Interval(ms(2026, 11, 28, 20), ms(2026, 11, 29, 2))
    ]


def test_offset_changes_are_found_to_the_millisecond() -> None:
    zone = ZoneInfo("America/New_York")
    pieces = offset_pieces(zone, ms(2026, 11, 1), ms(2026, 11, 2))
    assert [(a, b) for a, b, _ in pieces] == [
        (ms(2026, 11, 1), ms(2026, 11, 1, 6)),
        (ms(2026, 11, 1, 6), ms(2026, 11, 2)),
    ]
    assert [o for _, _, o in pieces] == [-4 * HOUR, -5 * HOUR]


def test_time_outside_hours_is_removed_like_maintenance_and_counted_apart() -> None:
    """Monday 2026-11-23, Paris: service 07:00–17:00 UTC. DOWN 16:00–19:00 UTC: one hour counts;
    maintenance 06:00–08:00 UTC counts one hour of maintenance, one hour outside hours."""
    sla = eight_to_six(
        maintenance=(OneOffMaintenance(ms(2026, 11, 23, 6) / 1000, ms(2026, 11, 23, 8) / 1000),)
    )
    day = Window(ms(2026, 11, 23, tz="Europe/Paris"), ms(2026, 11, 24, tz="Europe/Paris"))
    runs = {
        "web": {
            "a": [
                Run(day.from_ms, ms(2026, 11, 23, 16), True, None, day.from_ms, 60_000),
                Run(ms(2026, 11, 23, 16), ms(2026, 11, 23, 19), False, "503", 0, 60_000),
                Run(ms(2026, 11, 23, 19), day.to_ms, True, None, 0, 60_000),
            ]
        }
    }
    report = compute_report(sla, runs, day, day.to_ms + HOUR).to_json()
    assert report["down_s"] == 3600
    assert report["up_s"] == 8 * 3600
    assert report["maintenance_s"] == 3600
    assert report["outside_hours_s"] == 14 * 3600
    assert report["eligible_s"] == 9 * 3600
    assert report["incidents"][0]["start"] == "2026-11-23T16:00:00Z"
    assert report["incidents"][0]["end"] == "2026-11-23T17:00:00Z"


def test_min_downtime_judges_whole_runs_across_the_end_of_hours() -> None:
    """A 90-minute run, 30 minutes of it in hours, is not forgiven by min_downtime 1h."""
    sla = eight_to_six(min_downtime=3600.0)
    day = Window(ms(2026, 11, 23, tz="Europe/Paris"), ms(2026, 11, 24, tz="Europe/Paris"))
    start, end = ms(2026, 11, 23, 16, 30), ms(2026, 11, 23, 18)
    runs = {
        "web": {
            "a": [
                Run(day.from_ms, start, True, None, 0, 60_000),
                Run(start, end, False, "503", start, 60_000),
                Run(end, day.to_ms, True, None, 0, 60_000),
            ]
        }
    }
    assert compute_report(sla, runs, day, day.to_ms).to_json()["down_s"] == 1800


def test_the_budget_of_an_eight_by_five_month_counts_only_service_hours() -> None:
    """November 2026 in Paris has 21 weekdays: 210 h of service; 1 % of it is 2.1 h."""
    sla = eight_to_six()
    window = window_for_period("2026-11", sla.timezone)
    now = ms(2026, 11, 2, tz="Europe/Paris")  # Monday 00:00 local: nothing measured yet
    report = compute_report(sla, {}, window, now)
    assert report.future_ms == 210 * HOUR
    assert report.outside_hours_ms == 1 * DAY  # Sunday 1 November
    assert report.error_budget_s == pytest.approx(2.1 * 3600)
    assert report.to_json()["verdict"] == "on_track"
