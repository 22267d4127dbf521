"""Retention: raw samples go after `retention.raw`, runs and rollups after `retention.rollups`;
a late sample where raw samples are pruned keeps the runs it cannot re-decide."""

from __future__ import annotations

from slawatch.collector.engine.timeline import Run, build_runs
from slawatch.collector.store import Store
from tests.store.support import DAY_MS, FOREVER, HOUR_MS, MINUTE, T0, ingest, row


async def prune_before(store: Store, cutoff_ms: int) -> int:
    now = cutoff_ms + 35 * DAY_MS
    return await store.prune(now, raw_retention_ms=35 * DAY_MS, rollup_retention_ms=400 * DAY_MS)


async def test_pruning_removes_old_raw_samples_and_keeps_runs_and_rollups(store: Store) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(120)])
    runs_before = await store.runs(["web"], 0, FOREVER)
    assert store.raw_horizon_ms < T0
    assert await prune_before(store, T0 + 50 * MINUTE) == 50
    assert store.raw_horizon_ms == T0 + 50 * MINUTE
    assert await store.sample_count() == 70
    assert await store.runs(["web"], 0, FOREVER) == runs_before
    assert (await store.hourly_counts(["web"], 0, FOREVER))["web"][T0] == (60, 60)
    assert await store.latency_values(["web"], 0, FOREVER) == [50.0] * 70
    assert await prune_before(store, T0 + 50 * MINUTE) == 0


async def test_derived_data_goes_after_its_own_retention(store: Store) -> None:
    await ingest(store, [row(T0), row(T0 + 3 * HOUR_MS)])
    await store.prune(T0 + 2 * HOUR_MS + 400 * DAY_MS, raw_retention_ms=HOUR_MS,
                      rollup_retention_ms=400 * DAY_MS)  # fmt: skip
    assert [r.start_ms for r in (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]] == [
        T0 + 3 * HOUR_MS
    ]
    assert list((await store.hourly_counts(["web"], 0, FOREVER))["web"]) == [T0 + 3 * HOUR_MS]
    assert await ingest(store, [row(T0 + 4 * HOUR_MS)]) == (1, 0)


async def test_a_series_pruned_whole_starts_again_from_its_next_sample(store: Store) -> None:
    await ingest(store, [row(T0)])
    await store.prune(T0 + 400 * DAY_MS, raw_retention_ms=HOUR_MS, rollup_retention_ms=HOUR_MS)
    assert await store.last_runs() == {}
    assert await store.runs(["web"], 0, FOREVER) == {}
    assert await ingest(store, [row(T0 + 400 * DAY_MS)]) == (1, 0)
    assert (await store.last_runs())["web"]["eu-1"].start_ms == T0 + 400 * DAY_MS


async def test_a_late_sample_in_a_pruned_gap_fills_it_as_all_the_samples_would(
    store: Store,
) -> None:
    before_gap = [row(T0 + i * MINUTE) for i in range(40)]
    after_gap = [row(T0 + i * MINUTE) for i in range(60, 100)]
    late = row(T0 + 45 * MINUTE, ok=False, latency=None, error="refused")
    await ingest(store, before_gap + after_gap)
    await prune_before(store, T0 + 50 * MINUTE)
    assert await ingest(store, [late]) == (1, 0)
    expected = build_runs(sorted([*before_gap, *after_gap, late], key=lambda r: r.ts_ms))
    assert (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"] == expected


async def test_a_late_sample_inside_a_pruned_run_keeps_its_boundaries(store: Store) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(40)])
    await ingest(store, [row(T0 + i * MINUTE) for i in range(60, 70)])
    await prune_before(store, T0 + 50 * MINUTE)
    (first, second) = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
    assert await ingest(store, [row(T0 + 20 * MINUTE + 1, ok=False, latency=None)]) == (1, 0)
    assert await ingest(store, [row(T0 + 20 * MINUTE + 2, ok=True)]) == (1, 0)
    runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
    assert runs == [Run(first.start_ms, first.end_ms, True, None, first.last_ts_ms,
                        first.last_interval_ms, first.samples + 1), second]  # fmt: skip
    # The raw samples and rollups still count the late ones.
    assert (await store.hourly_counts(["web"], 0, FOREVER))["web"][T0] == (42, 41)


async def test_a_late_sample_after_the_horizon_next_to_a_pruned_run_merges_with_it(
    store: Store,
) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(55)])
    await ingest(store, [row(T0 + i * MINUTE) for i in range(60, 70)])
    await prune_before(store, T0 + 50 * MINUTE)
    await ingest(store, [row(T0 + 56 * MINUTE), row(T0 + 58 * MINUTE)])
    runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
    assert runs == [Run(T0, T0 + 71 * MINUTE, True, None, T0 + 69 * MINUTE, MINUTE, 67)]
