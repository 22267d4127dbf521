"""What ingest and the merge of late samples write on PostgreSQL: samples (COPY), runs (upserted
whole), hourly rollups (the new samples added in) and the series' first and last seen, each for
a whole batch in one statement, holding the series' locks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from slawatch.collector.engine.latency import count_buckets
from slawatch.collector.engine.timeline import Run
from slawatch.collector.samples import STORED_FIELDS, SampleRow
from slawatch.collector.store.postgres.literals import (
    bool_array,
    float_array,
    int_array,
    int_arrays,
    text_array,
)
from slawatch.collector.store.records import SAMPLE_COLUMNS

HOUR_MS = 3_600_000
RUN_COLUMNS = "start_ms, end_ms, ok, error, last_ts_ms, last_interval_ms, samples"
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


async def copy_samples(
    db: asyncpg.Connection, table: str, by_series: Mapping[int, list[SampleRow]]
) -> None:
    """The samples of `by_series` into `table` (`samples` or `late_samples`), by COPY: its
    binary rows cost the client a fraction of what encoding 13 arrays for `unnest` does
    (measured in process: most of the time of a 1,000-sample batch went to asyncpg's array
    encoding)."""
    records = [(sid, *row[:STORED_FIELDS]) for sid, rows in by_series.items() for row in rows]
    try:
        await db.copy_records_to_table(table, records=records, columns=SAMPLE_COLUMNS)
    except (TypeError, ValueError, OverflowError) as error:  # encoded by asyncpg, in process
        raise asyncpg.DataError(f"a sample cannot be stored: {error}") from error


def run_of(row: Sequence[Any]) -> Run:
    return Run(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


async def last_runs(db: asyncpg.Connection, series: list[int]) -> dict[int, Run]:
    """Each series' last run (of its newest stored sample), read holding its lock: one step of
    the runs index a series (`DISTINCT ON` read every run of the series, 10 ms a batch of 50
    series with 40 runs each)."""
    rows = await db.fetch(
        f"SELECT k.series, r.* FROM unnest($1::int[]) AS k(series) CROSS JOIN LATERAL"
        f" (SELECT {RUN_COLUMNS} FROM runs WHERE series = k.series"
        " ORDER BY start_ms DESC LIMIT 1) AS r",
        series,
    )
    return {row[0]: run_of(row[1:]) for row in rows}


async def upsert_runs(db: asyncpg.Connection, upserts: Sequence[tuple[int, Run]]) -> None:
    """The (series, run) of `upserts`, new or changed."""
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


async def update_rollups(db: asyncpg.Connection, by_series: Mapping[int, list[SampleRow]]) -> None:
    """The samples of `by_series`, newly stored, added into their series' hourly rollups."""
    by_hour: dict[tuple[int, int], list[SampleRow]] = {}
    for sid, rows in by_series.items():
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


async def update_series_seen(
    db: asyncpg.Connection, by_series: Mapping[int, list[SampleRow]]
) -> None:
    """The series' type, interval (of their newest sample) and first and last seen, for the
    samples of `by_series` (sorted), newly stored or set aside."""
    columns: list[list[Any]] = [[] for _ in range(5)]
    for sid, rows in by_series.items():
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
