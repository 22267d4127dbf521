"""The SQLite store: idempotent ingest, runs and rollups right in any arrival order, retention."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import shutil
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from slawatch.collector import store as store_module
from slawatch.collector.engine.timeline import Run, SampleState, build_runs
from slawatch.collector.ingest.batch import SampleRow, phase_microseconds
from slawatch.collector.store import (
    HOUR_MS,
    LATENCY_GAMMA,
    MAX_BUCKET,
    MIGRATIONS,
    ZERO_BUCKET,
    Store,
    _Rollup,
    backup_database,
    bucket_value,
    decode_histogram,
    encode_histogram,
    latency_bucket,
)
from tests.support import async_wait_until

T0 = 1_790_000_000_000 - 1_790_000_000_000 % HOUR_MS
MINUTE = 60_000


def row(ts_ms: int, ok: bool = True, *, check: str = "web", interval_ms: int = MINUTE,
        latency: float | None = 50.0, error: str | None = None) -> SampleRow:  # fmt: skip
    return SampleRow(ts_ms, ok, latency, interval_ms, 200, error, None, None, None, None, None,
                     None, check, "http")  # fmt: skip


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "data" / "collector.db")
    await store.open()
    yield store
    await store.close()


async def ingest(store: Store, rows: list[SampleRow], agent: str = "eu-1") -> tuple[int, int]:
    result = await store.ingest(agent, rows, labels=None, now_ms=T0)
    return result.accepted, result.duplicates


# ------------------------------------------------------------------------------- idempotency


async def test_a_sample_is_stored_once_and_the_first_copy_wins(store: Store) -> None:
    first = row(T0, ok=False, latency=None, error="first")
    assert await ingest(store, [first, row(T0 + MINUTE)]) == (2, 0)
    again = row(T0, ok=True, error="second")
    assert await ingest(store, [again, row(T0 + MINUTE), row(T0 + 2 * MINUTE)]) == (1, 2)
    assert await ingest(store, [row(T0 + 3 * MINUTE), row(T0 + 3 * MINUTE)]) == (1, 1)
    assert await store.sample_count() == 4
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    assert runs[0] == Run(T0, T0 + MINUTE, False, "first", T0, MINUTE, 1)


async def test_the_same_timestamp_from_two_agents_or_checks_is_two_samples(store: Store) -> None:
    assert await ingest(store, [row(T0), row(T0, check="db")], agent="eu-1") == (2, 0)
    assert await ingest(store, [row(T0), row(T0, check="db")], agent="us-1") == (2, 0)
    runs = await store.runs(["web", "db"], T0, T0 + 1)
    assert {check: sorted(agents) for check, agents in runs.items()} == {
        "web": ["eu-1", "us-1"],
        "db": ["eu-1", "us-1"],
    }


async def test_an_empty_batch_stores_nothing_and_keeps_the_agent_seen(store: Store) -> None:
    result = await store.ingest("eu-1", [], labels={"region": "eu"}, now_ms=T0)
    assert (result.accepted, result.duplicates) == (0, 0)
    (agent,) = await store.seen_agents()
    assert (agent.id, dict(agent.labels), agent.last_push_ms) == ("eu-1", {"region": "eu"}, T0)


async def test_labels_are_the_latest_pushed_and_kept_when_a_batch_has_none(store: Store) -> None:
    await store.ingest("eu-1", [row(T0)], labels={"region": "eu"}, now_ms=T0)
    await store.ingest("eu-1", [row(T0 + MINUTE)], labels=None, now_ms=T0 + 1)
    assert dict((await store.seen_agents())[0].labels) == {"region": "eu"}
    await store.ingest("eu-1", [], labels={"region": "eu-west"}, now_ms=T0 + 2)
    assert dict((await store.seen_agents())[0].labels) == {"region": "eu-west"}


async def test_checks_seen_keep_type_latest_interval_and_first_last_seen(store: Store) -> None:
    await ingest(store, [row(T0 + MINUTE, interval_ms=30_000)])
    await ingest(store, [row(T0, interval_ms=10_000)])  # late: does not change the interval
    (check,) = await store.seen_checks()
    assert (check.id, check.type, check.interval_ms) == ("web", "http", 30_000)
    assert (check.first_seen_ms, check.last_seen_ms) == (T0, T0 + MINUTE)


# ---------------------------------------------------------------------------------- runs


async def test_in_order_samples_extend_one_run_and_a_gap_or_change_starts_another(
    store: Store,
) -> None:
    await ingest(store, [row(T0), row(T0 + MINUTE)])
    await ingest(store, [row(T0 + 2 * MINUTE, ok=False, latency=None, error="timeout")])
    await ingest(store, [row(T0 + 10 * MINUTE)])
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    assert runs == [
        Run(T0, T0 + 2 * MINUTE, True, None, T0 + MINUTE, MINUTE, 2),
        Run(T0 + 2 * MINUTE, T0 + 4 * MINUTE, False, "timeout", T0 + 2 * MINUTE, MINUTE, 1),
        Run(T0 + 10 * MINUTE, T0 + 12 * MINUTE, True, None, T0 + 10 * MINUTE, MINUTE, 1),
    ]


async def test_a_late_failure_splits_the_run_it_lands_in(store: Store) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(10)])
    await ingest(store, [row(T0 + 4 * MINUTE + 30_000, ok=False, latency=None, error="503")])
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    late = T0 + 4 * MINUTE + 30_000
    assert [(r.start_ms, r.end_ms, r.ok, r.samples) for r in runs] == [
        (T0, late, True, 5),
        (late, T0 + 5 * MINUTE, False, 1),
        (T0 + 5 * MINUTE, T0 + 11 * MINUTE, True, 5),
    ]
    assert (await store.last_runs())["web"]["eu-1"] == runs[-1]


async def test_a_late_sample_before_a_change_keeps_the_run_cut_where_the_change_is(
    store: Store,
) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(10) if i != 4])
    await ingest(store, [row(T0 + 10 * MINUTE, ok=False), row(T0 + 11 * MINUTE)])
    await ingest(store, [row(T0 + 4 * MINUTE)])
    runs = (await store.runs(["web"], T0, T0 + HOUR_MS))["web"]["eu-1"]
    assert [(r.start_ms, r.end_ms, r.ok, r.samples) for r in runs] == [
        (T0, T0 + 10 * MINUTE, True, 10),
        (T0 + 10 * MINUTE, T0 + 11 * MINUTE, False, 1),
        (T0 + 11 * MINUTE, T0 + 13 * MINUTE, True, 1),
    ]


async def test_runs_only_overlapping_the_window_are_read(store: Store) -> None:
    await ingest(store, [row(T0), row(T0 + 10 * MINUTE, ok=False), row(T0 + 20 * MINUTE)])
    runs = (await store.runs(["web"], T0 + 5 * MINUTE, T0 + 12 * MINUTE))["web"]["eu-1"]
    assert [r.start_ms for r in runs] == [T0 + 10 * MINUTE]
    assert await store.runs(["web"], T0 + 3 * MINUTE, T0 + 9 * MINUTE) == {}
    assert await store.runs(["other"], T0, T0 + HOUR_MS) == {}


async def test_the_run_covering_an_instant_even_behind_a_sample_from_the_future(
    store: Store,
) -> None:
    await ingest(store, [row(T0), row(T0 + MINUTE, ok=False), row(T0 + 2 * MINUTE)])
    at = await store.runs_at(T0 + MINUTE + 1)
    assert at["web"]["eu-1"].ok is False
    assert await store.runs_at(T0 + HOUR_MS) == {}


# Samples are a function of their timestamp, so duplicates are identical copies and the runs do
# not depend on which copy arrived first.
def _sample_at(check: str, k: int, seed: int) -> SampleRow:
    mix = (k * 2654435761 + seed) % 1000
    ok = mix % 5 != 0
    interval = (20_000, 30_000, 60_000, 200_000)[mix % 4]
    latency = 1 + (mix * 37 % 5000) / 10 if ok else None
    return row(T0 + k * 47_000, ok, check=check, interval_ms=interval, latency=latency,
               error=None if ok else f"error {mix}")  # fmt: skip


sample_sets = st.lists(
    st.tuples(st.sampled_from(["web", "db"]), st.integers(0, 150)), min_size=1, max_size=120
)


@settings(max_examples=60, deadline=None)
@given(keys=sample_sets, seed=st.integers(0, 10_000), data=st.data())
def test_any_arrival_order_and_batching_gives_the_runs_and_rollups_of_in_order_arrival(
    keys: list[tuple[str, int]], seed: int, data: st.DataObject
) -> None:
    rows = [_sample_at(check, k, seed) for check, k in keys]
    order = data.draw(st.permutations(rows))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(rows) - 1)), max_size=6)))
    batches = [order[i:j] for i, j in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    batches = [b for b in batches if b]

    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as folder:
            in_order = Store(Path(folder) / "a.db")
            shuffled = Store(Path(folder) / "b.db")
            await in_order.open()
            await shuffled.open()
            try:
                await ingest(in_order, sorted(rows, key=lambda r: r.ts_ms))
                total = [await ingest(shuffled, batch) for batch in batches]
                assert sum(a for a, _ in total) == len(set(rows))
                assert sum(a + d for a, d in total) == len(rows)
                for check in ("web", "db"):
                    unique = sorted({r.ts_ms: r for r in rows if r.check == check}.values(),
                                    key=lambda r: r.ts_ms)  # fmt: skip
                    expected = build_runs(
                        SampleState(r.ts_ms, r.ok, r.interval_ms, r.error) for r in unique
                    )
                    for store in (in_order, shuffled):
                        got = (await store.runs([check], 0, 2**62)).get(check, {}).get("eu-1", [])
                        assert got == expected
                    assert await rollups(in_order, check) == await rollups(shuffled, check)
                    assert await in_order.last_runs() == await shuffled.last_runs()
            finally:
                await in_order.close()
                await shuffled.close()

    asyncio.run(scenario())


async def rollups(store: Store, check: str) -> tuple[object, ...]:
    counts = await store.hourly_counts([check], 0, 2**62)
    hours = sorted(counts.get(check, {}))
    histograms = [await store.latency_histograms([check], h, h + HOUR_MS) for h in hours]
    return counts, histograms


async def test_caches_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    first = Store(path)
    await first.open()
    await ingest(first, [row(T0), row(T0 + MINUTE)])
    await first.close()
    second = Store(path)
    await second.open()
    try:
        assert await ingest(second, [row(T0 + MINUTE), row(T0 + 2 * MINUTE)]) == (1, 1)
        runs = (await second.runs(["web"], 0, 2**62))["web"]["eu-1"]
        assert runs == [Run(T0, T0 + 4 * MINUTE, True, None, T0 + 2 * MINUTE, MINUTE, 3)]
        counts = await second.hourly_counts(["web"], 0, 2**62)
        assert counts == {"web": {T0: (3, 3)}}
    finally:
        await second.close()


# ------------------------------------------------------------------------------- rollups


def test_latency_buckets_stand_for_their_latencies_within_one_percent() -> None:
    relative = (LATENCY_GAMMA - 1) / (LATENCY_GAMMA + 1)
    assert relative < 0.01
    for latency in (0.001, 0.37, 1.0, 12.5, 84.1, 999.9, 1000.0, 30_000.0, 9.9e6):
        value = bucket_value(latency_bucket(latency))
        assert abs(value - latency) / latency <= relative + 1e-12
    assert bucket_value(latency_bucket(0.0)) == 0.0
    assert latency_bucket(1.7e308) == latency_bucket(1e300)  # absurd, but stored


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
    latencies: list[float | None], batches: int
) -> None:
    """The rollups count a batch's latencies with C loops; each must land where
    `latency_bucket` puts it (None: a failed sample, counted but without latency)."""
    rows = [
        row(T0 + i * 1000, ok=latency is not None, latency=latency, interval_ms=1000)
        for i, latency in enumerate(latencies)
    ]
    expected: dict[int, int] = {}
    for latency in latencies:
        if latency is not None:
            expected[latency_bucket(latency)] = expected.get(latency_bucket(latency), 0) + 1

    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as folder:
            store = Store(Path(folder) / "r.db")
            await store.open()
            try:
                for start in range(batches):
                    await ingest(store, rows[start::batches])
                ok = sum(latency is not None for latency in latencies)
                assert await store.hourly_counts(["web"], T0, T0 + HOUR_MS) == {
                    "web": {T0: (len(rows), ok)}
                }
                assert await store.latency_histograms(["web"], T0, T0 + HOUR_MS) == expected
            finally:
                await store.close()

    asyncio.run(scenario())


async def test_a_month_percentile_from_histograms_is_within_two_percent_of_the_exact_one(
    store: Store,
) -> None:
    latencies = [5 + (i * 7919 % 1000) * 0.731 for i in range(3000)]
    rows = [
        row(T0 + i * 20_000, latency=lat, interval_ms=20_000) for i, lat in enumerate(latencies)
    ]
    rows.append(row(T0 + 3000 * 20_000, ok=False, latency=None))
    await ingest(store, rows)
    exact = sorted(await store.latency_values(["web"], T0, T0 + 30 * 86_400_000))
    assert exact == sorted(latencies)
    histogram = await store.latency_histograms(["web"], T0, T0 + 30 * 86_400_000)
    assert sum(histogram.values()) == len(latencies)
    for percentile in (50, 95, 99):
        rank = math.ceil(percentile / 100 * len(exact))
        seen = 0
        for bucket in sorted(histogram):
            seen += histogram[bucket]
            if seen >= rank:
                approximate = bucket_value(bucket)
                break
        assert abs(approximate - exact[rank - 1]) / exact[rank - 1] < 0.02


async def test_latency_reads_respect_checks_and_windows(store: Store) -> None:
    await ingest(store, [row(T0, latency=10), row(T0 + HOUR_MS, latency=20),
                         row(T0, check="db", latency=30)])  # fmt: skip
    assert await store.latency_values(["web"], T0, T0 + HOUR_MS) == [10]
    assert sorted(await store.latency_values(["web", "db"], T0, T0 + 2 * HOUR_MS)) == [10, 20, 30]
    assert (
        sum((await store.latency_histograms(["web"], T0 + HOUR_MS, T0 + 2 * HOUR_MS)).values()) == 1
    )
    assert await store.latency_histograms([], T0, T0 + HOUR_MS) == {}


# ----------------------------------------------------------------------------- retention


async def prune_before(store: Store, cutoff_ms: int, chunk_rows: int = 5000) -> int:
    now = cutoff_ms + 35 * 86_400_000
    return await store.prune(now, raw_retention_ms=35 * 86_400_000,
                             rollup_retention_ms=400 * 86_400_000, chunk_rows=chunk_rows)  # fmt: skip


async def test_pruning_removes_old_raw_samples_in_small_chunks_and_keeps_runs(
    store: Store,
) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(120)])
    runs_before = await store.runs(["web"], 0, 2**62)
    assert await prune_before(store, T0 + 50 * MINUTE, chunk_rows=7) == 50
    assert await store.sample_count() == 70
    assert await store.runs(["web"], 0, 2**62) == runs_before
    assert (await store.hourly_counts(["web"], 0, 2**62))["web"][T0] == (60, 60)
    assert await prune_before(store, T0 + 50 * MINUTE) == 0


async def test_derived_data_goes_after_its_own_retention(store: Store) -> None:
    await ingest(store, [row(T0), row(T0 + 3 * HOUR_MS)])
    await store.prune(T0 + 2 * HOUR_MS + 400 * 86_400_000, raw_retention_ms=HOUR_MS,
                      rollup_retention_ms=400 * 86_400_000)  # fmt: skip
    assert [r.start_ms for r in (await store.runs(["web"], 0, 2**62))["web"]["eu-1"]] == [
        T0 + 3 * HOUR_MS
    ]
    assert list((await store.hourly_counts(["web"], 0, 2**62))["web"]) == [T0 + 3 * HOUR_MS]
    assert await ingest(store, [row(T0 + 4 * HOUR_MS)]) == (1, 0)


async def test_a_late_sample_in_a_pruned_gap_fills_it_as_all_the_samples_would(
    store: Store,
) -> None:
    before_gap = [row(T0 + i * MINUTE) for i in range(40)]
    after_gap = [row(T0 + i * MINUTE) for i in range(60, 100)]
    late = row(T0 + 45 * MINUTE, ok=False, latency=None, error="refused")
    await ingest(store, before_gap + after_gap)
    await prune_before(store, T0 + 50 * MINUTE)
    assert await ingest(store, [late]) == (1, 0)
    expected = build_runs(
        SampleState(r.ts_ms, r.ok, r.interval_ms, r.error)
        for r in sorted([*before_gap, *after_gap, late], key=lambda r: r.ts_ms)
    )
    assert (await store.runs(["web"], 0, 2**62))["web"]["eu-1"] == expected


async def test_a_late_sample_inside_a_pruned_run_keeps_its_boundaries(store: Store) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(40)])
    await ingest(store, [row(T0 + i * MINUTE) for i in range(60, 70)])
    await prune_before(store, T0 + 50 * MINUTE)
    (first, second) = (await store.runs(["web"], 0, 2**62))["web"]["eu-1"]
    assert await ingest(store, [row(T0 + 20 * MINUTE + 1, ok=False, latency=None)]) == (1, 0)
    assert await ingest(store, [row(T0 + 20 * MINUTE + 2, ok=True)]) == (1, 0)
    runs = (await store.runs(["web"], 0, 2**62))["web"]["eu-1"]
    assert runs == [Run(first.start_ms, first.end_ms, True, None, first.last_ts_ms,
                        first.last_interval_ms, first.samples + 1), second]  # fmt: skip
    # The raw samples and rollups still count the late ones.
    assert (await store.hourly_counts(["web"], 0, 2**62))["web"][T0] == (42, 41)


async def test_a_late_sample_after_the_horizon_next_to_a_pruned_run_merges_with_it(
    store: Store,
) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(55)])
    await ingest(store, [row(T0 + i * MINUTE) for i in range(60, 70)])
    await prune_before(store, T0 + 50 * MINUTE)
    await ingest(store, [row(T0 + 56 * MINUTE), row(T0 + 58 * MINUTE)])
    runs = (await store.runs(["web"], 0, 2**62))["web"]["eu-1"]
    assert runs == [Run(T0, T0 + 71 * MINUTE, True, None, T0 + 69 * MINUTE, MINUTE, 67)]


# ------------------------------------------------------------------ migrations and access


async def test_migrations_are_numbered_applied_once_and_a_newer_schema_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.db"
    for _ in range(2):
        store = Store(path)
        await store.open()
        assert await store.schema_version() == len(MIGRATIONS)
        await store.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS) + 1,))
    with pytest.raises(RuntimeError, match="newer"):
        await Store(path).open()


async def test_migration_5_keeps_the_stored_phases_in_whole_microseconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:4])
    store = Store(path)
    await store.open()
    timed = row(T0)._replace(dns_us=1.2, connect_us=3.4, ttfb_us=58.1234567, transfer_us=0.4)
    await ingest(store, [timed, row(T0 + MINUTE)])  # in milliseconds, as version 4 kept them
    await store.close()
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    store = Store(path)
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        stored = db.execute(
            "SELECT dns_us, connect_us, tls_us, ttfb_us, transfer_us, latency_ms FROM samples"
            " ORDER BY ts_ms"
        ).fetchall()
    assert stored == [(1200, 3400, None, 58123, 400, 50.0), (None, None, None, None, None, 50.0)]


async def test_a_samples_phases_take_a_few_bytes_each_in_the_file(store: Store) -> None:
    """Whole microseconds are stored as integers of a few bytes; a float would take 8."""
    us = phase_microseconds
    timed = row(T0 + MINUTE)._replace(
        dns_us=us(1.2), connect_us=us(3.4), tls_us=us(21.0), ttfb_us=us(58.1234567),
        transfer_us=us(0.4),
    )  # fmt: skip
    await ingest(store, [row(T0)])
    bare = samples_payload_bytes(store)
    await ingest(store, [timed])
    assert samples_payload_bytes(store) - bare <= bare + 5 * 3


def samples_payload_bytes(store: Store) -> int:
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        (payload,) = db.execute("SELECT SUM(payload) FROM dbstat WHERE name = 'samples'").fetchone()
    return payload


async def test_readers_are_not_blocked_by_an_open_write_transaction(store: Store) -> None:
    await ingest(store, [row(T0)])
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("DELETE FROM samples")
        assert await asyncio.wait_for(store.sample_count(), timeout=5) == 1
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_a_failed_transaction_leaves_nothing_and_the_caches_unchanged(
    store: Store,
) -> None:
    await ingest(store, [row(T0)])
    bad = row(T0 + MINUTE)._replace(ok=object())  # not a value SQLite can store
    with pytest.raises(sqlite3.Error):
        await ingest(store, [row(T0 + 2 * MINUTE, check="db"), bad])
    assert await store.sample_count() == 1
    assert list(await store.last_runs()) == ["web"]
    assert await ingest(store, [row(T0 + MINUTE), row(T0 + 2 * MINUTE, check="db")]) == (2, 0)


async def test_backup_is_a_consistent_copy_while_writes_go_on(store: Store, tmp_path: Path) -> None:
    await ingest(store, [row(T0 + i * 1000, interval_ms=1000) for i in range(1000)])
    writing = asyncio.create_task(
        ingest(store, [row(T0 + 2_000_000 + i * 1000, interval_ms=1000) for i in range(5000)])
    )
    out = tmp_path / "backup.db"
    await asyncio.to_thread(backup_database, store.path, out)
    await writing
    copy = Store(out)
    await copy.open()
    try:
        count = await copy.sample_count()
        assert count in (1000, 6000)
        runs = (await copy.runs(["web"], 0, 2**62))["web"]["eu-1"]
        assert sum(r.samples for r in runs) == count
    finally:
        await copy.close()
    assert not out.with_name("backup.db.partial").exists()


async def test_batches_waiting_together_are_committed_together_and_a_bad_one_fails_alone(
    store: Store,
) -> None:
    bad = row(T0 + 5 * MINUTE, check="db")._replace(ok=object())  # not a value SQLite stores
    results = await asyncio.gather(
        store.ingest("eu-1", [row(T0)], labels=None, now_ms=T0),
        store.ingest("eu-1", [row(T0 + MINUTE), bad], labels=None, now_ms=T0),
        store.ingest("us-1", [row(T0), row(T0 + MINUTE)], labels=None, now_ms=T0),
        store.ingest("eu-1", [row(T0 + 2 * MINUTE), row(T0 + MINUTE)], labels=None, now_ms=T0),
        return_exceptions=True,
    )
    assert isinstance(results[1], sqlite3.Error)
    assert [(r.accepted, r.duplicates) for r in (results[0], results[2], results[3])] == [
        (1, 0), (2, 0), (2, 0),
    ]  # fmt: skip
    runs = await store.runs(["web"], 0, 2**62)
    assert [r.samples for r in runs["web"]["eu-1"]] == [3]
    assert await store.sample_count() == 5


async def test_a_gap_filled_newest_first_gives_the_runs_of_in_order_arrival(store: Store) -> None:
    samples = [row(T0 + i * 10_000, ok=i % 50 < 45, interval_ms=10_000) for i in range(600)]
    await ingest(store, samples[:100])
    backlog = samples[100:]
    for end in range(len(backlog), 0, -37):  # the shipper sends the newest first
        await ingest(store, backlog[max(0, end - 37) : end])
    expected = build_runs(SampleState(r.ts_ms, r.ok, r.interval_ms, r.error) for r in samples)
    assert (await store.runs(["web"], 0, 2**62))["web"]["eu-1"] == expected
    assert (await store.last_runs())["web"]["eu-1"] == expected[-1]


def test_histograms_encode_and_decode_exactly() -> None:
    counts = {ZERO_BUCKET: 3, -50: 1, 0: 7, 233: 2**32 - 1, MAX_BUCKET: 1}
    assert decode_histogram(encode_histogram(counts)) == counts
    assert decode_histogram(encode_histogram({})) == {}


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=30),
        min_size=1,
        max_size=8,
    )
)
def test_an_hours_histogram_encodes_the_same_however_its_buckets_came_in(
    batches: list[list[float]],
) -> None:
    """A rollup keeps its histogram in bucket order (new buckets put back in order), which
    `encode_histogram` encodes as it is: the bytes are those of the counts, batch after batch."""
    rollup = _Rollup(T0, 0, 0, 0.0, {})
    seen: list[float] = []
    for latencies in batches:
        rollup.add([row(T0, latency=latency) for latency in latencies])
        seen += latencies
        expected = Counter(map(latency_bucket, seen))
        assert encode_histogram(rollup.histogram) == encode_histogram(expected)
        assert list(rollup.histogram) == sorted(expected)
        assert decode_histogram(encode_histogram(rollup.histogram)) == expected


async def test_a_cancelled_push_is_committed_whole_and_the_next_one_follows_it(
    store: Store,
) -> None:
    """The transaction runs in the ingest thread: cancelling its caller (a client gone, a
    shutdown) cannot stop it halfway, and the caches must follow what it committed."""
    first = [row(T0 + i * MINUTE) for i in range(3000)]
    pushing = asyncio.create_task(ingest(store, first))
    await asyncio.sleep(0)  # the push takes the write lock and hands its batch to the thread
    pushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pushing
    assert await store.sample_count() == 3000
    assert await ingest(store, [row(T0 + 3000 * MINUTE, ok=False, latency=None)]) == (1, 0)
    runs = (await store.runs(["web"], 0, 2**62))["web"]["eu-1"]
    assert [(r.start_ms, r.ok, r.samples) for r in runs] == [
        (T0, True, 3000),
        (T0 + 3000 * MINUTE, False, 1),
    ]


async def test_batches_queued_behind_a_commit_are_answered_if_the_committing_task_stops(
    store: Store,
) -> None:
    """One task feeds the ingest thread group after group; cancelled (the event loop stopping),
    it ends the transaction under way, and every batch still queued gets CancelledError: no
    caller waits for ever, and the next push starts a new task."""
    first = asyncio.create_task(ingest(store, [row(T0 + i * MINUTE) for i in range(3000)]))
    await asyncio.sleep(0)  # the first batch is in the ingest thread
    second = asyncio.create_task(ingest(store, [row(T0 + 3000 * MINUTE)]))
    await asyncio.sleep(0)  # the second one waits in the queue
    assert store._committer is not None
    store._committer.cancel()
    assert await first == (3000, 0)
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await store.sample_count() == 3000
    assert await ingest(store, [row(T0 + 3000 * MINUTE)]) == (1, 0)


async def test_a_database_sqlite_cannot_keep_in_wal_mode_is_refused_at_open() -> None:
    """A 200 rests on the WAL being synced: where SQLite answers another journal mode (here an
    in-memory database, as on a file system without WAL support), the store does not open."""
    store = Store(Path(":memory:"))
    with pytest.raises(sqlite3.OperationalError, match="cannot keep this database in WAL mode"):
        await store.open()


class HeldSync:
    """Stands for the WAL's sync (`slawatch.collector.store._sync_data`): records the file of each call
    and holds it until released, as a slow disk would."""

    def __init__(self) -> None:
        self.files: list[int] = []
        self.released = threading.Event()

    def __call__(self, descriptor: int) -> None:
        self.files.append(os.fstat(descriptor).st_ino)
        if not self.released.wait(timeout=30):
            raise AssertionError("the sync was never released")


async def test_a_push_is_answered_once_the_wal_is_synced_and_the_next_one_is_written_meanwhile(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest commits leave the sync to a thread of its own: a caller gets its answer only
    once the WAL holding its batch is on disk, and the next batch is committed meanwhile."""
    sync = HeldSync()
    monkeypatch.setattr(store_module, "_sync_data", sync)
    first = asyncio.create_task(ingest(store, [row(T0)]))
    await async_wait_until(lambda: sync.files)
    second = asyncio.create_task(ingest(store, [row(T0 + MINUTE), row(T0, check="db")]))

    async def both_committed() -> bool:
        return await store.sample_count() == 3

    await async_wait_until(both_committed)
    assert not first.done() and not second.done()
    sync.released.set()
    assert await first == (1, 0)
    assert await second == (2, 0)
    assert set(sync.files) == {os.stat(f"{store.path}-wal").st_ino}
    assert len(sync.files) == 2


