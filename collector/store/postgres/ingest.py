"""Ingest into the PostgreSQL store: each batch one transaction on a pooled connection, so that
batches of different series are written side by side, by one collector or several.

Every series a batch touches is locked for the transaction (`pg_advisory_xact_lock`, in series
order, so two batches never wait on each other in a cycle): what a transaction reads of a series
(its last run, the runs and raw samples late samples land among, its rollups) is what the
previous writer of that series committed, whichever collector that was. So concurrent batches of
the same (agent, check), through one collector or two, give the runs and rollups one writer would.
The rules are the pure ones of `slawatch.collector.engine.timeline` and `.latency`, as on SQLite:
- new samples are those after the series' last one, and late ones not found stored;
- runs: samples after the series' last one extend its last run; late ones are merged into the
  runs around each of them (`late_runs`, read before the late samples are inserted);
- rollups: per (series, hour) counts and a latency histogram, the new samples added in;
- the series' type, interval and first/last seen, and the agent's labels.
The caller gets its answer once the transaction is committed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import structlog

from slawatch.collector.engine.latency import count_buckets
from slawatch.collector.engine.timeline import FOREVER_MS, Run, extend_runs
from slawatch.collector.samples import STORED_FIELDS, SampleRow
from slawatch.collector.store.postgres.connections import PostgresConnections
from slawatch.collector.store.postgres.coordination import (
    CHANNEL,
    PostgresCoordination,
    ingest_payload,
    new_token,
)
from slawatch.collector.store.postgres.late_runs import merge_late_runs
from slawatch.collector.store.postgres.literals import (
    bool_array,
    float_array,
    int_array,
    int_arrays,
    text_array,
)
from slawatch.collector.store.postgres.partitions import Partitions
from slawatch.collector.store.records import SAMPLE_COLUMNS, IngestResult

log = structlog.get_logger()

HOUR_MS = 3_600_000
SERIES_LOCK = 0x534C4153
"""The namespace of the advisory locks of series (the key is the series id)."""
RUN_COLUMNS = "start_ms, end_ms, ok, error, last_ts_ms, last_interval_ms, samples"

_INCOMING = "CREATE TEMP TABLE IF NOT EXISTS incoming_samples (LIKE samples) ON COMMIT DELETE ROWS"
"""Each connection's own table the batch is COPYed into first: COPY's binary rows cost the
client a fraction of what encoding 13 arrays for `unnest` does (measured in process: most of
the time of a 1,000-sample batch went to asyncpg's array encoding)."""
_NOT_STORED = """
SELECT i.series, i.ts_ms FROM incoming_samples i
LEFT JOIN LATERAL (SELECT 1 AS stored FROM samples s
                   WHERE s.series = i.series AND s.ts_ms = i.ts_ms LIMIT 1) AS f ON true
WHERE f.stored IS NULL
"""
"""The late samples not stored yet, each looked up by primary key (a LATERAL with LIMIT is not
turned into a join: `NOT EXISTS` was, and the planner, with no statistics of the temporary
table, chose to scan the samples, 60 ms a batch)."""
_INSERT_SAMPLES = "INSERT INTO samples SELECT * FROM incoming_samples ON CONFLICT DO NOTHING"
"""The late samples, once their runs are merged (the series' locks keep out other writers of
them meanwhile; a duplicate is left out again)."""
_UPSERT_RUNS = f"""
INSERT INTO runs (series, {RUN_COLUMNS})
SELECT * FROM unnest($1::text::int[], $2::text::bigint[], $3::text::bigint[], $4::text::bool[],
                     $5::text::text[], $6::text::bigint[], $7::text::bigint[], $8::text::int[])
ON CONFLICT (series, start_ms) DO UPDATE SET end_ms = excluded.end_ms, ok = excluded.ok,
    error = excluded.error, last_ts_ms = excluded.last_ts_ms,
    last_interval_ms = excluded.last_interval_ms, samples = excluded.samples
"""
_UPSERT_ROLLUPS = """
INSERT INTO rollups (series, hour_ms, samples, ok_samples, latency_sum_ms, buckets, counts)
SELECT s, h, n, o, l, b::smallint[], c::int[]
FROM unnest($1::text::int[], $2::text::bigint[], $3::text::int[], $4::text::int[],
            $5::text::float8[], $6::text::text[], $7::text::text[]) AS u(s, h, n, o, l, b, c)
ON CONFLICT (series, hour_ms) DO UPDATE SET samples = excluded.samples,
    ok_samples = excluded.ok_samples, latency_sum_ms = excluded.latency_sum_ms,
    buckets = excluded.buckets, counts = excluded.counts
"""


class PostgresIngest(PostgresConnections):
    """The samples family's writing side."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._series_ids: dict[tuple[str, str], int] = {}
        """(check, agent) → series id: ids never change, so every collector may cache them. A
        series is made (committed) before the transaction of the batch that needs it."""
        self._partitions = Partitions()
        self._raw_horizon_ms = -FOREVER_MS
        self._incoming_made: set[int] = set()
        """The connections (by server pid) that have their `incoming_samples` table."""
        self.token = new_token()
        """This store's name in the NOTIFY of its ingest (`coordination`)."""

    def coordination(self) -> PostgresCoordination:
        """Leadership and the other collectors' ingest, on a connection of its own."""
        return PostgresCoordination(self.url, self.token)

    async def open(self) -> None:
        await super().open()
        try:
            async with self.pool.acquire() as db:
                await self._partitions.load(db)
                await self._read_raw_horizon(db)
        except BaseException:
            await self.close()
            raise

    async def open_readonly(self) -> None:
        await super().open_readonly()
        async with self.pool.acquire() as db:
            await self._read_raw_horizon(db)

    @property
    def raw_horizon_ms(self) -> int:
        return self._raw_horizon_ms

    async def _read_raw_horizon(self, db: asyncpg.Connection) -> int:
        value = await db.fetchval("SELECT value FROM meta WHERE key = 'raw_horizon_ms'")
        if value is not None:
            self._raw_horizon_ms = int(value)
        return self._raw_horizon_ms

    async def ingest(
        self,
        agent: str,
        samples: Sequence[SampleRow],
        *,
        labels: Mapping[str, str] | None,
        now_ms: int,
    ) -> IngestResult:
        """One transaction for the batch; a caller cancelled meanwhile may find it committed or
        not, whole either way."""
        async with self.pool.acquire() as db:
            ids: dict[str, int] = {}
            if samples:
                if db.get_server_pid() not in self._incoming_made:
                    await db.execute(_INCOMING)
                    self._incoming_made.add(db.get_server_pid())
                await self._partitions.ensure(db, (row.ts_ms for row in samples))
                ids = await self._series_for(db, agent, sorted({row.check for row in samples}))
            try:
                async with db.transaction():
                    return await self._write_batch(
                        db, agent, ids, samples, labels=labels, now_ms=now_ms
                    )
            except asyncpg.CheckViolationError:
                # a partition this process knew was dropped by another collector's retention
                self._partitions.forget()
                await self._partitions.ensure(db, (row.ts_ms for row in samples))
                async with db.transaction():
                    return await self._write_batch(
                        db, agent, ids, samples, labels=labels, now_ms=now_ms
                    )

    async def _write_batch(
        self,
        db: asyncpg.Connection,
        agent: str,
        ids: Mapping[str, int],
        samples: Sequence[SampleRow],
        *,
        labels: Mapping[str, str] | None,
        now_ms: int,
    ) -> IngestResult:
        accepted = 0
        checks: frozenset[str] = frozenset()
        if samples:
            by_series: dict[int, list[SampleRow]] = {}
            for row in samples:
                by_series.setdefault(ids[row.check], []).append(row)
            for sid, rows in by_series.items():
                by_series[sid] = _unique_by_ts(rows)
            await db.execute(
                "SELECT pg_advisory_xact_lock($1, s) FROM unnest($2::int[]) AS s",
                SERIES_LOCK,
                sorted(by_series),
            )
            last_runs = await _last_runs(db, list(by_series))
            new_by_series, late = await _copy_samples(db, by_series, last_runs)
            if new_by_series:
                await self._update_runs(db, new_by_series, last_runs)
            if late:
                await db.execute(_INSERT_SAMPLES)
            if new_by_series:
                await _update_rollups(db, new_by_series)
                await _update_series_seen(db, new_by_series)
            accepted = sum(len(rows) for rows in new_by_series.values())
            checks = frozenset(rows[0].check for rows in new_by_series.values())
        # the agent seen; the other collectors hear of the samples once they are committed
        await db.execute(
            "WITH seen AS (INSERT INTO agents (id, labels, last_push_ms) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO UPDATE SET last_push_ms = excluded.last_push_ms"
            + (", labels = excluded.labels" if labels is not None else "")
            + ") SELECT pg_notify($4, $5) WHERE $5 <> ''",
            agent,
            json.dumps(dict(labels or {}), sort_keys=True),
            now_ms,
            CHANNEL,
            ingest_payload(self.token, agent, accepted, checks) if checks else "",
        )
        return IngestResult(accepted, len(samples) - accepted, checks)

    async def _series_for(
        self, db: asyncpg.Connection, agent: str, checks: Sequence[str]
    ) -> dict[str, int]:
        ids = {}
        missing = []
        for check in checks:
            sid = self._series_ids.get((check, agent))
            if sid is None:
                missing.append(check)
            else:
                ids[check] = sid
        if missing:
            await db.execute(
                "INSERT INTO series (check_id, agent) SELECT c, $2 FROM unnest($1::text[]) AS c"
                " ON CONFLICT DO NOTHING",
                missing,
                agent,
            )
            for sid, check in await db.fetch(
                "SELECT id, check_id FROM series WHERE agent = $2 AND check_id = ANY($1::text[])",
                missing,
                agent,
            ):
                ids[check] = self._series_ids[(check, agent)] = sid
        return ids

    # ---------------------------------------------------------------------------------- runs

    async def _update_runs(
        self,
        db: asyncpg.Connection,
        new_by_series: Mapping[int, list[SampleRow]],
        last_runs: Mapping[int, Run],
    ) -> None:
        """The runs of the series of `new_by_series` (newly stored samples), in the batch's
        transaction, holding those series' locks."""
        upserts: list[tuple[int, Run]] = []
        late: dict[int, list[SampleRow]] = {}
        for sid, rows in new_by_series.items():
            last = last_runs.get(sid)
            if last is None or rows[0].ts_ms > last.last_ts_ms:
                upserts.extend((sid, run) for run in extend_runs(last, rows))
            else:
                late[sid] = rows
        if late:
            horizon = await self._read_raw_horizon(db)
            upserts += await merge_late_runs(db, late, horizon)
        if not upserts:
            return
        await db.execute(
            _UPSERT_RUNS,
            int_array(sid for sid, _ in upserts),
            int_array(run.start_ms for _, run in upserts),
            int_array(run.end_ms for _, run in upserts),
            bool_array(run.ok for _, run in upserts),
            text_array(run.error for _, run in upserts),
            int_array(run.last_ts_ms for _, run in upserts),
            int_array(run.last_interval_ms for _, run in upserts),
            int_array(run.samples for _, run in upserts),
        )


def _unique_by_ts(rows: list[SampleRow]) -> list[SampleRow]:
    """Sorted by ts, the first of equal timestamps kept (the sort is stable)."""
    rows.sort(key=_ts)
    return [row for i, row in enumerate(rows) if i == 0 or row.ts_ms != rows[i - 1].ts_ms]


def _ts(row: SampleRow) -> int:
    return row.ts_ms


async def _last_runs(db: asyncpg.Connection, series: list[int]) -> dict[int, Run]:
    """Each series' last run (of its newest stored sample), read holding its lock."""
    rows = await db.fetch(
        f"SELECT DISTINCT ON (series) series, {RUN_COLUMNS} FROM runs"
        " WHERE series = ANY($1::int[]) ORDER BY series, start_ms DESC",
        series,
    )
    return {row[0]: _run_of(row[1:]) for row in rows}


async def _copy_samples(
    db: asyncpg.Connection, by_series: Mapping[int, list[SampleRow]], last_runs: Mapping[int, Run]
) -> tuple[dict[int, list[SampleRow]], bool]:
    """Each series' samples not stored yet, sorted by ts; whether some of them are late.

    A series' samples all newer than its newest stored one (the last run's last sample, as on
    SQLite) are new without asking: COPYed straight into `samples`. The others are COPYed into
    `incoming_samples` (made by `ingest` for the connection), those not found stored are the
    new ones; they go into `samples` (`_INSERT_SAMPLES`) once their runs are merged.
    """
    result: dict[int, list[SampleRow]] = {}
    fresh: list[tuple[Any, ...]] = []
    late: list[tuple[Any, ...]] = []
    for sid, rows in by_series.items():
        last = last_runs.get(sid)
        if last is None or rows[0].ts_ms > last.last_ts_ms:
            fresh.extend((sid, *row[:STORED_FIELDS]) for row in rows)
            result[sid] = rows
        else:
            late.extend((sid, *row[:STORED_FIELDS]) for row in rows)
    try:
        if fresh:
            await db.copy_records_to_table("samples", records=fresh, columns=SAMPLE_COLUMNS)
        if late:
            await db.copy_records_to_table("incoming_samples", records=late, columns=SAMPLE_COLUMNS)
    except (TypeError, ValueError, OverflowError) as error:  # encoded by asyncpg, in process
        raise asyncpg.DataError(f"a sample cannot be stored: {error}") from error
    if late:
        new = {(r[0], r[1]) for r in await db.fetch(_NOT_STORED)}
        for sid, rows in by_series.items():
            if sid not in result:
                kept = [row for row in rows if (sid, row.ts_ms) in new]
                if kept:
                    result[sid] = kept
    return result, bool(late)


def _run_of(row: Sequence[Any]) -> Run:
    return Run(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


# ------------------------------------------------------------------------------------ rollups


async def _update_rollups(
    db: asyncpg.Connection, new_by_series: Mapping[int, list[SampleRow]]
) -> None:
    by_hour: dict[tuple[int, int], list[SampleRow]] = {}
    for sid, rows in new_by_series.items():
        for row in rows:
            by_hour.setdefault((sid, row.ts_ms - row.ts_ms % HOUR_MS), []).append(row)
    keys = list(by_hour)
    stored = {
        (r[0], r[1]): r[2:]
        for r in await db.fetch(
            "SELECT r.series, r.hour_ms, r.samples, r.ok_samples, r.latency_sum_ms, r.buckets,"
            " r.counts FROM unnest($1::int[], $2::bigint[]) AS k(series, hour_ms)"
            " JOIN rollups r ON r.series = k.series AND r.hour_ms = k.hour_ms",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
    }
    upserts: list[tuple[Any, ...]] = []
    for key, rows in by_hour.items():
        samples, ok_samples, latency_sum, buckets, counts = stored.get(key, (0, 0, 0.0, [], []))
        histogram = dict(zip(buckets, counts, strict=True))
        ok = [row.latency_ms for row in rows if row.ok]
        latencies = [latency for latency in ok if latency is not None]
        for latency in latencies:
            latency_sum += latency
        if latencies:
            histogram = count_buckets(histogram, latencies)
        ordered = sorted(histogram)
        upserts.append((key[0], key[1], samples + len(rows), ok_samples + len(ok), latency_sum,
                        ordered, [histogram[b] for b in ordered]))  # fmt: skip
    if not upserts:
        return
    columns = list(zip(*upserts, strict=True))
    await db.execute(
        _UPSERT_ROLLUPS,
        int_array(columns[0]),
        int_array(columns[1]),
        int_array(columns[2]),
        int_array(columns[3]),
        float_array(columns[4]),
        int_arrays(columns[5]),
        int_arrays(columns[6]),
    )


# ------------------------------------------------------------------------------------- series


async def _update_series_seen(
    db: asyncpg.Connection, new_by_series: Mapping[int, list[SampleRow]]
) -> None:
    columns: list[list[Any]] = [[] for _ in range(5)]
    for sid, rows in new_by_series.items():
        first, last = rows[0], rows[-1]
        for column, value in zip(
            columns, (sid, last.type, last.interval_ms, first.ts_ms, last.ts_ms), strict=True
        ):
            column.append(value)
    await db.execute(
        "UPDATE series s SET"
        " type = CASE WHEN s.last_seen_ms IS NULL OR n.last_ms >= s.last_seen_ms"
        "   THEN COALESCE(n.type, s.type) ELSE s.type END,"
        " interval_ms = CASE WHEN s.last_seen_ms IS NULL OR n.last_ms >= s.last_seen_ms"
        "   THEN n.interval_ms ELSE s.interval_ms END,"
        " first_seen_ms = LEAST(s.first_seen_ms, n.first_ms),"
        " last_seen_ms = GREATEST(s.last_seen_ms, n.last_ms)"
        " FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])"
        "   AS n(id, type, interval_ms, first_ms, last_ms)"
        " WHERE s.id = n.id",
        *columns,
    )
