"""The PostgreSQL store's connections: one pool (asyncpg) for reads and writes, every write a
transaction of its own on a pooled connection, committed before the method returns (PostgreSQL
makes a commit durable with `synchronous_commit`, its default).

The URL is the one of `collector.database` (`postgresql://user@host:5432/db`); a password comes
from the URL (after `${ENV}` substitution) or from `~/.pgpass`, which asyncpg reads as libpq does.
It is never logged: `slawatch.collector.store.database_label` is what may be shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from slawatch.collector.store.factory import database_label
from slawatch.collector.store.postgres.migrations import (
    UnreadableDatabaseError,
    check_readable,
    migrate,
    schema_version,
)

POOL_SIZE = 10
"""Connections of one store: concurrent ingest transactions, readers, the alert outbox."""
CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 60.0


class PostgresConnections:
    """The pool of one store on one database; see the module's docstring."""

    errors: tuple[type[Exception], ...] = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        OSError,
        TimeoutError,
        UnreadableDatabaseError,
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = database_label(url)
        """What logs and errors name (the URL without its password)."""
        self._pool: asyncpg.Pool | None = None
        self.read_only = False
        """Opened by `open_readonly`: reads only, in read-only transactions."""

    async def open(self) -> None:
        """Connect, creating nothing but slawatch's tables: the database must exist."""
        pool = await self._connect(read_only=False)
        try:
            async with pool.acquire() as db:
                await migrate(db)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def open_readonly(self) -> None:
        try:
            pool = await self._connect(read_only=True)
        except asyncpg.InvalidCatalogNameError:
            raise FileNotFoundError(f"no database at {self.path}") from None
        try:
            async with pool.acquire() as db:
                await check_readable(db)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        self.read_only = True

    async def _connect(self, *, read_only: bool) -> asyncpg.Pool:
        settings = {"application_name": "slawatch", "timezone": "UTC"}
        if read_only:
            settings["default_transaction_read_only"] = "on"
        pool = await asyncpg.create_pool(
            self.url,
            min_size=1,
            max_size=POOL_SIZE,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            server_settings=settings,
        )
        assert pool is not None
        return pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        return self._pool

    @contextlib.asynccontextmanager
    async def write_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in a transaction: committed at the end of the block, rolled back
        if it raises."""
        async with self.pool.acquire() as db, db.transaction():
            yield db

    async def schema_version(self) -> int:
        async with self.pool.acquire() as db:
            return await schema_version(db)

    async def probe_write(self, now_ms: int) -> None:
        async with self.write_transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES ('write_probe_ms', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                now_ms,
            )

    async def size_bytes(self) -> int:
        return int(await self.pool.fetchval("SELECT pg_database_size(current_database())"))
