"""The latency part of a report (CONTRACT §4.6): which latencies to fetch for a window
(`latency_plan`: raw samples at the edges, hourly histograms for whole hours, nothing of
maintenance or of time outside service hours), and their percentiles (`summarize_latency`, by
nearest rank over raw values and histogram buckets, `slawatch.collector.engine.latency`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slawatch.collector.engine.hours import removed_time
from slawatch.collector.engine.latency import RankedLatencies
from slawatch.collector.engine.maintenance import Interval, merge, subtract
from slawatch.collector.engine.periods import Window
from slawatch.config.schema import Sla

HOUR_MS = 3_600_000
REPORTED_PERCENTILES = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class LatencySource:
    """The `latency_ms` of the ok samples `latency_plan` asked for: raw values and histograms."""

    values: Sequence[float] = ()
    """Raw latencies of the plan's `raw` ranges."""
    buckets: Mapping[int, int] = field(default_factory=dict)
    """Bucket (`slawatch.collector.engine.latency`) → count, merged over the plan's `hourly`
    ranges."""


@dataclass(frozen=True, slots=True)
class LatencyPlan:
    """Where the latencies of a report come from: raw values for `raw` ranges (partial hours at
    the edges and around maintenance), merged hourly histograms for `hourly` (whole UTC hours).
    Together they cover `[from, as_of)` outside maintenance, each instant once."""

    raw: tuple[Interval, ...]
    hourly: tuple[Interval, ...]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    objective_ms: float | None
    objective_percentile: float | None
    value_ms: float | None
    """The latency at `objective_percentile` (None without an objective or without samples)."""
    met: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "objective_ms": plain_number(self.objective_ms),
            "objective_percentile": plain_number(self.objective_percentile),
            "met": self.met,
        }


def latency_plan(
    sla: Sla,
    window: Window,
    now_ms: int,
    declared_maintenance: Sequence[Interval] = (),
    *,
    hourly: bool = True,
) -> LatencyPlan:
    """Which latencies to fetch: the window up to as_of, outside maintenance (§4.6). With
    `hourly`, whole UTC hours come from histograms and only the rest from raw samples."""
    as_of = window.as_of(now_ms)
    span = Interval(window.from_ms, as_of)
    holes, _ = removed_time(sla, span, declared_maintenance)
    eligible = subtract(span, holes)
    if not hourly:
        return LatencyPlan(tuple(eligible), ())
    raw: list[Interval] = []
    hours: list[Interval] = []
    for part in eligible:
        first_hour = -(-part.start_ms // HOUR_MS) * HOUR_MS
        last_hour = part.end_ms // HOUR_MS * HOUR_MS
        if first_hour >= last_hour:
            raw.append(part)
            continue
        raw.append(Interval(part.start_ms, first_hour))
        hours.append(Interval(first_hour, last_hour))
        raw.append(Interval(last_hour, part.end_ms))
    return LatencyPlan(tuple(merge(raw)), tuple(merge(hours)))


def summarize_latency(sla: Sla, latency: LatencySource | None) -> LatencySummary:
    """Percentiles by nearest rank over raw values and histogram buckets (§4.6)."""
    ranked = _ranked(latency)

    def at(percentile: float) -> float | None:
        found = ranked.at(percentile)
        return None if found is None else found[0]

    objective = sla.latency
    value = at(objective.percentile) if objective else None
    objective_ms = round(objective.objective * 1000, 6) if objective else None
    return LatencySummary(
        count=ranked.count,
        p50_ms=at(REPORTED_PERCENTILES[0]),
        p95_ms=at(REPORTED_PERCENTILES[1]),
        p99_ms=at(REPORTED_PERCENTILES[2]),
        objective_ms=objective_ms,
        objective_percentile=objective.percentile if objective else None,
        value_ms=value,
        met=None if value is None or objective_ms is None else value <= objective_ms,
    )


def bucket_at_percentile(latency: LatencySource, percentile: float) -> int | None:
    """The histogram bucket that the `percentile`-th latency comes from; None when it is a raw
    value (or there are none). Its raw samples make that percentile exact (`reports`)."""
    found = _ranked(latency).at(percentile)
    return None if found is None else found[1]


def _ranked(latency: LatencySource | None) -> RankedLatencies:
    return RankedLatencies.of(latency.values, latency.buckets) if latency else _NO_LATENCIES


_NO_LATENCIES = RankedLatencies.of((), {})


def plain_number(number: float | None) -> float | int | None:
    """Whole numbers as ints in JSON (`"objective_ms": 800`), others as they are."""
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number
