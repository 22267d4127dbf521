"""Samples and pushes for the store contract suite."""

from __future__ import annotations

from slawatch.collector.samples import SampleRow
from slawatch.collector.store import SampleStore

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % HOUR_MS
MINUTE = 60_000
FOREVER = 2**62


def row(ts_ms: int, ok: bool = True, *, check: str = "web", interval_ms: int = MINUTE,
        latency: float | None = 50.0, error: str | None = None) -> SampleRow:  # fmt: skip
    return SampleRow(ts_ms, ok, latency, interval_ms, 200, error, None, None, None, None, None,
                     None, check, "http")  # fmt: skip


async def ingest(store: SampleStore, rows: list[SampleRow], agent: str = "eu-1") -> tuple[int, int]:
    result = await store.ingest(agent, rows, labels=None, now_ms=T0)
    return result.accepted, result.duplicates


async def rollups(store: SampleStore, check: str) -> tuple[object, ...]:
    """Every hour's counts and histogram of `check`."""
    counts = await store.hourly_counts([check], 0, FOREVER)
    hours = sorted(counts.get(check, {}))
    histograms = [await store.latency_histograms([check], h, h + HOUR_MS) for h in hours]
    return counts, histograms


def every_other_minute() -> tuple[list[SampleRow], list[SampleRow]]:
    """Samples of even minutes (in time order), and of odd minutes (late, two of them DOWN)."""
    newest = [row(T0 + i * MINUTE) for i in range(0, 40, 2)]
    late = [row(T0 + i * MINUTE, ok=i not in (7, 9), error=None if i not in (7, 9) else "x")
            for i in range(1, 39, 2)]  # fmt: skip
    return newest, late
