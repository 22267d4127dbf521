"""The ingest transactions of the SQLite store, each run whole in its ingest thread: samples,
runs, rollups, checks and agents of a group of batches (`write_group`), and the merge of the late
samples set aside (`settle_late`).

- Runs (§4.1, `slawatch.collector.engine.timeline`): in-order samples extend the series' last
  run, kept in memory. A late sample (not newer than its series' newest) is set aside: stored in
  `late_samples` in the group's transaction (so acknowledged like any other), its timestamp
  kept in memory (duplicates are refused against it), and merged later with every other set
  aside, in one transaction (`settle_late`; `SqliteIngest` says when: reads of samples, runs
  and rollups wait for it). Runs and rollups do not depend on the order samples arrive in, so
  merging later gives what merging at once would. Merged in batches, a day of shuffled samples
  costs a third of merging each batch's own: a series' late samples meet the same runs, rollups
  and B-tree pages once per merge, not once per batch.
- Merging: late samples are merged into the runs around them (`merge_late`), all of a series'
  at once: the runs before and after every late sample come from the series' runs held in
  memory (`recent_runs`, read once when the series gets its first late samples), and one
  statement reads the raw neighbours of those that land inside a run, before the late samples
  are moved to `samples`.
- Rollups: per (series, hour), sums and a latency histogram, so a newly stored sample is simply
  added to its hour, in any order; the newest hour of each series is kept in memory, and the
  hours written last (`SeriesCache.recent_rollups`).
- Rows go in statements of many rows (`_insert_rows`).

Everything here reads the caches (`SeriesCache`, which only the event loop changes, never while
a group is written) and writes what the transaction changes into a `Pending`, applied to the
caches once committed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import operator
import sqlite3
from bisect import bisect_left
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

import structlog

from slawatch.collector.engine.latency import count_buckets
from slawatch.collector.engine.timeline import (
    FOREVER_MS,
    Neighbours,
    Run,
    extend_runs,
    merge_late,
    samples_inside,
)
from slawatch.collector.samples import STORED_FIELDS, SampleRow
from slawatch.collector.store import records
from slawatch.collector.store.records import IngestResult
from slawatch.collector.store.settling import SETTLE_CHUNK_SAMPLES, late_sample_row, split_late
from slawatch.collector.store.sqlite.histograms import decode_histogram, encode_histogram
from slawatch.collector.store.sqlite.recent_runs import RecentRuns, SeriesRuns, load_runs

log = structlog.get_logger()

HOUR_MS = 3_600_000


@dataclass(slots=True)
class Rollup:
    hour_ms: int
    samples: int
    ok_samples: int
    latency_sum_ms: float
    histogram: dict[int, int]
    """Bucket → count, new buckets last (`encode_histogram` puts them in order)."""

    def add(self, rows: Sequence[SampleRow]) -> None:
        """Count `rows` in; each ok sample's latency goes to its bucket."""
        ok = [row.latency_ms for row in rows if row.ok]
        self.samples += len(rows)
        self.ok_samples += len(ok)
        latencies = [latency for latency in ok if latency is not None]
        if latencies:
            self.latency_sum_ms = functools.reduce(operator.add, latencies, self.latency_sum_ms)
            self.histogram = count_buckets(self.histogram, latencies, in_order=False)

    def copy(self) -> Rollup:
        return Rollup(self.hour_ms, self.samples, self.ok_samples, self.latency_sum_ms,
                      dict(self.histogram))  # fmt: skip


@dataclass(slots=True)
class Job:
    """A batch waiting to be ingested, and its caller's answer."""

    agent: str
    samples: Sequence[SampleRow]
    labels: Mapping[str, str] | None
    now_ms: int
    done: asyncio.Future[IngestResult]


