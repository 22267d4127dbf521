"""The PostgreSQL store (CONTRACT §6): one database shared by one or several collectors.

`PostgresStore(url)` implements `slawatch.collector.store.Store` over an asyncpg pool
(`connections`), one module per table family, as `sqlite/` does:
- `ingest`: a batch, one transaction, its series locked (several collectors write side by side);
- `samples`: their reads; `retention`: pruning, raw samples by dropping day partitions
  (`partitions`);
- `maintenance`, `outbox` (alerts), `keys`, `sessions` (browsers' and share links');
  `migrations` (the schema);
- `coordination`: which collector evaluates alerts and delivers notifications, and what the
  others ingest; `from_sqlite`: `slawatch migrate-store`.

asyncpg, not psycopg 3: it speaks PostgreSQL's binary protocol natively (arrays of a whole batch
pass as one parameter, for `unnest`), pools connections, and is the faster of the two on the
many-small-statements work ingest is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slawatch.collector.store.postgres.from_sqlite import CHUNK_ROWS, copy_sqlite_store
from slawatch.collector.store.postgres.keys import PostgresKeys
from slawatch.collector.store.postgres.maintenance import PostgresMaintenance
from slawatch.collector.store.postgres.outbox import PostgresOutbox
from slawatch.collector.store.postgres.retention import PostgresRetention
from slawatch.collector.store.postgres.samples import PostgresSampleReads
from slawatch.collector.store.postgres.sessions import PostgresSessions


class PostgresStore(
    PostgresSampleReads,
    PostgresRetention,
    PostgresMaintenance,
    PostgresOutbox,
    PostgresKeys,
    PostgresSessions,
):
    """`store = PostgresStore(url)`, then `await store.open()`."""

    async def copy_from_sqlite(
        self,
        source: Path,
        *,
        chunk_rows: int = CHUNK_ROWS,
        report: Callable[[str, int], None] = lambda step, rows: None,
    ) -> dict[str, int]:
        """`slawatch migrate-store`: copy the SQLite store `source` into this one (empty, or
        partly copied by an interrupted run); see `from_sqlite`."""
        async with self.pool.acquire() as db:
            return await copy_sqlite_store(source, db, chunk_rows=chunk_rows, report=report)


__all__ = ["PostgresStore"]
