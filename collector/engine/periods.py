"""Report windows (CONTRACT §4.6): calendar periods in an IANA timezone, and explicit from/to.

A window is a half-open range of Unix milliseconds. Calendar periods start at local midnight in
the SLA's timezone, so a DST day lasts 23 or 25 hours and a month is as long as its days make it.
Where local midnight does not exist (a zone that springs forward at 00:00), the period starts at
the first instant after the gap, which is what `datetime(..., tzinfo=zone)` gives (PEP 495).

Every parser raises `ValueError` with a message meant for the user (the API answers 400 with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
PERIOD_WORDS = ("month", "week", "day")
MIN_YEAR, MAX_YEAR = 1970, 9998

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-[Ww](\d{2})")
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
PERIOD_HINT = "like 2026-11 (month), 2026-W47 (ISO week) or 2026-11-27 (day)"
INSTANT_HINT = "an RFC 3339 time with an offset, like 2026-11-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class Window:
    """A report window `[from_ms, to_ms)` in Unix milliseconds."""

    from_ms: int
    to_ms: int

    def __post_init__(self) -> None:
        if self.to_ms <= self.from_ms:
            raise ValueError("a window must end after it starts")

    @property
    def duration_ms(self) -> int:
        return self.to_ms - self.from_ms

    def as_of(self, now_ms: int) -> int:
        """Where totals stop: `min(to, now)`, never before `from` (a future window is empty)."""
        return max(self.from_ms, min(self.to_ms, now_ms))


def zone_of(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {tz!r}") from None


def to_ms(moment: datetime) -> int:
    """Unix milliseconds of an aware datetime, exactly (sub-millisecond parts are floored)."""
    return (moment - EPOCH) // ONE_MS


def from_ms(ms: int, zone: ZoneInfo) -> datetime:
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(zone)


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=zone))


def format_instant(ms: int) -> str:
    """RFC 3339 in UTC with `Z`, with milliseconds only when the instant is not a whole second."""
    moment = EPOCH + timedelta(milliseconds=ms)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


_LOST_PLUS = re.compile(r"(\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


def restore_offset_plus(text: str) -> str:
    """`text` with its `+hh:mm` offset back where a query string's decoding made it ` hh:mm`
    (a `+` typed unencoded in a URL); anything else unchanged."""
    return _LOST_PLUS.sub(r"\1+\2", text)


def parse_instant_ms(text: str, name: str) -> int:
    """Unix ms of an RFC 3339 time that carries its offset; `name` says which parameter it was."""
    try:
        moment = datetime.fromisoformat(restore_offset_plus(text.strip()))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{name}: must be {INSTANT_HINT}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name}: must be {INSTANT_HINT}")
    return to_ms(moment)


# ------------------------------------------------------------------------------------- periods


def window_for_period(text: str, tz: str | ZoneInfo) -> Window:
    """The window of `2026-11`, `2026-W47` or `2026-11-27`, from local midnight in `tz`."""
    zone = zone_of(tz)
    spec = text.strip() if isinstance(text, str) else ""
    if match := _DAY.fullmatch(spec):
        year, month, day = (int(g) for g in match.groups())
        _check_year(year)
        try:
            first = date(year, month, day)
        except ValueError:
            raise ValueError(f"period: {spec!r} is not a date of the calendar") from None
        return _window(first, first + timedelta(days=1), zone)
    if match := _WEEK.fullmatch(spec):
        year, week = int(match.group(1)), int(match.group(2))
        _check_year(year)
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"period: {year} has no ISO week {week}") from None
        return _window(monday, monday + timedelta(days=7), zone)
    if match := _MONTH.fullmatch(spec):
        year, month = int(match.group(1)), int(match.group(2))
        _check_year(year)
        if not 1 <= month <= 12:
            raise ValueError(f"period: month must be 01 to 12, {PERIOD_HINT}")
        first = date(year, month, 1)
        return _window(first, _next_month(first), zone)
    raise ValueError(f"period: must be {PERIOD_HINT}")


def current_window(period: str, tz: str | ZoneInfo, now_ms: int) -> Window:
    """The calendar `month`, `week` (ISO, from Monday) or `day` in `tz` that contains `now_ms`."""
    zone = zone_of(tz)
    today = from_ms(now_ms, zone).date()
    if period == "day":
        return _window(today, today + timedelta(days=1), zone)
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return _window(monday, monday + timedelta(days=7), zone)
    if period == "month":
        first = today.replace(day=1)
        return _window(first, _next_month(first), zone)
    raise ValueError(f"period must be one of {', '.join(PERIOD_WORDS)}")


def period_label(period: str, start_ms: int, tz: str | ZoneInfo) -> str:
    """How the `period` (month, week or day) starting at `start_ms` is named: `2026-11` …"""
    day = from_ms(start_ms, zone_of(tz)).date()
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise ValueError(f"period must be one of {', '.join(PERIOD_WORDS)}")


def window_between(from_text: str, to_text: str) -> Window:
    """The window of explicit `from`/`to` RFC 3339 times (each with its offset)."""
    start = parse_instant_ms(from_text, "from")
    end = parse_instant_ms(to_text, "to")
    if end <= start:
        raise ValueError("to: must be after from")
    return Window(start, end)


def resolve_window(
    default_period: str,
    tz: str | ZoneInfo,
    now_ms: int,
    *,
    period: str | None = None,
    from_text: str | None = None,
    to_text: str | None = None,
) -> Window:
    """The window a request asks for: `period`, or `from` and `to`, or else the current period."""
    if period is not None and (from_text is not None or to_text is not None):
        raise ValueError("give either period or from and to, not both")
    if period is not None:
        return window_for_period(period, tz)
    if from_text is not None and to_text is not None:
        return window_between(from_text, to_text)
    if from_text is not None or to_text is not None:
        raise ValueError("from and to go together: give both")
    return current_window(default_period, tz, now_ms)


def _window(first: date, end: date, zone: ZoneInfo) -> Window:
    return Window(local_midnight_ms(first, zone), local_midnight_ms(end, zone))


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"period: year must be between {MIN_YEAR} and {MAX_YEAR}")