@dataclass(slots=True)
class SeriesCache:
    """What the store keeps in memory of its series (a check as one agent sees it)."""

    ids: dict[tuple[str, str], int] = field(default_factory=dict)
    """(check, agent) → series id."""
    keys: dict[int, tuple[str, str]] = field(default_factory=dict)
    last_runs: dict[int, Run] = field(default_factory=dict)
    """The run of each series' newest sample."""
    last_rollups: dict[int, Rollup] = field(default_factory=dict)
    """Each series' newest hour."""
    recent_rollups: OrderedDict[tuple[int, int], Rollup] = field(default_factory=OrderedDict)
    """The (series, hour) rollups written last, at most `RECENT_ROLLUPS`, oldest first: late
    samples of an hour written recently are added to it without reading and decoding it."""
    raw_horizon_ms: int = -FOREVER_MS
    """Raw samples before it may be pruned; see `merge_late`."""
    recent_runs: RecentRuns = field(default_factory=RecentRuns)
    """The runs of series that got late samples (`recent_runs`)."""
    late: dict[int, set[int]] = field(default_factory=dict)
    """The timestamps of the late samples set aside (`late_samples`), by series, until
    `settle_late`."""
    late_count: int = 0

    def apply(self, pending: Pending) -> None:
        for key, sid in pending.series_ids.items():
            self.ids[key] = sid
            self.keys[sid] = key
        self.last_runs.update(pending.last_runs)
        self.last_rollups.update(pending.last_rollups)
        recent = self.recent_rollups
        for hour_key, rollup in pending.rollups.items():
            recent[hour_key] = rollup
            recent.move_to_end(hour_key)
        while len(recent) > RECENT_ROLLUPS:  # a dict's first key, deleted often, is O(n) to find
            recent.popitem(last=False)
        if pending.series_runs:
            self.recent_runs.put(pending.series_runs)
        if pending.settled:
            self.late.clear()
            self.late_count = 0
        for sid, timestamps in pending.late.items():
            self.late.setdefault(sid, set()).update(timestamps)
            self.late_count += len(timestamps)

    def forget_rollups_before(self, hour_ms: int) -> None:
        """Drop the recent rollups of hours before `hour_ms` (being pruned)."""
        for key in [key for key in self.recent_rollups if key[1] < hour_ms]:
            del self.recent_rollups[key]


RECENT_ROLLUPS = 10_000
"""Rollups kept in `SeriesCache.recent_rollups`: a day of hours of 400 series, ~20 MB."""


@dataclass(slots=True)
class Pending:
    """What a transaction will change in the caches, applied only once committed."""

    cache: SeriesCache
    series_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    last_runs: dict[int, Run] = field(default_factory=dict)
    last_rollups: dict[int, Rollup] = field(default_factory=dict)
    rollups: dict[tuple[int, int], Rollup] = field(default_factory=dict)
    """Every rollup the transaction writes."""
    series_runs: dict[int, SeriesRuns] = field(default_factory=dict)
    """The runs held in memory of the series the transaction reads or changes, as it leaves
    them (copies: the cache's stay as committed)."""
    late: dict[int, set[int]] = field(default_factory=dict)
    """The timestamps of the late samples the transaction sets aside, by series."""
    settled: bool = False
    """Whether the transaction merged every late sample set aside (`settle_late`)."""

    def last_run(self, sid: int) -> Run | None:
        run = self.last_runs.get(sid)
        return run if run is not None else self.cache.last_runs.get(sid)

    def held_runs(self, sid: int) -> SeriesRuns | None:
        runs = self.series_runs.get(sid)
        return runs if runs is not None else self.cache.recent_runs.get(sid)

    def changing_runs(self, sid: int) -> SeriesRuns | None:
        """The series' runs held in memory, to change (a copy, the first time), if held."""
        runs = self.series_runs.get(sid)
        if runs is None:
            held = self.cache.recent_runs.get(sid)
            if held is None:
                return None
            runs = self.series_runs[sid] = held.copy()
        return runs

    def last_rollup(self, sid: int) -> Rollup | None:
        rollup = self.last_rollups.get(sid)
        return rollup if rollup is not None else self.cache.last_rollups.get(sid)


