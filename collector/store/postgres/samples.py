"""Reads of the PostgreSQL store's samples family: runs for the SLA engine, latencies and
rollups for reports, the checks and agents seen. Nothing is cached in the process: another
collector may have written since, and every read sees what any of them committed. Every read
of samples, runs or rollups first waits for the late samples set aside to be merged
(`PostgresIngest.settled`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from slawatch.collector.engine.latency import bucket_range, latency_bucket
from slawatch.collector.engine.timeline import Run
from slawatch.collector.samples import SampleRow
from slawatch.collector.store.postgres.ingest import PostgresIngest
from slawatch.collector.store.postgres.writes import RUN_COLUMNS
from slawatch.collector.store.records import (
    CsvSampleRows,
    LastSample,
    RawSample,
    SeenAgent,
    SeenCheck,
)

DAY_MS = 86_400_000
_SERIES_OF = "ANY(ARRAY(SELECT id FROM series WHERE check_id = ANY($1::text[])))"
"""The series of the checks `$1`, as `series = {_SERIES_OF}`: their ids are found first (an
array), and each series' rows then by the primary key, whatever statistics the planner has (with
`series IN (subquery)` and none, after a bulk load, it scanned the rollups: a cold month report
took 0.9-1.6 s, 0.37 s with them)."""
_RUN_SELECT = ", ".join(f"r.{column}" for column in RUN_COLUMNS.split(", "))
_CSV_TAIL = (
    "',' || interval_ms::text || ',' || coalesce(status_code::text, '') || ',' || CASE"
    " WHEN error IS NULL THEN ''"
    " WHEN strpos(error, ',') > 0 OR strpos(error, '\"') > 0 OR strpos(error, chr(13)) > 0"
    " OR strpos(error, chr(10)) > 0 THEN '\"' || replace(error, '\"', '\"\"') || '\"'"
    " ELSE error END || chr(13) || chr(10)"
)
"""`records.CsvSampleRows`' tail of a line: `,interval_ms,status_code,error` and CRLF."""


def _run(row: Sequence[object]) -> Run:
    return Run(*row)  # type: ignore[arg-type]


