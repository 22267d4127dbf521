"""What only the PostgreSQL store has: migrations from an empty database by collectors starting
together, day partitions dropped by retention, two stores (two collectors) on one database
seeing each other's writes, their coordination (one leader, the others' ingest heard), and late
samples set aside by one and merged by whichever reads first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from structlog.testing import capture_logs

from slawatch.collector.engine.timeline import build_runs
from slawatch.collector.store import create_store, settling
from slawatch.collector.store.postgres import PostgresStore
from slawatch.collector.store.postgres import ingest as postgres_ingest
from slawatch.collector.store.postgres.migrations import MIGRATIONS
from slawatch.collector.store.postgres.partitions import partition_name
from tests.postgres_cluster import Cluster
from tests.store.support import (
    DAY_MS,
    FOREVER,
    MINUTE,
    T0,
    every_other_minute,
    ingest,
    rollups,
    row,
)
from tests.support import async_wait_until


@pytest.fixture
async def database(postgres_cluster: Cluster) -> AsyncIterator[str]:
    url = postgres_cluster.new_database()
    yield url
    postgres_cluster.drop_database(url)


async def opened(url: str) -> PostgresStore:
    store = create_store(url)
    assert isinstance(store, PostgresStore)
    await store.open()
    return store


async def test_collectors_starting_together_on_an_empty_database_migrate_it_once(
    database: str,
) -> None:
    stores = await asyncio.gather(*(opened(database) for _ in range(3)))
    try:
        assert [await s.schema_version() for s in stores] == [len(MIGRATIONS)] * 3
        assert await ingest(stores[0], [row(T0)]) == (1, 0)
    finally:
        for store in stores:
            await store.close()


async def test_retention_drops_whole_days_and_deletes_the_rest(
    database: str, postgres_cluster: Cluster
) -> None:
    store = await opened(database)
    try:
        day = T0 - T0 % DAY_MS
        await ingest(store, [row(day + k * 60 * MINUTE) for k in range(72)])  # three days
        name = database.rsplit("/", 1)[1]
        partitions = "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'samples'::regclass"
        assert postgres_cluster.admin(name).fetch(partitions) == [(3,)]
        cutoff = day + DAY_MS + 6 * 60 * MINUTE  # the first day whole, six hours of the second
        deleted = await store.prune(cutoff + DAY_MS, raw_retention_ms=DAY_MS,
                                    rollup_retention_ms=400 * DAY_MS)  # fmt: skip
        assert deleted == 30
        assert postgres_cluster.admin(name).fetch(partitions) == [(2,)]
        assert await store.sample_count() == 42
        assert len((await store.hourly_counts(["web"], 0, FOREVER))["web"]) == 72
        # a late sample in the dropped day makes its partition again
        assert await ingest(store, [row(day + 30 * MINUTE, ok=False)]) == (1, 0)
    finally:
        await store.close()


async def test_two_stores_on_one_database_read_what_the_other_wrote(database: str) -> None:
    first, second = await opened(database), await opened(database)
    try:
        await ingest(first, [row(T0), row(T0 + MINUTE)])
        await ingest(second, [row(T0 + 2 * MINUTE, ok=False, latency=None)])
        await ingest(first, [row(T0 + 3 * MINUTE, ok=False, latency=None), row(T0 + MINUTE)])
        for store in (first, second):
            runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
            assert [(r.ok, r.samples) for r in runs] == [(True, 2), (False, 2)]
            assert (await store.last_runs())["web"]["eu-1"] == runs[-1]
            assert await store.sample_count() == 4
        assert await first.link_key() == await second.link_key()
    finally:
        await first.close()
        await second.close()


async def test_one_store_leads_another_takes_over_and_each_hears_the_others_ingest(
    database: str,
) -> None:
    stores = [await opened(database), await opened(database)]
    heard: list[list[tuple[str, int, frozenset[str] | None]]] = [[], []]
    coordinations = [store.coordination() for store in stores]
    try:
        for index, coordination in enumerate(coordinations):
            await coordination.start(lambda *args, index=index: heard[index].append(args))
        await async_wait_until(lambda: any(c.is_leader for c in coordinations), timeout=20)
        assert sum(c.is_leader for c in coordinations) == 1
        leader = next(i for i, c in enumerate(coordinations) if c.is_leader)
        await ingest(stores[leader], [row(T0)])
        await async_wait_until(lambda: heard[1 - leader], timeout=10)
        assert heard[1 - leader] == [("eu-1", 1, frozenset({"web"}))]
        assert heard[leader] == []  # its own ingest is not news to it
        await coordinations[leader].stop()
        await asyncio.wait_for(coordinations[1 - leader].leading(), timeout=15)
        assert coordinations[1 - leader].is_leader and not coordinations[leader].is_leader
    finally:
        for coordination in coordinations:
            await coordination.stop()
        for store in stores:
            await store.close()


# ------------------------------------------------------------------------------- late samples


def late_rows(cluster: Cluster, url: str) -> int:
    """The late samples set aside, not merged yet."""
    return int(
        cluster.admin(url.rsplit("/", 1)[1]).fetch("SELECT COUNT(*) FROM late_samples")[0][0]
    )


def killed(store: PostgresStore) -> None:
    """The store's collector killed: nothing merges any more, its connections just end."""
    assert store._settler is not None
    store._settler.cancel()
    store.pool.terminate()