def write_group(
    db: sqlite3.Connection, group: Sequence[Job], pending: Pending
) -> list[IngestResult]:
    """The batches of `group` in one transaction; what it changes in the caches goes to
    `pending`."""
    db.execute("BEGIN IMMEDIATE")
    try:
        results = []
        for job in group:
            accepted, checks = _write_batch(db, job, pending)
            results.append(IngestResult(accepted, len(job.samples) - accepted, checks))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return results


def settle_late(db: sqlite3.Connection, pending: Pending) -> None:
    """Merge every late sample set aside into runs and rollups and move it to `samples`, in one
    transaction, a few series at a time."""
    cache = pending.cache
    db.execute("BEGIN IMMEDIATE")
    try:
        for series in _chunks(cache.late, SETTLE_CHUNK_SAMPLES):
            late = _late_samples(db, series)
            _update_runs(db, late, pending)
            db.execute(  # moved whole by SQLite: no row is made in Python
                f"INSERT INTO samples ({SAMPLE_COLUMNS}) SELECT {SAMPLE_COLUMNS}"
                f" FROM late_samples WHERE series IN ({marks(series)}) ORDER BY series, ts_ms",
                series,
            )
            _update_rollups(db, late, pending)
        db.execute("DELETE FROM late_samples")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    pending.settled = True


def _chunks(late: Mapping[int, set[int]], samples: int) -> Iterator[list[int]]:
    """The series of `late`, in lists of at most `samples` late samples (or one series)."""
    chunk: list[int] = []
    size = 0
    for sid, timestamps in late.items():
        if chunk and size + len(timestamps) > samples:
            yield chunk
            chunk, size = [], 0
        chunk.append(sid)
        size += len(timestamps)
    if chunk:
        yield chunk


def read_late(db: sqlite3.Connection, cache: SeriesCache) -> None:
    """The late samples set aside when the store was last open, back into `cache.late`."""
    for sid, ts in db.execute("SELECT series, ts_ms FROM late_samples").fetchall():
        cache.late.setdefault(sid, set()).add(ts)
    cache.late_count = sum(len(timestamps) for timestamps in cache.late.values())


SAMPLE_COLUMNS = ", ".join(records.SAMPLE_COLUMNS)
"""The columns of `samples` and `late_samples`."""


def _late_samples(db: sqlite3.Connection, series: Sequence[int]) -> dict[int, list[SampleRow]]:
    """The late samples set aside of `series`, by series, sorted (read in the order of the
    table's index), as a merge needs them (`late_sample_row`)."""
    by_series: dict[int, list[SampleRow]] = defaultdict(list)
    for sid, *row in db.execute(
        "SELECT series, ts_ms, ok, latency_ms, interval_ms, error FROM late_samples"
        f" WHERE series IN ({marks(series)}) ORDER BY series, ts_ms",
        series,
    ):
        by_series[sid].append(late_sample_row(*row))
    return by_series


def marks(values: Sequence[object]) -> str:
    """The `?` of an SQL list of these values."""
    return ", ".join("?" * len(values))


def _write_batch(db: sqlite3.Connection, job: Job, pending: Pending) -> tuple[int, frozenset[str]]:
    labels = job.labels
    db.execute(
        "INSERT INTO agents (id, labels, last_push_ms) VALUES (?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET last_push_ms = excluded.last_push_ms"
        + (", labels = excluded.labels" if labels is not None else ""),
        (job.agent, json.dumps(dict(labels or {}), sort_keys=True), job.now_ms),
    )
    if not job.samples:
        return 0, frozenset()
    by_check: dict[str, list[SampleRow]] = {}
    for row in job.samples:
        rows = by_check.get(row.check)
        if rows is None:
            by_check[row.check] = [row]
        else:
            rows.append(row)
    ids = _series_for(db, job.agent, by_check, pending)
    new_by_series = _new_samples(
        db, {ids[check]: rows for check, rows in by_check.items()}, pending
    )
    newest, late = split_late(new_by_series, pending.last_run)
    _update_runs(db, newest, pending)
    _insert_samples(db, "samples", newest)
    _update_rollups(db, newest, pending)
    _set_aside(db, late, pending)
    _update_checks(db, new_by_series)
    checks = frozenset(rows[0].check for rows in new_by_series.values())
    return sum(len(rows) for rows in new_by_series.values()), checks