class PostgresSampleReads(PostgresIngest):
    """`SampleStore`'s reads (see `slawatch.collector.store.protocols` for what each gives)."""

    async def runs(
        self, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> dict[str, dict[str, list[Run]]]:
        await self.settled()
        result: dict[str, dict[str, list[Run]]] = {}
        if not checks:
            return result
        for row in await self.pool.fetch(
            f"SELECT s.check_id, s.agent, {_RUN_SELECT} FROM runs r JOIN series s"
            " ON s.id = r.series WHERE s.check_id = ANY($1::text[])"
            " AND r.end_ms > $2 AND r.start_ms < $3 ORDER BY s.check_id, s.agent, r.start_ms",
            list(checks),
            start_ms,
            end_ms,
        ):
            result.setdefault(row[0], {}).setdefault(row[1], []).append(_run(row[2:]))
        return result

    async def last_runs(self) -> dict[str, dict[str, Run]]:
        await self.settled()
        result: dict[str, dict[str, Run]] = {}
        for row in await self.pool.fetch(
            f"SELECT s.check_id, s.agent, {_RUN_SELECT} FROM series s"
            f" CROSS JOIN LATERAL (SELECT {RUN_COLUMNS} FROM runs WHERE series = s.id"
            " ORDER BY start_ms DESC LIMIT 1) r"
        ):
            result.setdefault(row[0], {})[row[1]] = _run(row[2:])
        return result

    async def runs_at(self, at_ms: int) -> dict[str, dict[str, Run]]:
        await self.settled()
        result: dict[str, dict[str, Run]] = {}
        for row in await self.pool.fetch(
            f"SELECT s.check_id, s.agent, {_RUN_SELECT} FROM series s"
            f" CROSS JOIN LATERAL (SELECT {RUN_COLUMNS} FROM runs WHERE series = s.id"
            " AND start_ms <= $1 ORDER BY start_ms DESC LIMIT 1) r WHERE r.end_ms > $1",
            at_ms,
        ):
            result.setdefault(row[0], {})[row[1]] = _run(row[2:])
        return result

    async def latency_values(
        self, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> list[float]:
        await self.settled()
        if not checks:
            return []
        rows = await self.pool.fetch(
            f"SELECT latency_ms FROM samples WHERE series = {_SERIES_OF}"
            " AND ts_ms >= $2 AND ts_ms < $3 AND ok AND latency_ms IS NOT NULL",
            list(checks),
            start_ms,
            end_ms,
        )
        return [row[0] for row in rows]

    async def raw_samples(
        self, checks: Sequence[str], start_ms: int, end_ms: int, *, chunk: int = 5000
    ) -> AsyncIterator[list[RawSample]]:
        columns = "ts_ms, ok::int, latency_ms, interval_ms, status_code, error"
        async for check, agent, rows in self._series_chunks(
            checks, columns, start_ms, end_ms, chunk
        ):
            yield [(check, agent, *row) for row in rows]

    async def raw_sample_csv_rows(
        self, checks: Sequence[str], start_ms: int, end_ms: int, *, chunk: int = 20_000
    ) -> AsyncIterator[CsvSampleRows]:
        # The server renders the tail of each line, in its own process, while this one formats
        # the chunk before.
        columns = f"ts_ms, ok::int, latency_ms, {_CSV_TAIL}"
        async for check, agent, rows in self._series_chunks(
            checks, columns, start_ms, end_ms, chunk
        ):
            yield CsvSampleRows(check, agent, rows)

    async def _series_chunks(
        self, checks: Sequence[str], columns: str, start_ms: int, end_ms: int, chunk: int
    ) -> AsyncIterator[tuple[str, str, Any]]:
        """Each series of `checks` (by check, then agent): (check, agent, records) in chunks of
        at most `chunk`, the records `columns` of its samples in [start, end) by time.

        One connection and one read-only transaction for the whole stream: a server-side cursor
        per series, so a month of samples never sits whole in memory, and every chunk sees the
        same snapshot. Series in byte order (COLLATE "C"), as SQLite sorts them."""
        await self.settled()
        if not checks:
            return
        async with (
            self.pool.acquire() as db,
            db.transaction(isolation="repeatable_read", readonly=True),
        ):
            series = await db.fetch(
                "SELECT id, check_id, agent FROM series WHERE check_id = ANY($1::text[])"
                ' ORDER BY check_id COLLATE "C", agent COLLATE "C"',
                list(checks),
            )
            for sid, check, agent in series:
                cursor = await db.cursor(
                    f"SELECT {columns} FROM samples WHERE series = $1 AND ts_ms >= $2"
                    " AND ts_ms < $3 ORDER BY ts_ms",
                    sid,
                    start_ms,
                    end_ms,
                )
                while rows := await cursor.fetch(chunk):
                    yield check, agent, rows

    async def bucket_latencies(
        self, checks: Sequence[str], start_ms: int, end_ms: int, bucket: int
    ) -> list[float]:
        await self.settled()
        around = bucket_range(bucket)
        if not checks or around is None:
            return []
        rows = await self.pool.fetch(
            f"SELECT latency_ms FROM samples WHERE series = {_SERIES_OF}"
            " AND ts_ms >= $2 AND ts_ms < $3 AND ok AND latency_ms > $4 AND latency_ms <= $5",
            list(checks),
            start_ms,
            end_ms,
            float(around[0]),
            float(around[1]),
        )
        return [row[0] for row in rows if latency_bucket(row[0]) == bucket]

    async def latency_histograms(
        self, checks: Sequence[str], hour_start_ms: int, hour_end_ms: int
    ) -> dict[int, int]:
        await self.settled()
        merged: dict[int, int] = {}
        if not checks:
            return merged
        for bucket, count in await self.pool.fetch(
            "SELECT b, SUM(c) FROM rollups r CROSS JOIN LATERAL unnest(r.buckets, r.counts)"
            f" AS u(b, c) WHERE r.series = {_SERIES_OF}"
            " AND r.hour_ms >= $2 AND r.hour_ms < $3 GROUP BY b ORDER BY b",
            list(checks),
            hour_start_ms,
            hour_end_ms,
        ):
            merged[int(bucket)] = int(count)
        return merged

    async def hourly_counts(
        self, checks: Sequence[str], hour_start_ms: int, hour_end_ms: int
    ) -> dict[str, dict[int, tuple[int, int]]]:
        await self.settled()
        result: dict[str, dict[int, tuple[int, int]]] = {}
        if not checks:
            return result
        for check, hour, count, ok in await self.pool.fetch(
            "SELECT s.check_id, r.hour_ms, SUM(r.samples), SUM(r.ok_samples)"
            " FROM rollups r JOIN series s ON s.id = r.series"
            " WHERE s.check_id = ANY($1::text[]) AND r.hour_ms >= $2 AND r.hour_ms < $3"
            " GROUP BY s.check_id, r.hour_ms ORDER BY s.check_id, r.hour_ms",
            list(checks),
            hour_start_ms,
            hour_end_ms,
        ):
            result.setdefault(check, {})[hour] = (int(count), int(ok))
        return result

    async def rollup_day_marks(
        self, checks: Sequence[str], day_start_ms: int, day_end_ms: int
    ) -> dict[int, tuple[int, int]]:
        await self.settled()
        found: dict[int, tuple[int, int]] = {}
        if not checks:
            return found
        for day, hours, samples in await self.pool.fetch(
            f"SELECT hour_ms - hour_ms % {DAY_MS}, COUNT(*), SUM(samples) FROM rollups"
            f" WHERE series = {_SERIES_OF} AND hour_ms >= $2 AND hour_ms < $3 GROUP BY 1",
            list(checks),
            day_start_ms,
            day_end_ms,
        ):
            found[int(day)] = (int(hours), int(samples))
        return found

    async def seen_checks(self) -> list[SeenCheck]:
        """A check's type and interval are those of its series seen last."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT ON (check_id) check_id, type, interval_ms,"
            " MIN(first_seen_ms) OVER w, MAX(last_seen_ms) OVER w FROM series"
            " WHERE last_seen_ms IS NOT NULL"
            " WINDOW w AS (PARTITION BY check_id)"
            " ORDER BY check_id, last_seen_ms DESC, id DESC"
        )
        return [SeenCheck(*row) for row in rows]

    async def seen_agents(self) -> list[SeenAgent]:
        rows = await self.pool.fetch("SELECT id, labels, last_push_ms FROM agents ORDER BY id")
        return [SeenAgent(r[0], json.loads(r[1]), r[2]) for r in rows]

    async def last_samples(self) -> dict[str, dict[str, LastSample]]:
        await self.settled()
        result: dict[str, dict[str, LastSample]] = {}
        for check, agent, ts, ok, latency, status, error in await self.pool.fetch(
            "SELECT s.check_id, s.agent, x.ts_ms, x.ok, x.latency_ms, x.status_code, x.error"
            " FROM series s CROSS JOIN LATERAL (SELECT ts_ms, ok, latency_ms, status_code, error"
            " FROM samples WHERE series = s.id ORDER BY ts_ms DESC LIMIT 1) x"
        ):
            result.setdefault(check, {})[agent] = LastSample(ts, ok, latency, status, error)
        return result

    async def check_samples(
        self, check: str, start_ms: int, end_ms: int, limit: int
    ) -> list[tuple[str, SampleRow]]:
        await self.settled()
        rows = await self.pool.fetch(
            "SELECT s.agent, x.ts_ms, x.ok, x.latency_ms, x.interval_ms, x.status_code, x.error,"
            " x.dns_us, x.connect_us, x.tls_us, x.ttfb_us, x.transfer_us, x.tls_expires"
            " FROM series s JOIN samples x ON x.series = s.id"
            " WHERE s.check_id = $1 AND x.ts_ms >= $2 AND x.ts_ms < $3"
            " ORDER BY x.ts_ms DESC LIMIT $4",
            check,
            start_ms,
            end_ms,
            limit,
        )
        return [(row[0], SampleRow._make((*row[1:], check, None))) for row in rows]

    async def sample_count(self) -> int:
        await self.settled()
        return int(await self.pool.fetchval("SELECT COUNT(*) FROM samples"))
