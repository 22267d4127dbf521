"""Stores of every backend for the tests written against the store's Protocols: the store
contract suite (`tests/store/`) and the SLA reference comparisons.

The `store_factory` fixture (tests/conftest.py) is parametrized by `BACKENDS`; a backend is one
`StoreFactory` subclass, which says how to make a new, empty database and how to drop it.
Everything else goes through `slawatch.collector.store.create_store`, as the collector does.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

from slawatch.collector.store import Store, create_store

BACKENDS = ("sqlite",)


class StoreFactory:
    """Makes stores of one backend: `async with factory.opened() as store:` on a new database
    (dropped after), or `opened(database)` on one of `new_database()`, to open it again (what
    survives a restart)."""

    backend: str

    def new_database(self) -> Path | str:
        """A new database, empty, for `opened`; the caller drops it."""
        raise NotImplementedError

    def missing_database(self) -> Path | str:
        """Where no database is (and none is made by reading)."""
        raise NotImplementedError

    def drop(self, database: Path | str) -> None:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def opened(self, database: Path | str | None = None) -> AsyncIterator[Store]:
        throwaway = database is None
        location = self.new_database() if database is None else database
        try:
            store = create_store(location)
            await store.open()
            try:
                yield store
            finally:
                await store.close()
        finally:
            if throwaway:
                self.drop(location)


class SqliteStores(StoreFactory):
    backend = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._numbers = itertools.count(1)

    def new_database(self) -> Path:
        return self.folder / f"store-{next(self._numbers)}" / "collector.db"

    def missing_database(self) -> Path:
        return self.folder / f"missing-{next(self._numbers)}" / "collector.db"

    def drop(self, database: Path | str) -> None:
        path = Path(database)
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def store_factory_for(backend: str, folder: Path) -> StoreFactory:
    if backend == "sqlite":
        return SqliteStores(folder)
    raise ValueError(f"no store factory for the backend {backend!r}")