def _insert_samples(
    db: sqlite3.Connection, table: str, by_series: Mapping[int, list[SampleRow]]
) -> None:
    """The samples of `by_series` into `table` (`samples` or `late_samples`)."""
    rows = [(sid, *row[:STORED_FIELDS]) for sid, rows in by_series.items() for row in rows]
    _insert_rows(db, f"INSERT INTO {table} VALUES {{rows}}", rows)


def _set_aside(
    db: sqlite3.Connection, late: Mapping[int, list[SampleRow]], pending: Pending
) -> None:
    """Store late samples in `late_samples`, to be merged by `settle_late`."""
    _insert_samples(db, "late_samples", late)
    for sid, rows in late.items():
        pending.late.setdefault(sid, set()).update([row.ts_ms for row in rows])


def _series_for(
    db: sqlite3.Connection, agent: str, checks: Iterable[str], pending: Pending
) -> dict[str, int]:
    ids = {}
    missing = []
    known, new = pending.cache.ids, pending.series_ids
    for check in checks:
        sid = known.get((check, agent)) or new.get((check, agent))
        if sid is None:
            missing.append(check)
        else:
            ids[check] = sid
    if missing:
        db.executemany(
            "INSERT OR IGNORE INTO series (check_id, agent) VALUES (?, ?)",
            [(check, agent) for check in missing],
        )
        for check in missing:
            (row,) = db.execute(
                "SELECT id FROM series WHERE check_id = ? AND agent = ?", (check, agent)
            ).fetchall()
            ids[check] = new[(check, agent)] = int(row[0])
    return ids


def _new_samples(
    db: sqlite3.Connection, by_series: Mapping[int, list[SampleRow]], pending: Pending
) -> dict[int, list[SampleRow]]:
    """Each series' samples not stored yet, sorted by ts, first of equal timestamps kept.

    A sample newer than the series' last stored one is new without asking the database;
    the others are looked up, all series at once, and among the late samples set aside.
    """
    unique_by_series: dict[int, list[SampleRow]] = {}
    maybe_stored: list[tuple[int, int]] = []
    for sid, rows in by_series.items():
        rows.sort(key=_by_ts)
        unique = [row for i, row in enumerate(rows) if i == 0 or row.ts_ms != rows[i - 1].ts_ms]
        last = pending.last_run(sid)
        if last is not None and unique[0].ts_ms <= last.last_ts_ms:
            maybe_stored.extend((sid, r.ts_ms) for r in unique if r.ts_ms <= last.last_ts_ms)
        unique_by_series[sid] = unique
    stored = _stored_keys(db, maybe_stored) if maybe_stored else set()
    for sid, ts in maybe_stored:
        if ts in pending.cache.late.get(sid, ()) or ts in pending.late.get(sid, ()):
            stored.add((sid, ts))
    result: dict[int, list[SampleRow]] = {}
    for sid, rows in unique_by_series.items():
        kept = [row for row in rows if (sid, row.ts_ms) not in stored] if stored else rows
        if kept:
            result[sid] = kept
    return result


# -------------------------------------------------------------------------------------- runs


def _update_runs(
    db: sqlite3.Connection, new_by_series: Mapping[int, list[SampleRow]], pending: Pending
) -> None:
    """Runs of the new samples, read and written before the samples are inserted."""
    upserts: list[tuple[Any, ...]] = []
    late: dict[int, list[SampleRow]] = {}
    for sid, rows in new_by_series.items():
        last = pending.last_run(sid)
        if last is None or rows[0].ts_ms > last.last_ts_ms:
            runs = extend_runs(last, rows)
            pending.last_runs[sid] = runs[-1]
            upserts.extend(_run_row(sid, run) for run in runs)
            if (held := pending.changing_runs(sid)) is not None:
                held.change((), runs)
        else:
            late[sid] = rows
    if late:
        upserts += _merge_late(db, late, pending)
    _insert_rows(db, "INSERT OR REPLACE INTO runs VALUES {rows}", upserts)


