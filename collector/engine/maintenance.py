"""Maintenance windows as intervals of Unix milliseconds (CONTRACT §2 `maintenance`, §4.4, §4.7).

Pure. Config windows are one-off (`start`/`end`, already instants) or recurring (`every: sunday`
or `day`, `at: "02:00"`, `duration: 2h`) in the SLA's timezone; windows declared at run time
arrive as intervals. A recurring window starts at the local time `at` as `datetime(...,
tzinfo=zone)` reads it (PEP 495: a time skipped by DST is read with the offset before the jump,
a repeated one is its first occurrence) and lasts `duration` of real time, even across a DST
change. Overlapping or touching windows merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slawatch.collector.engine.periods import from_ms, to_ms, zone_of
from slawatch.config.contract import WEEKDAYS
from slawatch.config.schema import Maintenance, OneOffMaintenance, RecurringMaintenance

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open range `[start_ms, end_ms)` of Unix milliseconds."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms:
            raise ValueError("an interval must not end before it starts")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """One occurrence of a maintenance window, as people read it (reports list these)."""

    start_ms: int
    end_ms: int
    reason: str = ""

    @property
    def interval(self) -> Interval:
        return Interval(self.start_ms, self.end_ms)


def seconds_to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def occurrences(
    windows: Sequence[Maintenance], tz: str | ZoneInfo, span: Interval
) -> list[MaintenanceWindow]:
    """Every occurrence of the config `windows` that overlaps `span`, unclipped, by start."""
    zone = zone_of(tz)
    found: list[MaintenanceWindow] = []
    for window in windows:
        if isinstance(window, OneOffMaintenance):
            candidates: Iterable[MaintenanceWindow] = [
                MaintenanceWindow(
                    seconds_to_ms(window.start), seconds_to_ms(window.end), window.reason
                )
            ]
        else:
            candidates = _recurring(window, zone, span)
        found.extend(o for o in candidates if o.end_ms > span.start_ms and o.start_ms < span.end_ms)
    found.sort(key=lambda o: (o.start_ms, o.end_ms))
    return found


def _recurring(
    window: RecurringMaintenance, zone: ZoneInfo, span: Interval
) -> Iterable[MaintenanceWindow]:
    duration_ms = seconds_to_ms(window.duration)
    # One day of slack on each side covers any UTC offset and DST shift of the local start.
    day = from_ms(span.start_ms - duration_ms - DAY_MS, zone).date()
    last_day = from_ms(span.end_ms + DAY_MS, zone).date()
    weekday = None if window.every == "day" else WEEKDAYS.index(window.every)
    while day <= last_day:
        if weekday is None or day.weekday() == weekday:
            start = to_ms(datetime.combine(day, window.at, tzinfo=zone))
            yield MaintenanceWindow(start, start + duration_ms, window.reason)
        day += timedelta(days=1)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering exactly the union of `intervals` (empty ones dropped)."""
    merged: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: i.start_ms):
        if interval.end_ms <= interval.start_ms:
            continue
        if merged and interval.start_ms <= merged[-1].end_ms:
            if interval.end_ms > merged[-1].end_ms:
                merged[-1] = Interval(merged[-1].start_ms, interval.end_ms)
            continue
        merged.append(interval)
    return merged


def maintenance_intervals(
    windows: Sequence[Maintenance],
    tz: str | ZoneInfo,
    span: Interval,
    declared: Iterable[Interval] = (),
) -> list[Interval]:
    """The time under maintenance inside `span`: config and declared windows, merged, clipped."""
    config = (o.interval for o in occurrences(windows, tz, span))
    return clip(merge([*config, *declared]), span)


def clip(intervals: Iterable[Interval], span: Interval) -> list[Interval]:
    return [
        Interval(max(i.start_ms, span.start_ms), min(i.end_ms, span.end_ms))
        for i in intervals
        if i.end_ms > span.start_ms and i.start_ms < span.end_ms
    ]


def overlap_ms(intervals: Sequence[Interval], start_ms: int, end_ms: int) -> int:
    """How much of `[start_ms, end_ms)` sorted disjoint `intervals` cover."""
    return sum(
        max(0, min(i.end_ms, end_ms) - max(i.start_ms, start_ms))
        for i in intervals
        if i.end_ms > start_ms and i.start_ms < end_ms
    )


def subtract(span: Interval, holes: Sequence[Interval]) -> list[Interval]:
    """The parts of `span` outside the sorted disjoint `holes`."""
    parts: list[Interval] = []
    cursor = span.start_ms
    for hole in holes:
        if hole.end_ms <= cursor:
            continue
        if hole.start_ms >= span.end_ms:
            break
        if hole.start_ms > cursor:
            parts.append(Interval(cursor, hole.start_ms))
        cursor = max(cursor, hole.end_ms)
    if cursor < span.end_ms:
        parts.append(Interval(cursor, span.end_ms))
    return parts
