"""Report windows (CONTRACT §4.6): months, ISO weeks and days from local midnight, DST-aware."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.collector.engine.periods import (
    Window,
    current_window,
    format_instant,
    parse_instant_ms,
    period_label,
    resolve_window,
    window_between,
    window_for_period,
)
from tests.support import ms

HOUR = 3_600_000


def window(start: str, end: str) -> Window:
    return Window(ms(start), ms(end))


@pytest.mark.parametrize(
    ("period", "tz", "expected"),
    [
        ("2026-11", "UTC", window("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")),
        ("2026-12", "UTC", window("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")),
        ("2028-02", "UTC", window("2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z")),
        # Paris is at +01:00 in winter: local midnight is 23:00 UTC the day before.
        ("2026-11", "Europe/Paris", window("2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z")),
        # October 2026 in Paris starts in summer time (+02:00) and ends in winter time (+01:00).
        ("2026-10", "Europe/Paris", window("2026-09-30T22:00:00Z", "2026-10-31T23:00:00Z")),
        # ISO week 47 of 2026 runs from Monday 16 to Sunday 22 November.
        ("2026-W47", "UTC", window("2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z")),
        ("2026-w47", "UTC", window("2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z")),
        # 2026 starts on a Thursday, so it has a week 53, from Monday 28 December 2026.
        ("2026-W53", "UTC", window("2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z")),
        # Week 1 of 2026 starts in 2025.
        ("2026-W01", "UTC", window("2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z")),
        ("2026-11-27", "UTC", window("2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z")),
        ("2026-11-27", "Asia/Kolkata", window("2026-11-26T18:30:00Z", "2026-11-27T18:30:00Z")),
        (" 2026-11-27 ", "UTC", window("2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z")),
    ],
)
def test_periods_start_at_local_midnight(period: str, tz: str, expected: Window) -> None:
    assert window_for_period(period, tz) == expected


@pytest.mark.parametrize(
    ("day", "tz", "hours"),
    [
        ("2026-03-29", "Europe/Paris", 23),  # 02:00 → 03:00
        ("2026-10-25", "Europe/Paris", 25),  # 03:00 → 02:00
        ("2026-03-08", "America/New_York", 23),
        ("2026-11-01", "America/New_York", 25),
        ("2026-10-04", "Australia/Lord_Howe", 23.5),  # a half-hour shift
        ("2026-04-05", "Australia/Lord_Howe", 24.5),
        ("2026-03-28", "Europe/Paris", 24),
        ("2026-03-29", "UTC", 24),
    ],
)
def test_dst_days_last_23_or_25_hours(day: str, tz: str, hours: float) -> None:
    assert window_for_period(day, tz).duration_ms == hours * HOUR


def test_a_day_without_local_midnight_starts_when_the_clock_jumps() -> None:
    """Havana springs forward at midnight: 00:00 (-05:00) becomes 01:00 (-04:00) at 05:00Z."""
    assert window_for_period("2026-03-08", "America/Havana") == window(
        "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"
    )


def test_a_dst_month_is_an_hour_short() -> None:
    # March 2026 in Paris: 31 days, one of them 23 hours long.
    assert window_for_period("2026-03", "Europe/Paris").duration_ms == (31 * 24 - 1) * HOUR


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-13", "month must be 01 to 12"),
        ("2026-00", "month must be 01 to 12"),
        ("2025-W53", "2025 has no ISO week 53"),
        ("2026-W00", "2026 has no ISO week 0"),
        ("2026-02-30", "'2026-02-30' is not a date of the calendar"),
        ("26-11", "like 2026-11 (month), 2026-W47 (ISO week) or 2026-11-27 (day)"),
        ("", "like 2026-11"),
        ("november", "like 2026-11"),
        ("2026-11-27T00:00", "like 2026-11"),
        ("1969-12", "year must be between 1970 and 9998"),
        ("9999-12", "year must be between 1970 and 9998"),
    ],
)
def test_bad_periods_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="period") as caught:
        window_for_period(text, "UTC")
    assert message in str(caught.value)


def test_an_unknown_timezone_is_named() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Mars/Olympus'"):
        window_for_period("2026-11", "Mars/Olympus")


@pytest.mark.parametrize(
    ("period", "now", "tz", "expected"),
    [
        ("month", "2026-11-27T10:00:00Z", "UTC", ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")),
        # 23:30 UTC on 30 November is already December in Paris.
        (
            "month",
            "2026-11-30T23:30:00Z",
            "Europe/Paris",
            ("2026-11-30T23:00:00Z", "2026-12-31T23:00:00Z"),
        ),
        # Sunday 22 November belongs to the week that started on Monday 16.
        ("week", "2026-11-22T23:59:59Z", "UTC", ("2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z")),
        ("week", "2026-11-23T00:00:00Z", "UTC", ("2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z")),
        ("day", "2026-11-27T10:00:00Z", "UTC", ("2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z")),
        (
            "day",
            "2026-03-29T12:00:00Z",
            "Europe/Paris",
            ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"),
        ),
    ],
)
def test_the_current_period_contains_now(
    period: str, now: str, tz: str, expected: tuple[str, str]
) -> None:
    assert current_window(period, tz, ms(now)) == window(*expected)


def test_an_unknown_period_word_is_refused() -> None:
    with pytest.raises(ValueError, match="one of month, week, day"):
        current_window("year", "UTC", 0)


@pytest.mark.parametrize(
    ("period", "start", "tz", "label"),
    [
        ("month", "2026-10-31T23:00:00Z", "Europe/Paris", "2026-11"),
        ("week", "2026-11-16T00:00:00Z", "UTC", "2026-W47"),
        ("week", "2026-12-28T00:00:00Z", "UTC", "2026-W53"),
        ("week", "2025-12-29T00:00:00Z", "UTC", "2026-W01"),
        ("day", "2026-11-26T18:30:00Z", "Asia/Kolkata", "2026-11-27"),
    ],
)
def test_period_labels(period: str, start: str, tz: str, label: str) -> None:
    assert period_label(period, ms(start), tz) == label
    assert window_for_period(label, tz).from_ms == ms(start)


def test_from_and_to_need_an_offset() -> None:
    assert window_between("2026-11-01T00:00:00Z", "2026-11-01T02:00:00+01:00") == Window(
        ms("2026-11-01T00:00:00Z"), ms("2026-11-01T01:00:00Z")
    )
    assert parse_instant_ms("2026-11-01T00:00:00.250Z", "from") == ms("2026-11-01T00:00:00Z") + 250
    unencoded_plus = "2026-11-01T01:00:00.5 01:00"  # '+01:00' after a query string's decoding
    assert parse_instant_ms(unencoded_plus, "from") == ms("2026-11-01T00:00:00Z") + 500
    assert parse_instant_ms("2026-11-01 01:00:00 0100", "from") == ms("2026-11-01T00:00:00Z")
    with pytest.raises(ValueError, match=r"^from: must be an RFC 3339 time with an offset"):
        window_between("2026-11-01T00:00:00", "2026-11-02T00:00:00Z")
    with pytest.raises(ValueError, match=r"^to: must be an RFC 3339 time with an offset"):
        window_between("2026-11-01T00:00:00Z", "tomorrow")
    with pytest.raises(ValueError, match=r"^to: must be after from$"):
        window_between("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z")


def test_resolve_window_reads_a_request() -> None:
    now = ms("2026-11-27T10:00:00Z")
    current = resolve_window("month", "UTC", now)
    assert current == window("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert resolve_window("month", "UTC", now, period="2026-W47") == window_for_period(
        "2026-W47", "UTC"
    )
    assert resolve_window(
        "day", "UTC", now, from_text="2026-11-01T00:00:00Z", to_text="2026-11-03T00:00:00Z"
    ) == window("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z")
    with pytest.raises(ValueError, match="either period or from and to"):
        resolve_window("month", "UTC", now, period="2026-11", from_text="2026-11-01T00:00:00Z")
    with pytest.raises(ValueError, match="from and to go together"):
        resolve_window("month", "UTC", now, from_text="2026-11-01T00:00:00Z")


def test_instants_print_in_utc_with_milliseconds_only_when_needed() -> None:
    assert format_instant(ms("2026-11-01T00:00:00Z")) == "2026-11-01T00:00:00Z"
    assert format_instant(ms("2026-11-01T00:00:00Z") + 5) == "2026-11-01T00:00:00.005Z"
    assert format_instant(ms("2026-11-01T00:00:00Z") - 1) == "2026-10-31T23:59:59.999Z"


def test_a_window_ends_after_it_starts() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        Window(5, 5)
    assert Window(0, 10).as_of(4) == 4
    assert Window(0, 10).as_of(40) == 10
    assert Window(5, 10).as_of(1) == 5


ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/Havana"]


@settings(max_examples=200, deadline=None)
@given(st.dates(date(1971, 1, 1), date(2090, 12, 31)), st.sampled_from(ZONES))
def test_days_tile_weeks_and_months(day: date, tz: str) -> None:
    today = window_for_period(day.isoformat(), tz)
    tomorrow = window_for_period((day + timedelta(days=1)).isoformat(), tz)
    assert today.to_ms == tomorrow.from_ms
    assert 22 * HOUR <= today.duration_ms <= 26 * HOUR
    local_start = datetime.fromtimestamp(today.from_ms / 1000, ZoneInfo(tz))
    assert local_start.date() == day
    assert local_start.hour <= 1  # midnight, or just after a jump at midnight
    month = window_for_period(f"{day.year}-{day.month:02d}", tz)
    assert month.from_ms <= today.from_ms and today.to_ms <= month.to_ms
    year, week, _ = day.isocalendar()
    iso_week = window_for_period(f"{year}-W{week:02d}", tz)
    assert iso_week.from_ms <= today.from_ms and today.to_ms <= iso_week.to_ms


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(datetime(1971, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(ZONES),
    st.sampled_from(["month", "week", "day"]),
)
def test_the_current_window_is_the_period_labelled_so(now: datetime, tz: str, period: str) -> None:
    now_ms = round(now.timestamp() * 1000)
    current = current_window(period, tz, now_ms)
    assert current.from_ms <= now_ms < current.to_ms
    assert window_for_period(period_label(period, current.from_ms, tz), tz) == current
