"""Late samples merged into the runs around them on PostgreSQL, as on SQLite: the pure rule of
`slawatch.collector.engine.timeline.merge_late`, fed for many series at once by two statements
(the runs around the late samples; the raw neighbours of those that land inside a run), read
before the late samples are moved to `samples`, holding the series' locks.

The runs around a series' late samples are read as the span of runs they fall in (with the run
before and the one after it), which costs one range of the index however many late samples a
series has; a span of many more runs than the series has late samples (a few late samples far
apart) is read as the runs around each instead. A merge of samples shuffled over a day so costs
a few statements, not a re-read of the day's runs and raw samples for every series it touches.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import asyncpg
import structlog

from slawatch.collector.engine.timeline import (
    Neighbours,
    Run,
    merge_late,
    runs_around,
    samples_inside,
)
from slawatch.collector.samples import SampleRow
from slawatch.collector.store.postgres.literals import int_array

log = structlog.get_logger()

_SPANS = """
SELECT k.series, r.start_ms, r.end_ms, r.ok, r.error, r.last_ts_ms, r.last_interval_ms, r.samples
FROM unnest($1::text::int[], $2::text::bigint[], $3::text::bigint[], $4::text::int[])
    AS k(series, low, high, most)
CROSS JOIN LATERAL (
    (SELECT * FROM runs WHERE series = k.series AND start_ms < k.low
     ORDER BY start_ms DESC LIMIT 1)
    UNION ALL
    (SELECT * FROM runs WHERE series = k.series AND start_ms >= k.low AND start_ms <= k.high
     ORDER BY start_ms LIMIT k.most)
    UNION ALL
    (SELECT * FROM runs WHERE series = k.series AND start_ms > k.high
     ORDER BY start_ms LIMIT 1)
) AS r
"""
"""Each series' runs from the last starting before `low` to the first starting after `high`,
at most `most` of those starting in between."""
_AROUND = """
SELECT k.series, r.start_ms, r.end_ms, r.ok, r.error, r.last_ts_ms, r.last_interval_ms, r.samples
FROM unnest($1::text::int[], $2::text::bigint[]) AS k(series, ts_ms)
CROSS JOIN LATERAL (
    (SELECT * FROM runs WHERE series = k.series AND start_ms < k.ts_ms
     ORDER BY start_ms DESC LIMIT 1)
    UNION ALL
    (SELECT * FROM runs WHERE series = k.series AND start_ms > k.ts_ms
     ORDER BY start_ms LIMIT 1)
) AS r
"""
_NEIGHBOURS = """
SELECT k.series, k.ts_ms,
    (SELECT COUNT(*) FROM samples
     WHERE series = k.series AND ts_ms >= k.since AND ts_ms < k.ts_ms),
    p.ts_ms, p.ok, p.interval_ms, p.error, n.ts_ms, n.ok, n.interval_ms, n.error
FROM unnest($1::text::int[], $2::text::bigint[], $3::text::bigint[], $4::text::bigint[],
            $5::text::bigint[])
    AS k(series, ts_ms, since, low, high)
CROSS JOIN LATERAL (SELECT ts_ms, ok, interval_ms, error FROM samples WHERE series = k.series
    AND ts_ms >= k.low AND ts_ms < k.ts_ms ORDER BY ts_ms DESC LIMIT 1) AS p
CROSS JOIN LATERAL (SELECT ts_ms, ok, interval_ms, error FROM samples WHERE series = k.series
    AND ts_ms > k.ts_ms AND ts_ms <= k.high ORDER BY ts_ms LIMIT 1) AS n