@pytest.mark.parametrize("chunk", [3, postgres_ingest.SETTLE_CHUNK_SAMPLES])
async def test_late_samples_are_set_aside_counted_once_and_merged_before_another_collectors_read(
    database: str, postgres_cluster: Cluster, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Set aside by one collector, merged (a few series a transaction, or all at once) by the
    other's first read: whichever collector reads, it reads every acknowledged sample."""
    monkeypatch.setattr(postgres_ingest, "SETTLE_CHUNK_SAMPLES", chunk)
    first, second = await opened(database), await opened(database)
    try:
        newest, late = every_other_minute()
        checks = ("web", "db", "dns")
        for check in checks:
            assert await ingest(first, [r._replace(check=check) for r in newest]) == (20, 0)
        for check in checks:
            on_late = [r._replace(check=check) for r in late[::-1]]
            assert await ingest(first, on_late) == (len(late), 0)
        assert late_rows(postgres_cluster, database) == 3 * len(late)  # acknowledged, not merged
        assert await ingest(second, late[:5]) == (0, 5)  # sent again, to the other: duplicates
        assert await ingest(first, [late[0], newest[3]]) == (0, 2)
        runs = await second.runs(list(checks), 0, FOREVER)
        assert late_rows(postgres_cluster, database) == 0
        for check in checks:
            assert runs[check]["eu-1"] == build_runs(sorted(newest + late))
            counts, _ = await rollups(first, check)
            assert sum(count for count, _ in counts[check].values()) == len(newest) + len(late)
        assert await first.sample_count() == 3 * (len(newest) + len(late))
    finally:
        await first.close()
        await second.close()


async def test_late_samples_are_merged_a_while_after_or_once_many_wait_without_any_read(
    database: str, postgres_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 0.05)
    store = await opened(database)
    try:
        newest, late = every_other_minute()
        await ingest(store, newest)
        await ingest(store, late)
        await async_wait_until(lambda: late_rows(postgres_cluster, database) == 0)
        monkeypatch.setattr(settling, "SETTLE_AFTER_S", 3600)
        store.settle_samples = 2
        await ingest(store, [row(T0 - 2 * MINUTE)])
        with store.ahead_of_merge() as merged:  # the alert evaluator's reads
            assert merged is not None
        await ingest(store, [row(T0 - MINUTE, ok=False)])
        await async_wait_until(lambda: late_rows(postgres_cluster, database) == 0)
        await async_wait_until(merged.done)  # this merge ends the wait of the reads ahead of it
    finally:
        await store.close()


async def test_a_read_ahead_while_the_timers_merge_is_under_way_goes_ahead_of_the_next_one(
    database: str, postgres_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    merge, under_way, go_on = postgres_ingest.merge_late_samples, asyncio.Event(), asyncio.Event()

    async def held(*args: object) -> None:
        under_way.set()
        await go_on.wait()
        await merge(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 0.05)
    monkeypatch.setattr(postgres_ingest, "merge_late_samples", held)
    store = await opened(database)
    try:
        newest, late = every_other_minute()
        await ingest(store, newest)
        await ingest(store, late[:5])
        await asyncio.wait_for(under_way.wait(), 10)  # the timer's merge: none is due now
        with store.ahead_of_merge() as merged:  # the alert evaluator's reads: they do not wait
            assert merged is not None
            assert (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"] == build_runs(newest)
        go_on.set()
        await async_wait_until(merged.done)  # by the timer's next merge, armed by the read
        assert late_rows(postgres_cluster, database) == 0
    finally:
        go_on.set()
        await store.close()


async def test_a_merge_that_fails_is_logged_pushes_and_reads_go_on_and_the_next_merge_does_it(
    database: str, postgres_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def full_disk(*args: object) -> None:
        raise asyncpg.DiskFullError("could not extend file: No space left on device")

    store = await opened(database)
    try:
        newest, late = every_other_minute()
        await ingest(store, newest)
        monkeypatch.setattr(postgres_ingest, "merge_late_samples", full_disk)
        with capture_logs() as logs:
            assert await ingest(store, late[:9]) == (9, 0)
            assert await ingest(store, late[9:]) == (len(late) - 9, 0)
            # A read goes on without them: what was merged, as if they had not arrived yet.
            for _ in range(2):
                runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
                assert runs == build_runs(newest)
        failed = [entry for entry in logs if entry["event"] == "late_samples_not_merged"]
        assert [(entry["error"], entry["count"]) for entry in failed] == [
            ("could not extend file: No space left on device", 1)  # once a minute, counted
        ]
        assert late_rows(postgres_cluster, database) == len(late)
        monkeypatch.undo()
        runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
        assert runs == build_runs(sorted(newest + late))
    finally:
        await store.close()


async def test_late_samples_left_by_a_collector_that_died_are_merged_by_the_next_reader(
    database: str, postgres_cluster: Cluster
) -> None:
    """A collector killed after acknowledging late samples leaves them set aside: a reader
    (`slawatch report`) merges them before it reads; one that may not write (a read-only role)
    reads without them and says why; the next collector to start merges them."""
    store = await opened(database)
    newest, late = every_other_minute()
    await ingest(store, newest)
    await ingest(store, late)
    killed(store)
    assert late_rows(postgres_cluster, database) == len(late)

    name = database.rsplit("/", 1)[1]
    postgres_cluster.admin(name).execute(
        "CREATE ROLE reporter LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporter"
    )
    limited = create_store(database.replace(f"//{postgres_cluster.user}@", "//reporter@"))
    await limited.open_readonly()
    try:
        with capture_logs() as logs:
            runs = (await limited.runs(["web"], 0, FOREVER))["web"]["eu-1"]
        assert runs == build_runs(newest)
        failed = [entry for entry in logs if entry["event"] == "late_samples_not_merged"]
        assert len(failed) == 1 and "permission denied" in failed[0]["error"]
        # a role granted its reads before `late_samples` existed may not even look there
        postgres_cluster.admin(name).execute("REVOKE SELECT ON late_samples FROM reporter")
        assert (await limited.runs(["web"], 0, FOREVER))["web"]["eu-1"] == build_runs(newest)
    finally:
        await limited.close()

    reader = create_store(database)
    await reader.open_readonly()
    try:
        runs = (await reader.runs(["web"], 0, FOREVER))["web"]["eu-1"]
        assert runs == build_runs(sorted(newest + late))
        assert late_rows(postgres_cluster, database) == 0
    finally:
        await reader.close()


async def test_late_samples_are_merged_at_open_and_into_a_day_retention_dropped_meanwhile(
    database: str, postgres_cluster: Cluster
) -> None:
    """Another collector's retention may drop a day between a late sample's push and its merge:
    the merge makes the day's partition again (as a push of it would)."""
    day = T0 - T0 % DAY_MS
    store = await opened(database)
    newest = [row(day + DAY_MS + k * MINUTE) for k in range(3)]
    late = [row(day + 10 * MINUTE, ok=False), row(day + DAY_MS + MINUTE // 2)]
    await ingest(store, newest)
    await ingest(store, late)
    killed(store)
    name = database.rsplit("/", 1)[1]
    postgres_cluster.admin(name).execute(f"DROP TABLE {partition_name(day)}")

    store = await opened(database)  # merged at open, its partitions as it found them at start
    try:
        assert late_rows(postgres_cluster, database) == 0
        runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
        assert runs == build_runs(sorted(newest + late))
        assert await store.sample_count() == len(newest) + len(late)
    finally:
        await store.close()


async def test_a_defect_in_a_timed_merge_is_logged_and_the_next_one_still_comes(
    database: str, postgres_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def defect(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 0.05)
    monkeypatch.setattr(postgres_ingest, "merge_late_samples", defect)
    store = await opened(database)
    try:
        newest, late = every_other_minute()
        await ingest(store, newest)
        with capture_logs() as logs:
            await ingest(store, late[:5])
            await async_wait_until(
                lambda: any(e["event"] == "late_samples_not_merged" for e in logs)
            )
        assert logs[0]["log_level"] == "error" and "exc_info" in logs[0]
        monkeypatch.undo()
        monkeypatch.setattr(settling, "SETTLE_AFTER_S", 0.05)
        await ingest(store, late[5:])
        await async_wait_until(lambda: late_rows(postgres_cluster, database) == 0)
    finally:
        await store.close()