def _merge_late(
    db: sqlite3.Connection, late: Mapping[int, list[SampleRow]], pending: Pending
) -> list[tuple[Any, ...]]:
    """Merge the samples of series that got late ones into their runs (`merge_late`): the
    runs that are no more are deleted, the new and changed ones returned as rows."""
    horizon = pending.cache.raw_horizon_ms
    around: dict[int, list[Run]] = {}
    for sid, rows in late.items():
        held = pending.held_runs(sid)
        if held is None or not held.covers(rows[0].ts_ms):
            held = pending.series_runs[sid] = load_runs(db, sid, held, rows[0].ts_ms, run_of)
        around[sid] = held.around(row.ts_ms for row in rows)
    inside = [
        (sid, ts, since)
        for sid, rows in late.items()
        for ts, since in samples_inside(around[sid], rows, horizon)
    ]
    neighbours = _neighbours(db, inside) if inside else {}
    stale: dict[int, list[int]] = {}
    upserts: list[tuple[Any, ...]] = []
    for sid, rows in late.items():
        merged = merge_late(around[sid], rows, neighbours.get(sid, {}), horizon)
        if merged.removed:
            stale[sid] = list(merged.removed)
        upserts.extend(_run_row(sid, run) for run in merged.runs)
        held = pending.changing_runs(sid)
        assert held is not None  # loaded above
        held.change(merged.removed, merged.runs)
        for ts in merged.left_out:
            log.warning("late_sample_in_pruned_run", series=sid, ts_ms=ts)
        newest = max(merged.runs, key=_by_last_ts, default=None)
        last = pending.last_run(sid)
        if newest is not None and (last is None or newest.last_ts_ms >= last.last_ts_ms):
            pending.last_runs[sid] = newest
    if stale:
        _delete_runs(db, stale)
    return upserts


def _delete_runs(db: sqlite3.Connection, stale: Mapping[int, list[int]]) -> None:
    """Delete the runs of each series starting at its `stale` starts: one statement a series
    (a step for each row would take the GIL back each time, see `_insert_rows`)."""
    for sid, starts in stale.items():
        for first in range(0, len(starts), 500):
            chunk = starts[first : first + 500]
            marks = ", ".join("?" * len(chunk))
            statement = f"DELETE FROM runs WHERE series = ? AND start_ms IN ({marks})"
            db.execute(statement, (sid, *chunk))


_by_last_ts = operator.attrgetter("last_ts_ms")


def _neighbours(
    db: sqlite3.Connection, keys: list[tuple[int, int, int]]
) -> dict[int, dict[int, Neighbours]]:
    """The `Neighbours` of the (series, ts, since) `keys`, by series and ts: the stored samples
    just before and after each ts, and how many are stored in [since, ts)."""
    found: dict[int, dict[int, Neighbours]] = defaultdict(dict)
    for start in range(0, len(keys), 300):
        chunk = keys[start : start + 300]
        values = ",".join(["(?, ?, ?)"] * len(chunk))
        rows = db.execute(
            "SELECT k.column1, k.column2,"
            " (SELECT COUNT(*) FROM samples WHERE series = k.column1"
            "   AND ts_ms >= k.column3 AND ts_ms < k.column2),"
            " p.ts_ms, p.ok, p.interval_ms, p.error, n.ts_ms, n.ok, n.interval_ms, n.error"
            f" FROM (VALUES {values}) AS k"
            " JOIN samples p ON p.series = k.column1 AND p.ts_ms = (SELECT ts_ms FROM samples"
            "   WHERE series = k.column1 AND ts_ms < k.column2 ORDER BY ts_ms DESC LIMIT 1)"
            " JOIN samples n ON n.series = k.column1 AND n.ts_ms = (SELECT ts_ms FROM samples"
            "   WHERE series = k.column1 AND ts_ms > k.column2 ORDER BY ts_ms LIMIT 1)",
            list(chain.from_iterable(chunk)),
        ).fetchall()
        for sid, ts, count, *pair in rows:
            previous = _StoredSample(pair[0], bool(pair[1]), pair[2], pair[3])
            following = _StoredSample(pair[4], bool(pair[5]), pair[6], pair[7])
            found[sid][ts] = Neighbours(previous, following, count)
    return found