"""
_DELETE_RUNS = """
DELETE FROM runs r USING unnest($1::text::int[], $2::text::bigint[]) AS k(series, start_ms)
WHERE r.series = k.series AND r.start_ms = k.start_ms
"""


class _StoredSample(NamedTuple):
    ts_ms: int
    ok: bool
    interval_ms: int
    error: str | None


async def merge_late_runs(
    db: asyncpg.Connection, late: Mapping[int, list[SampleRow]], raw_horizon_ms: int
) -> list[tuple[int, Run]]:
    """Merge the late samples of each series (sorted, new, not stored yet) into its stored
    runs: the runs that are no more are deleted; the new and changed ones returned, to upsert."""
    around = await _runs_around(db, late)
    inside: list[tuple[int, int, int, int, int]] = []
    for sid, rows in late.items():
        runs = around.get(sid, [])
        starts = [run.start_ms for run in runs]
        for ts, since in samples_inside(runs, rows, raw_horizon_ms):
            run = runs[bisect_left(starts, ts) - 1]
            inside.append((sid, ts, since, run.start_ms, run.last_ts_ms))
    neighbours = await _neighbours(db, inside) if inside else {}
    stale: list[tuple[int, int]] = []
    upserts: list[tuple[int, Run]] = []
    for sid, rows in late.items():
        merged = merge_late(around.get(sid, []), rows, neighbours.get(sid, {}), raw_horizon_ms)
        stale.extend((sid, start) for start in merged.removed)
        upserts.extend((sid, run) for run in merged.runs)
        for ts in merged.left_out:
            log.warning("late_sample_in_pruned_run", series=sid, ts_ms=ts)
    if stale:
        await db.execute(
            _DELETE_RUNS, int_array(key[0] for key in stale), int_array(key[1] for key in stale)
        )
    return upserts


async def _runs_around(
    db: asyncpg.Connection, late: Mapping[int, list[SampleRow]]
) -> dict[int, list[Run]]:
    """Each series' stored runs around its late samples (sorted): the last run starting before
    each and the first starting after it, sorted, each once."""
    spans = [(sid, rows[0].ts_ms, rows[-1].ts_ms, 2 * len(rows) + 1) for sid, rows in late.items()]
    found = await _read_runs(db, _SPANS, spans)
    around: dict[int, list[Run]] = {}
    wide: list[tuple[int, int]] = []
    for sid, low, high, most in spans:
        runs = found.get(sid, [])
        starts = [run.start_ms for run in runs]
        if bisect_right(starts, high) - bisect_left(starts, low) >= most:
            wide.extend((sid, row.ts_ms) for row in late[sid])
        else:
            around[sid] = runs_around(starts, runs, (row.ts_ms for row in late[sid]))
    if wide:
        around.update(await _read_runs(db, _AROUND, wide))
    return around


async def _read_runs(
    db: asyncpg.Connection, statement: str, keys: Sequence[tuple[int, ...]]
) -> dict[int, list[Run]]:
    """The runs `statement` reads for `keys` (columns of int arrays), by series, sorted, each
    once."""
    found: dict[int, dict[int, Run]] = {}
    if not keys:
        return {}
    columns = [int_array(key[i] for key in keys) for i in range(len(keys[0]))]
    for row in await db.fetch(statement, *columns):
        found.setdefault(row[0], {})[row[1]] = Run(*row[1:])
    return {sid: [runs[start] for start in sorted(runs)] for sid, runs in found.items()}


async def _neighbours(
    db: asyncpg.Connection, keys: Sequence[tuple[int, int, int, int, int]]
) -> dict[int, dict[int, Neighbours]]:
    """The `Neighbours` of the late samples (series, ts, since, run start, run's last sample)
    that land inside a run, by series and ts."""
    columns = [int_array(key[i] for key in keys) for i in range(5)]
    found: dict[int, dict[int, Neighbours]] = {}
    for sid, ts, count, *pair in await db.fetch(_NEIGHBOURS, *columns):
        previous = _StoredSample(pair[0], pair[1], pair[2], pair[3])
        following = _StoredSample(pair[4], pair[5], pair[6], pair[7])
        found.setdefault(sid, {})[ts] = Neighbours(previous, following, int(count))
    return found
