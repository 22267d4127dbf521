"""What only the PostgreSQL store has: migrations from an empty database by collectors starting
together, day partitions dropped by retention, two stores (two collectors) on one database
seeing each other's writes, and their coordination (one leader, the others' ingest heard)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from slawatch.collector.store import create_store
from slawatch.collector.store.postgres import PostgresStore
from slawatch.collector.store.postgres.migrations import MIGRATIONS
from tests.postgres_cluster import Cluster
from tests.store.support import DAY_MS, FOREVER, MINUTE, T0, ingest, row
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
