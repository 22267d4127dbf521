"""Reads of the SQLite store's samples family: runs for the SLA engine, latencies and rollups
for reports, the checks and agents seen. All on the reader connection, which WAL never blocks
behind a writer; the newest run of each series comes from memory. Each read of samples, runs or
rollups first waits for the late samples set aside to be merged (`SqliteIngest.settled`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from slawatch.collector.engine.latency import bucket_range, latency_bucket
from slawatch.collector.engine.timeline import Run
from slawatch.collector.samples import SampleRow
from slawatch.collector.store.records import (
    CsvSampleRows,
    LastSample,
    RawSample,
    SeenAgent,
    SeenCheck,
)
from slawatch.collector.store.sqlite.histograms import decode_histogram
from slawatch.collector.store.sqlite.ingest import SqliteIngest
from slawatch.collector.store.sqlite.ingest_transaction import marks, run_of

DAY_MS = 86_400_000
_CSV_TAIL = (
    "',' || interval_ms || ',' || coalesce(status_code, '') || ',' || CASE"
    " WHEN error IS NULL THEN ''"
    " WHEN instr(error, ',') OR instr(error, '\"') OR instr(error, char(13))"
    " OR instr(error, char(10)) THEN '\"' || replace(error, '\"', '\"\"') || '\"'"
    " ELSE error END || char(13, 10)"
)
"""`records.CsvSampleRows`' tail of a line: `,interval_ms,status_code,error` and CRLF."""