async def test_a_failed_sync_fails_the_push_and_the_next_one_goes_on(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that cannot sync: the push is answered with the error (its batch committed, it
    may be found stored: a retried push is idempotent), never with a success."""

    def failing_sync(_: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store_module, "_sync_data", failing_sync)
    with pytest.raises(OSError, match="Input/output error"):
        await ingest(store, [row(T0)])
    monkeypatch.undo()
    assert await ingest(store, [row(T0), row(T0 + MINUTE)]) == (1, 1)


def samples_in_the_database_file(path: Path, copy: Path) -> int | None:
    """The samples the database file itself holds, its WAL left aside; None while it has no
    samples table yet (or a copy taken while a checkpoint writes it is torn)."""
    shutil.copyfile(path, copy)
    try:
        with contextlib.closing(sqlite3.connect(copy)) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM samples").fetchone()
    except sqlite3.DatabaseError:
        return None
    return int(count)


async def test_committed_batches_reach_the_database_file_in_the_background(
    store: Store, tmp_path: Path
) -> None:
    """Checkpoints run in a thread of their own while ingest commits: the WAL is far from the
    size at which SQLite would checkpoint in the ingest thread, yet the database file gets the
    batches."""
    await ingest(store, [row(T0), row(T0 + MINUTE)])
    copy = tmp_path / "copy.db"
    await async_wait_until(lambda: samples_in_the_database_file(store.path, copy) == 2)


async def test_a_failed_checkpoint_is_logged_and_tried_again(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_checkpoint, calls = store_module._checkpoint_wal, []

    def failing_once(db: sqlite3.Connection | None) -> None:
        calls.append(db)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        real_checkpoint(db)

    monkeypatch.setattr(store_module, "_checkpoint_wal", failing_once)
    copy = tmp_path / "copy.db"
    with capture_logs() as logs:
        await ingest(store, [row(T0)])
        await async_wait_until(lambda: samples_in_the_database_file(store.path, copy) == 1)
    failures = [entry["error"] for entry in logs if entry["event"] == "wal_checkpoint_failed"]
    assert failures == ["disk I/O error"]
    assert len(calls) >= 2


async def test_the_store_closes_once_a_running_checkpoint_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_checkpoint, started, released = store_module._checkpoint_wal, [], threading.Event()

    def held_checkpoint(db: sqlite3.Connection | None) -> None:
        started.append(db)
        if not released.wait(timeout=30):
            raise AssertionError("the checkpoint was never released")
        real_checkpoint(db)

    monkeypatch.setattr(store_module, "_checkpoint_wal", held_checkpoint)
    store = Store(tmp_path / "c.db")
    await store.open()
    await ingest(store, [row(T0)])
    await async_wait_until(lambda: started)
    closing = asyncio.create_task(store.close())
    await async_wait_until(lambda: store._checkpointer is None)  # close went past cancelling it
    assert not closing.done()  # it waits for the running checkpoint
    released.set()
    await closing
    assert not await asyncio.to_thread(os.path.exists, f"{store.path}-wal")
    assert samples_in_the_database_file(store.path, tmp_path / "copy.db") == 1


@pytest.mark.parametrize("count", [1, 2, 511, 512, 513, 1000, 1023, 1537])
async def test_batches_of_any_size_are_stored_whole(store: Store, count: int) -> None:
    """Rows go to SQLite in statements of 512, 256, … rows: every count is made of them."""
    rows = [row(T0 + i * 1000, check=f"c{i % 7}", interval_ms=1000) for i in range(count)]
    assert await ingest(store, rows) == (count, 0)
    assert await store.sample_count() == count
    runs = await store.runs([f"c{i}" for i in range(7)], 0, 2**62)
    assert sum(run.samples for agents in runs.values() for run in agents["eu-1"]) == count
    counts = await store.hourly_counts([f"c{i}" for i in range(7)], 0, 2**62)
    assert sum(total for hours in counts.values() for total, _ in hours.values()) == count
    assert {c.id for c in await store.seen_checks()} == {f"c{i}" for i in range(min(count, 7))}


async def test_none_and_bools_are_stored_as_null_and_integers(store: Store) -> None:
    """The store registers adapters for None and bool (to bind them faster): what lands in the
    file is still what sqlite3 binds by default, NULL and 0 or 1."""
    failed = row(T0, ok=False, latency=None, error=None)
    await ingest(store, [row(T0 - MINUTE), failed])
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        stored = db.execute(
            "SELECT typeof(ok), ok, typeof(latency_ms), typeof(error), typeof(tls_us)"
            " FROM samples ORDER BY ts_ms"
        ).fetchall()
        runs = db.execute("SELECT typeof(ok), ok, typeof(error) FROM runs ORDER BY start_ms")
        assert runs.fetchall() == [("integer", 1, "null"), ("integer", 0, "null")]
    assert stored == [
        ("integer", 1, "real", "null", "null"),
        ("integer", 0, "null", "null", "null"),
    ]
