"""Inline SVG charts, server-drawn (no script, no external asset): a period's sparkline and a
response-time chart. Only numbers go into the markup; labels are rendered by the templates,
escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SPARK_WIDTH, SPARK_HEIGHT = 120, 28
CHART_WIDTH, CHART_HEIGHT = 600, 160
CHART_PAD = 4


@dataclass(frozen=True, slots=True)
class Spark:
    points: str
    """`x,y x,y …` of the polyline; empty without any value."""
    low: str
    """`x,y` of the days below the objective (dots), space separated."""
    floor: float
    """The availability at the bottom of the chart."""


def sparkline(values: Sequence[float | None], objective: float) -> Spark:
    """Daily availabilities of a period, oldest first; None for a day without data."""
    known = [v for v in values if v is not None]
    if not known:
        return Spark("", "", objective)
    floor = max(0.0, min(*known, 2 * objective - 100, 99.9))
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    points, low = [], []
    for index, value in enumerate(values):
        if value is None:
            continue
        x = round(index * step, 1)
        y = round(SPARK_HEIGHT - 2 - (value - floor) / (100 - floor) * (SPARK_HEIGHT - 4), 1)
        points.append(f"{x},{y}")
        if value < objective:
            low.append((x, y))
    return Spark(" ".join(points), " ".join(f"{x},{y}" for x, y in low), floor)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: str
    marks: tuple[tuple[float, float, float], ...] = ()
    """(x, y, ms) of each point: a dot whose title tells its value (a tooltip, no script)."""


@dataclass(frozen=True, slots=True)
class Chart:
    series: tuple[Series, ...]
    top_ms: float
    """The latency at the top of the chart."""
    buckets: int
    empty: bool
    latest: tuple[float | None, float | None] = (None, None)
    """p50 and p95 of the newest bucket with data."""


def latency_chart(rows: Sequence[tuple[float | None, float | None]]) -> Chart:
    """p50 and p95 per time bucket, oldest first (None: no ok sample in it)."""
    values = [v for row in rows for v in row if v is not None]
    top = _nice(max(values)) if values else 1.0
    step = (CHART_WIDTH - 2 * CHART_PAD) / max(len(rows) - 1, 1)
    series = []
    for index, name in enumerate(("p50", "p95")):
        points, marks = [], []
        for position, row in enumerate(rows):
            value = row[index]
            if value is None:
                continue
            x = round(CHART_PAD + position * step, 1)
            y = round(CHART_HEIGHT - CHART_PAD - value / top * (CHART_HEIGHT - 2 * CHART_PAD), 1)
            points.append(f"{x},{y}")
            marks.append((x, y, round(value, 1)))
        series.append(Series(name, " ".join(points), tuple(marks)))
    latest = next((row for row in reversed(rows) if row[0] is not None), (None, None))
    return Chart(tuple(series), top, len(rows), not values, latest)


def _nice(value: float) -> float:
    """A round number at least `value`: 1, 2 or 5 times a power of ten."""
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value and magnitude > 0.001:
        magnitude /= 10
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value:
            return factor * magnitude
    return 10 * magnitude


def percentile(sorted_values: Sequence[float], percent: float) -> float | None:
    """Nearest rank, as reports count (CONTRACT §4.6)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * percent // 100))
    return sorted_values[int(rank) - 1]
