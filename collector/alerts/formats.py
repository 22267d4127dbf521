"""How times, durations and numbers read in alerts. Times are shown in UTC: the people reading
are in many zones, and "03:12 UTC" is unambiguous."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def format_duration(seconds: float) -> str:
    """ "45s", "7m 4s", "1h", "2d 3h": the two largest units, rounded down."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    units = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
    index = next(i for i, (_, size) in enumerate(units) if total >= size)
    (big_name, big_size), (small_name, small_size) = units[index], units[index + 1]
    big, small = total // big_size, total % big_size // small_size
    return f"{big}{big_name} {small}{small_name}" if small else f"{big}{big_name}"


def format_time(ts: float, reference: float, *, with_date: bool = False) -> str:
    """ "03:12 UTC", with the date when `ts` is not on `reference`'s day (or when asked)."""
    moment = datetime.fromtimestamp(ts, UTC)
    if with_date or moment.date() != datetime.fromtimestamp(reference, UTC).date():
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%H:%M UTC")


def format_span(start: float, end: float, reference: float) -> str:
    """ "03:12–03:19 UTC", or with dates when the span crosses a day or is not today's."""
    first = datetime.fromtimestamp(start, UTC)
    last = datetime.fromtimestamp(end, UTC)
    today = datetime.fromtimestamp(reference, UTC).date()
    if first.date() == last.date() == today:
        return f"{first:%H:%M}–{last:%H:%M} UTC"
    if first.date() == last.date():
        return f"{first:%Y-%m-%d %H:%M}–{last:%H:%M} UTC"
    return f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC"


def format_instant(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_date(ts: float, zone: ZoneInfo | None = None) -> str:
    """The calendar date of `ts` in `zone` (default UTC)."""
    return datetime.fromtimestamp(ts, zone or UTC).strftime("%Y-%m-%d")


def rfc3339(ts: float) -> str:
    """ "2026-11-27T03:12:05Z", with milliseconds when the instant has them."""
    moment = datetime.fromtimestamp(ts, UTC)
    spec = "seconds" if moment.microsecond < 1000 else "milliseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def format_percent(value: float) -> str:
    """Rounded down to 3 decimals, so 99.8999 never reads as 99.9 and 99.9999 never as 100."""
    floored = math.floor(round(value * 1000, 6)) / 1000
    return f"{floored:.3f}".rstrip("0").rstrip(".") + "%"


def format_number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def format_rate(rate: float) -> str:
    return f"{rate:.1f}×"
