"""Retention in the PostgreSQL store: raw samples go a whole day at a time, by dropping the
day's partition once all of it is older than the cutoff (no row-by-row delete, no bloat); the
day the cutoff falls in loses its older rows by DELETE. Runs and rollups go by DELETE in small
transactions. `meta.raw_horizon_ms` records the cutoff, as on SQLite (see `merge_late`).
"""

from __future__ import annotations

import structlog

from slawatch.collector.store.postgres.ingest import SERIES_LOCK, PostgresIngest
from slawatch.collector.store.postgres.partitions import (
    DAY_MS,
    PARTITION_LOCK,
    partition_days,
    partition_name,
)
from slawatch.collector.store.postgres.writes import HOUR_MS

log = structlog.get_logger()

PRUNE_CHUNK_ROWS = 5_000


class PostgresRetention(PostgresIngest):
    async def prune(
        self,
        now_ms: int,
        *,
        raw_retention_ms: int,
        rollup_retention_ms: int,
        chunk_rows: int = PRUNE_CHUNK_ROWS,
    ) -> int:
        raw_cutoff = now_ms - raw_retention_ms
        derived_cutoff = now_ms - rollup_retention_ms
        await self.settled()  # late samples set aside first: they may change the runs pruned
        async with self.write_transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES ('raw_horizon_ms', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, excluded.value)",
                raw_cutoff,
            )
            self._raw_horizon_ms = int(
                await db.fetchval("SELECT value FROM meta WHERE key = 'raw_horizon_ms'")
            )
        deleted = await self._drop_old_days(raw_cutoff)
        deleted += await self._delete_chunks(
            "DELETE FROM samples WHERE series = $2 AND ts_ms < $1 AND (series, ts_ms) IN"
            " (SELECT series, ts_ms FROM samples WHERE ts_ms < $1 AND series = $2 LIMIT $3)",
            raw_cutoff,
            chunk_rows,
        )
        await self._delete_chunks(
            "DELETE FROM rollups WHERE (series, hour_ms) IN (SELECT series, hour_ms FROM rollups"
            " WHERE hour_ms < $1 AND series = $2 LIMIT $3)",
            derived_cutoff - HOUR_MS,
            chunk_rows,
        )
        await self._delete_chunks(
            "DELETE FROM runs WHERE (series, start_ms) IN (SELECT series, start_ms FROM runs"
            " WHERE end_ms < $1 AND series = $2 LIMIT $3)",
            derived_cutoff,
            chunk_rows,
        )
        if deleted:
            log.info("raw_samples_pruned", rows=deleted, before_ms=raw_cutoff)
        return deleted

    async def _drop_old_days(self, raw_cutoff: int) -> int:
        """Drop the partitions of the days wholly before `raw_cutoff`; the rows they held."""
        deleted = 0
        async with self.write_transaction() as db:
            await db.execute("SELECT pg_advisory_xact_lock($1, $2)", *PARTITION_LOCK)
            for day in await partition_days(db):
                if day + DAY_MS > raw_cutoff:
                    break
                name = partition_name(day)
                deleted += int(await db.fetchval(f"SELECT COUNT(*) FROM {name}"))
                await db.execute(f"DROP TABLE {name}")
                self._partitions.days.discard(day)
        return deleted

    async def _delete_chunks(self, statement: str, cutoff: int, chunk_rows: int) -> int:
        """`statement` per series, in transactions of at most `chunk_rows` rows, each holding
        the series' lock (an ingest transaction never waits long, nor reads half a prune)."""
        deleted = 0
        for sid in [r[0] for r in await self.pool.fetch("SELECT id FROM series ORDER BY id")]:
            while True:
                async with self.write_transaction() as db:
                    await db.execute("SELECT pg_advisory_xact_lock($1, $2)", SERIES_LOCK, sid)
                    status = await db.execute(statement, cutoff, sid, chunk_rows)
                removed = int(status.rsplit(" ", 1)[1])
                deleted += removed
                if removed < chunk_rows:
                    break
        return deleted
