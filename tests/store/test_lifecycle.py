"""Opening, closing, keys and the database's health, on every backend."""

from __future__ import annotations

import pytest

from slawatch.collector.store import Store, create_store
from tests.store.support import T0, ingest, row
from tests.stores import StoreFactory


async def test_a_new_database_is_migrated_once_and_opens_again(
    store_factory: StoreFactory,
) -> None:
    database = store_factory.new_database()
    try:
        async with store_factory.opened(database) as first:
            version = await first.schema_version()
            assert version >= 1
            await ingest(first, [row(T0)])
        async with store_factory.opened(database) as again:
            assert await again.schema_version() == version
            assert await again.sample_count() == 1
    finally:
        store_factory.drop(database)


async def test_a_read_only_store_reads_what_the_writer_committed(
    store_factory: StoreFactory,
) -> None:
    database = store_factory.new_database()
    try:
        async with store_factory.opened(database) as writer:
            await ingest(writer, [row(T0), row(T0 + 60_000, ok=False, latency=None)])
            reader = create_store(database)
            await reader.open_readonly()
            try:
                assert await reader.sample_count() == 2
                runs = await reader.runs(["web"], 0, 2**62)
                assert [r.ok for r in runs["web"]["eu-1"]] == [True, False]
                with pytest.raises((RuntimeError, *reader.errors)):
                    await reader.add_maintenance(["shop"], T0, T0 + 1, "no", created_ms=T0)
            finally:
                await reader.close()
    finally:
        store_factory.drop(database)


async def test_a_missing_database_is_not_created_for_reading(store_factory: StoreFactory) -> None:
    reader = create_store(store_factory.missing_database())
    with pytest.raises(FileNotFoundError):
        await reader.open_readonly()
    await reader.close()


async def test_the_link_key_is_made_once_and_kept(store_factory: StoreFactory) -> None:
    database = store_factory.new_database()
    try:
        async with store_factory.opened(database) as first:
            key = await first.link_key()
            assert len(key) >= 32
            assert await first.link_key() == key
        async with store_factory.opened(database) as again:
            assert await again.link_key() == key
        async with store_factory.opened() as other:
            assert await other.link_key() != key
    finally:
        store_factory.drop(database)


async def test_the_size_of_the_database_grows_with_its_samples(store: Store) -> None:
    empty = await store.size_bytes()
    assert empty > 0
    await ingest(store, [row(T0 + i * 1000, interval_ms=1000) for i in range(20_000)])
    assert await store.size_bytes() > empty


async def test_a_closed_store_refuses_reads_and_writes(store_factory: StoreFactory) -> None:
    async with store_factory.opened() as store:
        pass
    with pytest.raises((RuntimeError, *store.errors)):
        await store.sample_count()
    with pytest.raises((RuntimeError, *store.errors)):
        await ingest(store, [row(T0)])