class _StoredSample(NamedTuple):
    """What the run rule reads of a stored sample (a `StateSample`), made once per late
    sample's neighbour: a named tuple costs a fraction of a frozen dataclass to make."""

    ts_ms: int
    ok: bool
    interval_ms: int
    error: str | None


def run_of(row: Sequence[Any]) -> Run:
    """A `Run` of its columns, from `start_ms` on."""
    return Run(row[0], row[1], bool(row[2]), row[3], row[4], row[5], row[6])


def _run_row(sid: int, run: Run) -> tuple[Any, ...]:
    return (sid, run.start_ms, run.end_ms, run.ok, run.error, run.last_ts_ms,
            run.last_interval_ms, run.samples)  # fmt: skip


# ----------------------------------------------------------------------------------- rollups


def _update_rollups(
    db: sqlite3.Connection, new_by_series: Mapping[int, list[SampleRow]], pending: Pending
) -> None:
    touched: dict[tuple[int, int], Rollup] = {}
    late: dict[tuple[int, int], list[SampleRow]] = defaultdict(list)
    for sid, rows in new_by_series.items():
        cached = pending.last_rollup(sid)
        for hour, group in _by_hour(rows):
            rollup = touched.get((sid, hour))
            if rollup is None:
                if cached is not None and hour < cached.hour_ms:
                    late[(sid, hour)].extend(group)
                    continue
                if cached is not None and hour == cached.hour_ms:
                    rollup = cached.copy()
                else:
                    rollup = Rollup(hour, 0, 0, 0.0, {})
                touched[(sid, hour)] = rollup
            rollup.add(group)
    written, recent = pending.rollups, pending.cache.recent_rollups
    stored = _stored_rollups(db, [key for key in late if key not in written and key not in recent])
    for key, rows in late.items():
        known = written.get(key) or recent.get(key)
        rollup = known.copy() if known else stored.get(key) or Rollup(key[1], 0, 0, 0.0, {})
        rollup.add(rows)
        touched[key] = rollup
    written.update(touched)
    for (sid, hour), rollup in touched.items():
        newest = pending.last_rollup(sid)
        if newest is None or hour >= newest.hour_ms:
            pending.last_rollups[sid] = rollup
    _insert_rows(
        db,
        "INSERT OR REPLACE INTO rollups VALUES {rows}",
        [
            (sid, hour, r.samples, r.ok_samples, r.latency_sum_ms, encode_histogram(r.histogram))
            for (sid, hour), r in touched.items()
        ],
    )


def rollup_of(row: Sequence[Any]) -> Rollup:
    """A `Rollup` of its columns, from `hour_ms` on."""
    return Rollup(row[0], row[1], row[2], row[3], decode_histogram(row[4]))


def _by_hour(rows: list[SampleRow]) -> Iterator[tuple[int, list[SampleRow]]]:
    """(hour, its rows) of rows sorted by ts."""
    start = 0
    while start < len(rows):
        hour = rows[start].ts_ms - rows[start].ts_ms % HOUR_MS
        end = bisect_left(rows, hour + HOUR_MS, lo=start, key=_by_ts)
        yield hour, rows[start:end]
        start = end


# ------------------------------------------------------------------------------------ checks


