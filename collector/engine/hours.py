"""Service hours and holidays as intervals of Unix milliseconds (CONTRACT §7). Pure.

An instant is inside service hours when the SLA timezone's wall clock, at that instant, reads a
day that is not a holiday and a time inside one of the lines of `hours` for that weekday. This is
the wall clock's own reading, so it stays exact across DST changes: on the day a clock springs
forward from 02:00 to 03:00, hours from 01:00 to 04:00 last two real hours; on the day it falls
back, the repeated hour is inside hours twice if its reading is.

How: the range is cut into pieces of constant UTC offset (each change found to the millisecond by
bisection); on a piece with offset `o`, local reading = instant + `o`, so the instants of local
time range `[a, b)` are `[a − o, b − o)`, clipped to the piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from slawatch.collector.engine.maintenance import (
    Interval,
    maintenance_intervals,
    merge,
    subtract,
)
from slawatch.collector.engine.periods import zone_of
from slawatch.config.schema import ServiceHours, Sla

DAY_MS = 86_400_000
STEP_MS = 6 * 3_600_000
"""How often the offset is sampled: zones change offset at most once in this long."""
EPOCH_DAY = date(1970, 1, 1)


def is_round_the_clock(sla: Sla) -> bool:
    """No hours and no holidays: every instant is inside service hours."""
    return not sla.hours and not sla.holidays


def outside_hours(sla: Sla, span: Interval) -> list[Interval]:
    """The time of `span` outside the SLA's service hours (holidays included): sorted, disjoint."""
    if is_round_the_clock(sla) or span.end_ms <= span.start_ms:
        return []
    return subtract(span, service_intervals(sla.hours, sla.holidays, sla.timezone, span))


def service_intervals(
    hours: Sequence[ServiceHours],
    holidays: Sequence[date],
    tz: str | ZoneInfo,
    span: Interval,
) -> list[Interval]:
    """The time of `span` inside service hours: sorted, disjoint. No `hours`: all day, every day
    but the holidays."""
    hours = hours or (ServiceHours(tuple(range(7)), 0, 86_400),)
    by_weekday: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for line in hours:
        for day in line.days:
            by_weekday[day].append((line.start_s * 1000, line.end_s * 1000))
    days_off = {(holiday - EPOCH_DAY).days for holiday in holidays}
    found: list[Interval] = []
    for piece_start, piece_end, offset in offset_pieces(zone_of(tz), span.start_ms, span.end_ms):
        local_start, local_end = piece_start + offset, piece_end + offset
        for day in range(local_start // DAY_MS, (local_end - 1) // DAY_MS + 1):
            if day in days_off:
                continue
            midnight = day * DAY_MS - offset
            for start, end in by_weekday[(day + 3) % 7]:  # 1970-01-01 was a Thursday
                first, last = max(midnight + start, piece_start), min(midnight + end, piece_end)
                if first < last:
                    found.append(Interval(first, last))
    return merge(found)


def offset_pieces(zone: ZoneInfo, start_ms: int, end_ms: int) -> list[tuple[int, int, int]]:
    """`[start_ms, end_ms)` cut where the zone's UTC offset changes: (start, end, offset ms)."""
    pieces: list[tuple[int, int, int]] = []
    cursor, offset = start_ms, offset_ms(zone, start_ms)
    probe = start_ms
    while probe < end_ms:
        probe = min(probe + STEP_MS, end_ms)
        if offset_ms(zone, probe) == offset and probe < end_ms:
            continue
        if probe == end_ms and offset_ms(zone, end_ms - 1) == offset:
            break
        change = _first_change(zone, cursor, probe, offset)
        pieces.append((cursor, change, offset))
        cursor, offset, probe = change, offset_ms(zone, change), change
    pieces.append((cursor, end_ms, offset))
    return pieces


def _first_change(zone: ZoneInfo, low: int, high: int, offset: int) -> int:
    """The first instant in `(low, high]` whose offset is not `offset` (there is one)."""
    while high - low > 1:
        middle = (low + high) // 2
        if offset_ms(zone, middle) == offset:
            low = middle
        else:
            high = middle
    return high


def offset_ms(zone: ZoneInfo, instant_ms: int) -> int:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=instant_ms)
    offset = zone.utcoffset(moment.astimezone(zone))
    return 0 if offset is None else offset // timedelta(milliseconds=1)


def removed_time(
    sla: Sla, span: Interval, declared_maintenance: Sequence[Interval] = ()
) -> tuple[list[Interval], list[Interval]]:
    """The time of `span` removed from the SLA (§4.4.2, §7): maintenance (config and declared)
    and time outside service hours, merged; and the part outside service hours alone."""
    maintenance = maintenance_intervals(sla.maintenance, sla.timezone, span, declared_maintenance)
    outside = outside_hours(sla, span)
    if not outside:
        return maintenance, outside
    return merge([*maintenance, *outside]), outside