class SqliteSampleReads(SqliteIngest):
    """`SampleStore`'s reads (see `slawatch.collector.store.protocols` for what each gives)."""

    async def runs(
        self, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> dict[str, dict[str, list[Run]]]:
        await self.settled()
        result: dict[str, dict[str, list[Run]]] = {}
        if not checks:
            return result
        async with self.reader.execute(
            "SELECT s.check_id, s.agent, r.start_ms, r.end_ms, r.ok, r.error, r.last_ts_ms,"
            " r.last_interval_ms, r.samples FROM runs r JOIN series s ON s.id = r.series"
            f" WHERE s.check_id IN ({marks(checks)}) AND r.end_ms > ? AND r.start_ms < ?"
            " ORDER BY s.check_id, s.agent, r.start_ms",
            (*checks, start_ms, end_ms),
        ) as cursor:
            async for row in cursor:
                result.setdefault(row[0], {}).setdefault(row[1], []).append(run_of(row[2:]))
        return result

    async def last_runs(self) -> dict[str, dict[str, Run]]:
        """From memory: no query (once the late samples set aside are merged)."""
        await self.settled()
        result: dict[str, dict[str, Run]] = {}
        keys = self._series.keys
        for sid, run in self._series.last_runs.items():
            check, agent = keys[sid]
            result.setdefault(check, {})[agent] = run
        return result

    async def runs_at(self, at_ms: int) -> dict[str, dict[str, Run]]:
        await self.settled()
        result: dict[str, dict[str, Run]] = {}
        earlier: list[str] = []
        keys = self._series.keys
        for sid, run in list(self._series.last_runs.items()):
            check, agent = keys[sid]
            if run.start_ms <= at_ms < run.end_ms:
                result.setdefault(check, {})[agent] = run
            elif at_ms < run.start_ms:
                earlier.append(check)  # a sample stamped ahead of `at_ms`: look further back
        if earlier:
            for check, agents in (await self.runs(sorted(set(earlier)), at_ms, at_ms + 1)).items():
                for agent, runs in agents.items():
                    result.setdefault(check, {})[agent] = runs[-1]
        return result

    async def latency_values(
        self, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> list[float]:
        await self.settled()
        if not checks:
            return []
        async with self.reader.execute(
            "SELECT latency_ms FROM samples WHERE series IN"
            f" (SELECT id FROM series WHERE check_id IN ({marks(checks)}))"
            " AND ts_ms >= ? AND ts_ms < ? AND ok = 1 AND latency_ms IS NOT NULL",
            (*checks, start_ms, end_ms),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def raw_samples(
        self, checks: Sequence[str], start_ms: int, end_ms: int, *, chunk: int = 5000
    ) -> AsyncIterator[list[RawSample]]:
        columns = ":check, :agent, ts_ms, ok, latency_ms, interval_ms, status_code, error"
        async for _, _, rows in self._series_chunks(checks, columns, start_ms, end_ms, chunk):
            yield cast(list[RawSample], rows)

    async def raw_sample_csv_rows(
        self, checks: Sequence[str], start_ms: int, end_ms: int, *, chunk: int = 20_000
    ) -> AsyncIterator[CsvSampleRows]:
        columns = f"ts_ms, ok, latency_ms, {_CSV_TAIL}"
        async for check, agent, rows in self._series_chunks(
            checks, columns, start_ms, end_ms, chunk
        ):
            yield CsvSampleRows(check, agent, cast(list[tuple[int, int, float | None, str]], rows))

    async def _series_chunks(
        self, checks: Sequence[str], columns: str, start_ms: int, end_ms: int, chunk: int
    ) -> AsyncIterator[tuple[str, str, list[Any]]]:
        """Each series of `checks` (by check, then agent): (check, agent, rows) in chunks of at
        most `chunk`, the rows `columns` of its samples in [start, end) by time. `columns` may
        name `:check` and `:agent`, put in each row by SQLite."""
        await self.settled()
        if not checks:
            return
        async with self.reader.execute(
            f"SELECT id, check_id, agent FROM series WHERE check_id IN ({marks(checks)})"
            " ORDER BY check_id, agent",
            tuple(checks),
        ) as cursor:
            series = await cursor.fetchall()
        for sid, check, agent in series:
            async with self.reader.execute(
                f"SELECT {columns} FROM samples"
                " WHERE series = :sid AND ts_ms >= :start AND ts_ms < :end ORDER BY ts_ms",
                {"check": check, "agent": agent, "sid": sid, "start": start_ms, "end": end_ms},
            ) as cursor:
                while rows := await cursor.fetchmany(chunk):
                    yield check, agent, cast(list[Any], rows)

    async def bucket_latencies(
        self, checks: Sequence[str], start_ms: int, end_ms: int, bucket: int
    ) -> list[float]:
        await self.settled()
        around = bucket_range(bucket)
        if not checks or around is None:
            return []
        async with self.reader.execute(
            "SELECT latency_ms FROM samples WHERE series IN"
            f" (SELECT id FROM series WHERE check_id IN ({marks(checks)}))"
            " AND ts_ms >= ? AND ts_ms < ? AND ok = 1 AND latency_ms > ? AND latency_ms <= ?",
            (*checks, start_ms, end_ms, *around),
        ) as cursor:
            rows = await cursor.fetchall()
        return [row[0] for row in rows if latency_bucket(row[0]) == bucket]

    async def latency_histograms(
        self, checks: Sequence[str], hour_start_ms: int, hour_end_ms: int
    ) -> dict[int, int]:
        await self.settled()
        merged: dict[int, int] = {}
        if not checks:
            return merged
        async with self.reader.execute(
            "SELECT histogram FROM rollups WHERE series IN"
            f" (SELECT id FROM series WHERE check_id IN ({marks(checks)}))"
            " AND hour_ms >= ? AND hour_ms < ?",
            (*checks, hour_start_ms, hour_end_ms),
        ) as cursor:
            async for (blob,) in cursor:
                for bucket, count in decode_histogram(blob).items():
                    merged[bucket] = merged.get(bucket, 0) + count
        return merged

    async def hourly_counts(
        self, checks: Sequence[str], hour_start_ms: int, hour_end_ms: int
    ) -> dict[str, dict[int, tuple[int, int]]]:
        await self.settled()
        result: dict[str, dict[int, tuple[int, int]]] = {}
        if not checks:
            return result
        async with self.reader.execute(
            "SELECT s.check_id, r.hour_ms, SUM(r.samples), SUM(r.ok_samples)"
            " FROM rollups r JOIN series s ON s.id = r.series"
            f" WHERE s.check_id IN ({marks(checks)}) AND r.hour_ms >= ? AND r.hour_ms < ?"
            " GROUP BY s.check_id, r.hour_ms ORDER BY s.check_id, r.hour_ms",
            (*checks, hour_start_ms, hour_end_ms),
        ) as cursor:
            async for check, hour, count, ok in cursor:
                result.setdefault(check, {})[hour] = (count, ok)
        return result

    async def rollup_day_marks(
        self, checks: Sequence[str], day_start_ms: int, day_end_ms: int
    ) -> dict[int, tuple[int, int]]:
        await self.settled()
        found: dict[int, tuple[int, int]] = {}
        if not checks:
            return found
        async with self.reader.execute(
            f"SELECT hour_ms - hour_ms % {DAY_MS}, COUNT(*), SUM(samples) FROM rollups"
            f" WHERE series IN (SELECT id FROM series WHERE check_id IN ({marks(checks)}))"
            " AND hour_ms >= ? AND hour_ms < ? GROUP BY 1",
            (*checks, day_start_ms, day_end_ms),
        ) as cursor:
            for day, hours, samples in await cursor.fetchall():
                found[int(day)] = (int(hours), int(samples))
        return found

    async def seen_checks(self) -> list[SeenCheck]:
        async with self.reader.execute(
            "SELECT id, type, interval_ms, first_seen_ms, last_seen_ms FROM checks ORDER BY id"
        ) as cursor:
            return [SeenCheck(*row) for row in await cursor.fetchall()]

    async def seen_agents(self) -> list[SeenAgent]:
        async with self.reader.execute(
            "SELECT id, labels, last_push_ms FROM agents ORDER BY id"
        ) as cursor:
            return [SeenAgent(r[0], json.loads(r[1]), r[2]) for r in await cursor.fetchall()]

    async def last_samples(self) -> dict[str, dict[str, LastSample]]:
        await self.settled()
        result: dict[str, dict[str, LastSample]] = {}
        async with self.reader.execute(
            "SELECT s.check_id, s.agent, x.ts_ms, x.ok, x.latency_ms, x.status_code, x.error"
            " FROM series s CROSS JOIN samples x ON x.series = s.id"
            " AND x.ts_ms = (SELECT MAX(ts_ms) FROM samples WHERE series = s.id)"
        ) as cursor:
            async for check, agent, ts, ok, latency, status, error in cursor:
                result.setdefault(check, {})[agent] = LastSample(
                    ts, bool(ok), latency, status, error
                )
        return result

    async def check_samples(
        self, check: str, start_ms: int, end_ms: int, limit: int
    ) -> list[tuple[str, SampleRow]]:
        await self.settled()
        async with self.reader.execute(
            "SELECT s.agent, x.ts_ms, x.ok, x.latency_ms, x.interval_ms, x.status_code, x.error,"
            " x.dns_us, x.connect_us, x.tls_us, x.ttfb_us, x.transfer_us, x.tls_expires"
            " FROM series s CROSS JOIN samples x ON x.series = s.id"
            " WHERE s.check_id = ? AND x.ts_ms >= ? AND x.ts_ms < ?"
            " ORDER BY x.ts_ms DESC LIMIT ?",
            (check, start_ms, end_ms, limit),
        ) as cursor:
            return [
                (row[0], SampleRow(*row[1:], check, None)._replace(ok=bool(row[2])))  # type: ignore[call-arg]
                for row in await cursor.fetchall()
            ]

    async def sample_count(self) -> int:
        await self.settled()
        async with self.reader.execute("SELECT COUNT(*) FROM samples") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0
