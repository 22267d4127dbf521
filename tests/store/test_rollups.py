"""Hourly rollups and latency reads: every ok latency counted in its bucket whatever the
batching, histograms close to the exact percentiles, reads bounded by checks and windows."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.collector.engine.latency import (
    LATENCY_GAMMA,
    RankedLatencies,
    bucket_value,
    latency_bucket,
)
from slawatch.collector.store import Store
from tests.store.support import DAY_MS, FOREVER, HOUR_MS, T0, ingest, row
from tests.stores import StoreFactory

EDGE_LATENCIES = [0.0, 1e-4, 0.000999, 0.001, 1.0, *(LATENCY_GAMMA**k for k in (-6, -4, 2, 3, 23, 24)),
                  84.1, 2 ** 0.5, 1.7e308]  # fmt: skip
"""Zero, the smallest bucket's edge, bucket edges γ^k (γ^3 and γ^23: where `latency_bucket`'s
1e-9 matters), and the largest finite float."""


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(EDGE_LATENCIES),
            st.floats(0, 1e7),
            st.integers(0, 10**6).map(float),
            st.none(),
        ),
        min_size=1,
        max_size=300,
    ),
    st.integers(1, 7),
)
def test_each_ok_latency_is_counted_in_its_bucket_whatever_the_batching(
    store_factory: StoreFactory, latencies: list[float | None], batches: int
) -> None:
    """None: a failed sample, counted but without latency."""
    rows = [
        row(T0 + i * 1000, ok=latency is not None, latency=latency, interval_ms=1000)
        for i, latency in enumerate(latencies)
    ]
    expected: dict[int, int] = {}
    for latency in latencies:
        if latency is not None:
            expected[latency_bucket(latency)] = expected.get(latency_bucket(latency), 0) + 1

    async def scenario() -> None:
        async with store_factory.opened() as store:
            for start in range(batches):
                await ingest(store, rows[start::batches])
            ok = sum(latency is not None for latency in latencies)
            assert await store.hourly_counts(["web"], T0, T0 + HOUR_MS) == {
                "web": {T0: (len(rows), ok)}
            }
            assert await store.latency_histograms(["web"], T0, T0 + HOUR_MS) == expected

    asyncio.run(scenario())


async def test_a_month_percentile_from_histograms_is_within_one_percent_of_the_exact_one(
    store: Store,
) -> None:
    latencies = [5 + (i * 7919 % 1000) * 0.731 for i in range(3000)]
    rows = [
        row(T0 + i * 20_000, latency=lat, interval_ms=20_000) for i, lat in enumerate(latencies)
    ]
    rows.append(row(T0 + 3000 * 20_000, ok=False, latency=None))
    await ingest(store, rows)
    exact = await store.latency_values(["web"], T0, T0 + 30 * DAY_MS)
    assert sorted(exact) == sorted(latencies)
    histogram = await store.latency_histograms(["web"], T0, T0 + 30 * DAY_MS)
    assert sum(histogram.values()) == len(latencies)
    from_raw, from_histogram = RankedLatencies.of(exact, {}), RankedLatencies.of((), histogram)
    for percentile in (50, 95, 99):
        exact_at, approximate_at = from_raw.at(percentile), from_histogram.at(percentile)
        assert exact_at is not None and approximate_at is not None
        assert abs(approximate_at[0] - exact_at[0]) / exact_at[0] < 0.01


async def test_latency_reads_respect_checks_and_windows(store: Store) -> None:
    await ingest(store, [row(T0, latency=10), row(T0 + HOUR_MS, latency=20),
                         row(T0, check="db", latency=30)])  # fmt: skip
    assert await store.latency_values(["web"], T0, T0 + HOUR_MS) == [10]
    assert sorted(await store.latency_values(["web", "db"], T0, T0 + 2 * HOUR_MS)) == [10, 20, 30]
    assert await store.latency_values([], T0, T0 + 2 * HOUR_MS) == []
    assert (
        sum((await store.latency_histograms(["web"], T0 + HOUR_MS, T0 + 2 * HOUR_MS)).values()) == 1
    )
    assert await store.latency_histograms([], T0, T0 + HOUR_MS) == {}


async def test_the_raw_latencies_behind_one_bucket(store: Store) -> None:
    bucket = latency_bucket(100.0)
    inside = [v for v in (99.0, 99.5, 100.0, 100.5, 101.0) if latency_bucket(v) == bucket]
    outside = [50.0, 150.0, next(v for v in (97.0, 97.5, 98.0) if latency_bucket(v) != bucket)]
    values = [*inside, *outside]
    await ingest(
        store, [row(T0 + i * 1000, latency=v, interval_ms=1000) for i, v in enumerate(values)]
    )
    await ingest(store, [row(T0 + HOUR_MS, latency=100.0)])  # outside the window
    found = await store.bucket_latencies(["web"], T0, T0 + HOUR_MS, bucket)
    assert sorted(found) == sorted(inside)
    assert len(inside) >= 3
    assert all(bucket_value(bucket) == bucket_value(latency_bucket(v)) for v in found)
    assert await store.bucket_latencies([], T0, T0 + HOUR_MS, bucket) == []


async def test_hourly_counts_sum_agents_per_check_and_hour(store: Store) -> None:
    await ingest(store, [row(T0), row(T0 + 1000, ok=False, latency=None), row(T0 + HOUR_MS)])
    await ingest(store, [row(T0), row(T0, check="db")], agent="us-1")
    assert await store.hourly_counts(["web", "db"], T0, T0 + 2 * HOUR_MS) == {
        "web": {T0: (3, 2), T0 + HOUR_MS: (1, 1)},
        "db": {T0: (1, 1)},
    }
    assert await store.hourly_counts(["web"], T0 + HOUR_MS, FOREVER) == {
        "web": {T0 + HOUR_MS: (1, 1)}
    }


async def test_day_marks_change_when_a_day_gets_samples(store: Store) -> None:
    day = T0 - T0 % DAY_MS
    await ingest(store, [row(day + HOUR_MS), row(day + 2 * HOUR_MS), row(day + DAY_MS)])
    marks = await store.rollup_day_marks(["web"], day, day + 2 * DAY_MS)
    assert marks == {day: (2, 2), day + DAY_MS: (1, 1)}
    await ingest(store, [row(day + HOUR_MS + 1000)])  # late, in an hour already rolled up
    assert (await store.rollup_day_marks(["web"], day, day + DAY_MS))[day] == (2, 3)
    assert await store.rollup_day_marks([], day, day + DAY_MS) == {}
