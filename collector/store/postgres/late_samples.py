"""Late samples on PostgreSQL: set aside at ingest, merged into runs and rollups in batches.

A sample not newer than its series' newest stored one is late. Merging it into the runs around
it and its hour's rollup costs the same few statements whether one late sample of a series
comes or a thousand: a batch of samples shuffled over a day, merged on its own, paid them for
almost every sample. So an ingest transaction stores late samples in `late_samples` (those not
found there nor in `samples`: the first copy wins), acknowledged like any other, and
`merge_late_samples` later merges a few series' all at once, in a transaction holding their
locks: runs (`late_runs`), rollups, and the rows moved to `samples`. Runs and rollups do not
depend on the order samples arrive in, so merging later gives what merging at once does. Reads
wait for the merge (`PostgresIngest.settled`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from slawatch.collector.samples import SampleRow
from slawatch.collector.store.postgres.late_runs import merge_late_runs
from slawatch.collector.store.postgres.literals import int_array
from slawatch.collector.store.postgres.partitions import DAY_MS
from slawatch.collector.store.postgres.writes import copy_samples, update_rollups, upsert_runs
from slawatch.collector.store.settling import late_sample_row

_FOUND = """
SELECT k.series, k.ts_ms FROM unnest($1::text::int[], $2::text::bigint[]) AS k(series, ts_ms)
CROSS JOIN LATERAL (SELECT 1 FROM {table} WHERE series = k.series AND ts_ms = k.ts_ms) AS f
"""
"""Which of the (series, ts) keys `{table}` holds, each looked up by primary key (a LATERAL is
not turned into a join: `NOT EXISTS` was, and the planner, knowing nothing of `unnest`'s rows,
chose to scan the samples)."""
_MOVE = "INSERT INTO samples SELECT * FROM late_samples WHERE series = ANY($1::int[])"
"""A merged chunk's rows, copied whole by the server (no row is made in Python), then deleted:
a quarter faster than `DELETE … RETURNING` feeding the `INSERT`, and than inserting them sorted
(measured on a chunk of 78,000 rows: 300-360 ms against 420-530 and 430-470)."""


async def set_aside(
    db: asyncpg.Connection, late: Mapping[int, list[SampleRow]]
) -> dict[int, list[SampleRow]]:
    """Store the late samples of `late` (by series, sorted, each timestamp once) that are not
    stored or set aside yet in `late_samples`, in the batch's transaction, holding the series'
    locks (no other writer of them meanwhile); those set aside, by series, sorted.

    They are looked up in `samples` only: one set aside already is found by `late_samples`'
    primary key, which fails the COPY (a savepoint's), and only then are they looked up there
    too. A batch is rarely sent again before its late samples are merged, and the lookup was a
    quarter of the server's work of a late sample."""
    kept = await _not_in(db, "samples", late)
    if kept:
        try:
            async with db.transaction():  # a savepoint
                await copy_samples(db, "late_samples", kept)
        except asyncpg.UniqueViolationError:  # some were set aside already: sent again
            kept = await _not_in(db, "late_samples", kept)
            if kept:
                await copy_samples(db, "late_samples", kept)
    return kept


async def _not_in(
    db: asyncpg.Connection, table: str, by_series: Mapping[int, list[SampleRow]]
) -> dict[int, list[SampleRow]]:
    """The samples of `by_series` whose key `table` does not hold, by series."""
    found = {
        (sid, ts)
        for sid, ts in await db.fetch(
            _FOUND.format(table=table),
            int_array(sid for sid, rows in by_series.items() for _ in rows),
            int_array(row.ts_ms for rows in by_series.values() for row in rows),
        )
    }
    if not found:
        return dict(by_series)
    result: dict[int, list[SampleRow]] = {}
    for sid, rows in by_series.items():
        new = [row for row in rows if (sid, row.ts_ms) not in found]
        if new:
            result[sid] = new
    return result


async def any_set_aside(db: asyncpg.Connection | asyncpg.Pool) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM late_samples)"))


async def days_set_aside(db: asyncpg.Connection, series: Sequence[int]) -> list[int]:
    """The first instant of each day the late samples set aside of `series` fall in."""
    return [row[0] for row in await db.fetch(
        "SELECT DISTINCT ts_ms - ts_ms % $2 FROM late_samples WHERE series = ANY($1::int[])",
        list(series), DAY_MS,
    )]  # fmt: skip


async def series_chunks(db: asyncpg.Connection, samples: int) -> list[list[int]]:
    """The series that have late samples set aside, in lists (sorted: the order their locks are
    taken in) of at most `samples` late samples, or one series."""
    chunks: list[list[int]] = []
    size = samples
    for sid, count in await db.fetch(
        "SELECT series, COUNT(*) FROM late_samples GROUP BY series ORDER BY series"
    ):
        if size + count > samples:
            chunks.append([])
            size = 0
        chunks[-1].append(sid)
        size += count
    return chunks


async def merge_late_samples(
    db: asyncpg.Connection, series: Sequence[int], raw_horizon_ms: int
) -> dict[int, list[SampleRow]]:
    """Merge every late sample set aside of `series` (sorted) into runs and rollups and move
    them to `samples`, in `db`'s transaction, which holds the series' locks; what was merged."""
    late = await _read(db, series)
    if late:
        await upsert_runs(db, await merge_late_runs(db, late, raw_horizon_ms))
        await db.execute(_MOVE, list(series))
        await db.execute("DELETE FROM late_samples WHERE series = ANY($1::int[])", list(series))
        await update_rollups(db, late)
    return late


async def _read(db: asyncpg.Connection, series: Sequence[int]) -> dict[int, list[SampleRow]]:
    """The late samples set aside of `series`, by series, sorted, as a merge needs them
    (`late_sample_row`)."""
    by_series: dict[int, list[SampleRow]] = {}
    for sid, *row in await db.fetch(
        "SELECT series, ts_ms, ok, latency_ms, interval_ms, error FROM late_samples"
        " WHERE series = ANY($1::int[]) ORDER BY series, ts_ms",
        list(series),
    ):
        by_series.setdefault(sid, []).append(late_sample_row(*row))
    return by_series