def _update_checks(db: sqlite3.Connection, new_by_series: Mapping[int, list[SampleRow]]) -> None:
    seen: dict[str, tuple[str | None, int, int, int]] = {}
    for rows in new_by_series.values():
        first, last = rows[0], rows[-1]
        before = seen.get(first.check)
        if before is None:
            seen[first.check] = (last.type, last.interval_ms, first.ts_ms, last.ts_ms)
            continue
        newest = last if last.ts_ms >= before[3] else None
        seen[first.check] = (
            newest.type if newest else before[0],
            newest.interval_ms if newest else before[1],
            min(before[2], first.ts_ms),
            max(before[3], last.ts_ms),
        )
    _insert_rows(
        db,
        "INSERT INTO checks (id, type, interval_ms, first_seen_ms, last_seen_ms)"
        " VALUES {rows} ON CONFLICT (id) DO UPDATE SET"
        " type = CASE WHEN excluded.last_seen_ms >= last_seen_ms"
        "   THEN COALESCE(excluded.type, type) ELSE type END,"
        " interval_ms = CASE WHEN excluded.last_seen_ms >= last_seen_ms"
        "   THEN excluded.interval_ms ELSE interval_ms END,"
        " first_seen_ms = MIN(first_seen_ms, excluded.first_seen_ms),"
        " last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)",
        [(check, *values) for check, values in seen.items()],
    )


# ----------------------------------------------------------------------------------- helpers

_by_ts = itemgetter(0)


def _insert_rows(db: sqlite3.Connection, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """`statement` (an INSERT with `{rows}` for its VALUES) for every row, in few statements of
    many rows each.

    `executemany` runs one SQLite step per row, and the sqlite3 module lets go of the GIL around
    each step: while the event loop runs meanwhile, taking it back costs up to the
    interpreter's switch interval, every row. A step of hundreds of rows pays that once.
    Statements hold a power of two of rows, so few distinct ones are prepared (and cached).
    """
    done = 0
    for size in _ROWS_PER_STATEMENT:
        while len(rows) - done >= size:
            chunk = rows[done : done + size]
            sql = _rows_statement(statement, size, len(chunk[0]))
            db.execute(sql, list(chain.from_iterable(chunk)))
            done += size


_ROWS_PER_STATEMENT = tuple(2**power for power in range(9, -1, -1))
"""512 rows of 13 values stay far below SQLite's 32,766 parameters of a statement."""


@functools.lru_cache(maxsize=128)
def _rows_statement(statement: str, rows: int, width: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return statement.format(rows=", ".join([row] * rows))


def _stored_keys(db: sqlite3.Connection, keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The (series, ts_ms) of these that are stored samples."""
    rows = _rows_at(db, "samples", "ts_ms", ("series", "ts_ms"), keys)
    return {(row[0], row[1]) for row in rows}


def _stored_rollups(
    db: sqlite3.Connection, keys: list[tuple[int, int]]
) -> dict[tuple[int, int], Rollup]:
    """The stored rollups of these (series, hour) keys (those that exist)."""
    columns = ("series", "hour_ms", "samples", "ok_samples", "latency_sum_ms", "histogram")
    rows = _rows_at(db, "rollups", "hour_ms", columns, keys)
    return {(row[0], row[1]): rollup_of(row[1:]) for row in rows}


def _rows_at(
    db: sqlite3.Connection,
    table: str,
    second_key: str,
    columns: Sequence[str],
    keys: list[tuple[int, int]],
) -> list[Any]:
    """The `columns` of `table` (keyed by series and `second_key`) at `keys`, 400 keys a
    statement, each looked up by its primary key (a join; `IN (VALUES …)` would scan)."""
    selected = ", ".join(f"t.{column}" for column in columns)
    found = []
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        values = ",".join(["(?, ?)"] * len(chunk))
        found += db.execute(
            f"SELECT {selected} FROM (VALUES {values}) AS k"
            f" JOIN {table} t ON t.series = k.column1 AND t.{second_key} = k.column2",
            list(chain.from_iterable(chunk)),
        ).fetchall()
    return found
