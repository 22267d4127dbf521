"""Stores of every backend for the tests written against the store's Protocols: the store
contract suite (`tests/store/`) and the SLA reference comparisons.

The `store_factory` fixture (tests/conftest.py) is parametrized by `BACKENDS`; a backend is one
`StoreFactory` subclass, which says how to make a new, empty database and how to drop it.
Everything else goes through `slawatch.collector.store.create_store`, as the collector does.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from slawatch.collector.store import Store, create_store
from tests.postgres_cluster import Cluster

BACKENDS = ("sqlite", "postgres")


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


class PostgresStores(StoreFactory):
    """Stores of the session's throwaway cluster (`tests.postgres_cluster`), each in a schema of
    its own in one database (`?search_path=` in its URL), which the store sees as a database of
    its own. On a loaded machine CREATE DATABASE takes most of a second and migrating a new
    schema half of one, while the property tests open hundreds of stores: a dropped store's
    schema is emptied (every table truncated, the sample partitions dropped) and handed out again,
    as new as a new one."""

    backend = "postgres"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._numbers = itertools.count(1)
        self._database: str | None = None
        self._free: list[str] = []

    def new_database(self) -> str:
        if self._database is None:
            self._database = self.cluster.new_database().rsplit("/", 1)[1]
        if self._free:
            schema = self._free.pop()
        else:
            schema = f"store_{next(self._numbers)}"
            self.cluster.admin(self._database).execute(f"CREATE SCHEMA {schema}")
        return f"{self.cluster.url(self._database)}?search_path={schema}"

    def missing_database(self) -> str:
        return self.cluster.url(f"missing_{next(self._numbers)}")

    def drop(self, database: Path | str) -> None:
        assert self._database is not None
        schema = str(database).rsplit("search_path=", 1)[1]
        admin = self.cluster.admin(self._database)
        tables = admin.fetch(
            "SELECT c.relname, c.relispartition FROM pg_class c JOIN pg_namespace n"
            f" ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p')"
        )
        if not any(name == "schema_version" for name, _ in tables):
            admin.execute(f"DROP SCHEMA {schema} CASCADE")  # not migrated: nothing to reuse
            return
        statements = [f"DROP TABLE {schema}.{name}" for name, partition in tables if partition]
        whole = [f"{schema}.{name}" for name, partition in tables
                 if not partition and name != "schema_version"]  # fmt: skip
        statements.append(f"TRUNCATE {', '.join(whole)} RESTART IDENTITY")
        admin.execute(";".join(statements))
        self._free.append(schema)


def store_factory_for(
    backend: str, folder: Path, cluster: Callable[[], Cluster] | None = None
) -> StoreFactory:
    """`cluster` gives the session's PostgreSQL cluster, started on first need."""
    if backend == "sqlite":
        return SqliteStores(folder)
    if backend == "postgres" and cluster is not None:
        return PostgresStores(cluster())
    raise ValueError(f"no store factory for the backend {backend!r}")
