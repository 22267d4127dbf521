"""Retention in the SQLite store: raw samples, runs and rollups deleted past their age in small
transactions, so that a batch waiting to be ingested never waits long.

Raw retention defaults to more than `max_sample_age`, but with a shorter one (allowed, with a
warning) a late sample may land where its neighbours' raw samples are already pruned:
`meta.raw_horizon_ms` records the prune cutoff, and runs that start before it are taken whole
when late samples are merged into runs (`slawatch.collector.engine.timeline.merge_late`).
"""

from __future__ import annotations

import asyncio

import structlog

from slawatch.collector.store.sqlite.ingest import SqliteIngest
from slawatch.collector.store.sqlite.ingest_transaction import HOUR_MS

log = structlog.get_logger()

PRUNE_CHUNK_ROWS = 5_000


class SqliteRetention(SqliteIngest):
    async def prune(
        self,
        now_ms: int,
        *,
        raw_retention_ms: int,
        rollup_retention_ms: int,
        chunk_rows: int = PRUNE_CHUNK_ROWS,
    ) -> int:
        """Each transaction deletes at most `chunk_rows` rows of one series."""
        await self.settled()  # late samples set aside first: they may change the runs pruned
        raw_cutoff = now_ms - raw_retention_ms
        derived_cutoff = now_ms - rollup_retention_ms
        if raw_cutoff > self._series.raw_horizon_ms:
            async with self.write_lock:
                await self.writer.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('raw_horizon_ms', ?)", (raw_cutoff,)
                )
                await self.writer.commit()
                self._series.raw_horizon_ms = raw_cutoff
        deleted = 0
        self._series.forget_rollups_before(derived_cutoff - HOUR_MS)
        statements = (
            ("samples", "ts_ms", raw_cutoff),
            ("rollups", "hour_ms", derived_cutoff - HOUR_MS),
            ("runs", "end_ms", derived_cutoff),
        )
        for table, column, cutoff in statements:
            for sid in list(self._series.keys):
                while True:
                    removed = await self._prune_chunk(table, column, sid, cutoff, chunk_rows)
                    if table == "samples":
                        deleted += removed
                    if removed < chunk_rows:
                        break
                    await asyncio.sleep(0)
        if deleted:
            log.info("raw_samples_pruned", rows=deleted, before_ms=raw_cutoff)
        return deleted

    async def _prune_chunk(self, table: str, column: str, sid: int, cutoff: int, rows: int) -> int:
        key = "ts_ms" if table == "samples" else ("hour_ms" if table == "rollups" else "start_ms")
        cache = self._series
        async with self.write_lock:
            cursor = await self.writer.execute(
                f"DELETE FROM {table} WHERE series = ?1 AND {key} IN"
                f" (SELECT {key} FROM {table} WHERE series = ?1 AND {column} < ?2"
                f" ORDER BY {key} LIMIT ?3)",
                (sid, cutoff, rows),
            )
            await self.writer.commit()
            removed = cursor.rowcount
            if table == "runs" and removed:
                cache.recent_runs.forget(sid)
            if table == "runs" and (last := cache.last_runs.get(sid)) and last.end_ms < cutoff:
                del cache.last_runs[sid]
            if (
                table == "rollups"
                and (roll := cache.last_rollups.get(sid))
                and roll.hour_ms < cutoff
            ):
                del cache.last_rollups[sid]
        return removed
