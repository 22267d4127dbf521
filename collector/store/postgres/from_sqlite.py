"""`slawatch migrate-store`: an SQLite store copied into an empty PostgreSQL store, resumably.

Each step copies one table family in chunks; a chunk's rows and the step's progress
(`import_progress`: the last (series, key) copied, or the step finished) commit in one
transaction, so a copy interrupted anywhere (killed, the network gone) runs again from the last
committed chunk: nothing is copied twice and nothing is skipped. Series keep their ids, so
samples, runs and rollups keep pointing at the same series; the sequences are moved past the
copied ids at the end. Raw samples go by COPY.

The SQLite file is read in read-only mode; stop the collector first (what it writes after a
step has copied its table would not be copied).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from slawatch.collector.store.postgres.maintenance import AUDIT_COLUMNS
from slawatch.collector.store.postgres.partitions import Partitions
from slawatch.collector.store.records import SAMPLE_COLUMNS
from slawatch.collector.store.sqlite.histograms import decode_histogram

CHUNK_ROWS = 20_000
RUN_COLUMNS = ("series", "start_ms", "end_ms", "ok", "error", "last_ts_ms", "last_interval_ms",
               "samples")  # fmt: skip
ROLLUP_COLUMNS = ("series", "hour_ms", "samples", "ok_samples", "latency_sum_ms", "buckets",
                  "counts")  # fmt: skip
OUTBOX_COLUMNS = ("seq", "id", "channel", "kind", "subject", "run_ms", "event", "body", "headers",
                  "status", "grouped", "created_ms", "due_ms", "released_ms", "attempts",
                  "last_status", "last_error", "finished_ms", "merged_into")  # fmt: skip


class NotEmptyError(Exception):
    """The target database holds data that no earlier run of migrate-store copied."""


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    """Also the SQLite table it reads."""
    key: str
    """The column after `series` that orders the table's rows."""
    columns: tuple[str, ...]
    """The PostgreSQL table's."""
    convert: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    source_columns: tuple[str, ...] = ()
    """SQLite's, when they differ."""


def _sample(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:2], bool(row[2]), *row[3:])


def _run(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:3], bool(row[3]), *row[4:])


def _rollup(row: tuple[Any, ...]) -> tuple[Any, ...]:
    histogram = decode_histogram(row[5])
    buckets = sorted(histogram)
    return (*row[:5], buckets, [histogram[b] for b in buckets])


STEPS = (
    Step("samples", "ts_ms", SAMPLE_COLUMNS, _sample),
    Step("runs", "start_ms", RUN_COLUMNS, _run),
    Step("rollups", "hour_ms", ROLLUP_COLUMNS, _rollup, (*ROLLUP_COLUMNS[:5], "histogram")),
)


@dataclass
class Progress:
    copied: dict[str, int]

    def add(self, step: str, rows: int) -> None:
        self.copied[step] = self.copied.get(step, 0) + rows


async def copy_sqlite_store(
    source: Path,
    db: asyncpg.Connection,
    *,
    chunk_rows: int = CHUNK_ROWS,
    report: Callable[[str, int], None] = lambda step, rows: None,
) -> dict[str, int]:
    """Copy `source` (an SQLite store) into the migrated database of `db`; the rows copied by
    this run, per step (what an earlier, interrupted run copied is not copied again)."""
    reader = await asyncio.to_thread(_open_source, source)
    try:
        await _check_target(db)
        progress = Progress({})
        await _copy_series(reader, db, progress)
        for step in STEPS:
            await _copy_step(
                reader, db, step, chunk_rows=chunk_rows, progress=progress, report=report
            )
        await _copy_small_tables(reader, db, progress)
        if progress.copied:
            await db.execute("ANALYZE")  # the planner's statistics of what was just loaded
        return progress.copied
    finally:
        await asyncio.to_thread(reader.close)


def _open_source(source: Path) -> sqlite3.Connection:
    if not source.is_file():
        raise FileNotFoundError(f"no database at {source}")
    db = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
    try:
        db.execute("SELECT 1 FROM samples LIMIT 1").fetchall()
        db.execute("SELECT 1 FROM alert_outbox LIMIT 1").fetchall()
    except sqlite3.Error:
        db.close()
        raise sqlite3.DatabaseError(f"{source} is not a slawatch SQLite store") from None
    try:
        (late,) = db.execute("SELECT COUNT(*) FROM late_samples").fetchone()
    except sqlite3.OperationalError:
        late = 0  # a schema from before late samples were set aside
    if late:
        db.close()
        raise sqlite3.DatabaseError(
            f"{source} holds {late} late samples not merged into runs and rollups yet (its"
            " collector was stopped by a crash): start the collector on it once, stop it, then"
            " migrate"
        )
    return db


async def _check_target(db: asyncpg.Connection) -> None:
    started = await db.fetchval("SELECT COUNT(*) FROM import_progress")
    if started:
        return
    for table in ("series", "agents", "maintenance", "alert_outbox", "secrets"):
        if await db.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            raise NotEmptyError(
                f"the target database is not empty (its {table} table has rows) and no earlier"
                " migrate-store started there: migrate into an empty database"
            )


async def _finished(db: asyncpg.Connection, step: str) -> tuple[int, int] | None:
    """None when `step` is finished, else the (series, key) after which to go on."""
    row = await db.fetchrow(
        "SELECT series, position, finished FROM import_progress WHERE step = $1", step
    )
    if row is None:
        return (-1, -(2**62))
    return None if row["finished"] else (row["series"], row["position"])


async def _mark(db: asyncpg.Connection, step: str, series: int, position: int, done: bool) -> None:
    await db.execute(
        "INSERT INTO import_progress (step, series, position, finished) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (step) DO UPDATE SET series = excluded.series,"
        " position = excluded.position, finished = excluded.finished",
        step,
        series,
        position,
        done,
    )


async def _copy_series(
    reader: sqlite3.Connection, db: asyncpg.Connection, progress: Progress
) -> None:
    """Series with their ids, and what SQLite's `checks` table knew of each check."""
    if await _finished(db, "series") is None:
        return
    rows = await asyncio.to_thread(
        _all,
        reader,
        "SELECT s.id, s.check_id, s.agent, c.type, c.interval_ms,"
        " (SELECT MIN(start_ms) FROM runs WHERE series = s.id),"
        " (SELECT MAX(last_ts_ms) FROM runs WHERE series = s.id)"
        " FROM series s LEFT JOIN checks c ON c.id = s.check_id ORDER BY s.id",
    )
    async with db.transaction():
        await db.executemany(
            "INSERT INTO series (id, check_id, agent, type, interval_ms, first_seen_ms,"
            " last_seen_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            rows,
        )
        await db.execute(
            "SELECT setval(pg_get_serial_sequence('series', 'id'),"
            " GREATEST((SELECT MAX(id) FROM series), 1))"
        )
        await _mark(db, "series", 0, 0, True)
    progress.add("series", len(rows))


async def _copy_step(
    reader: sqlite3.Connection,
    db: asyncpg.Connection,
    step: Step,
    *,
    chunk_rows: int,
    progress: Progress,
    report: Callable[[str, int], None],
) -> None:
    after = await _finished(db, step.name)
    if after is None:
        return
    partitions = Partitions()
    await partitions.load(db)
    series, key = after
    while True:
        rows = await asyncio.to_thread(
            _all,
            reader,
            f"SELECT {', '.join(step.source_columns or step.columns)} FROM {step.name}"
            f" WHERE (series, {step.key}) > (?, ?) ORDER BY series, {step.key} LIMIT ?",
            (series, key, chunk_rows),
        )
        if not rows:
            break
        records = [step.convert(row) for row in rows]
        if step.name == "samples":
            await partitions.ensure(db, (row[1] for row in records))
        series, key = rows[-1][0], rows[-1][1]
        async with db.transaction():
            await db.copy_records_to_table(step.name, records=records, columns=step.columns)
            await _mark(db, step.name, series, key, False)
        progress.add(step.name, len(rows))
        report(step.name, len(rows))
    await _mark(db, step.name, series, key, True)


async def _copy_small_tables(
    reader: sqlite3.Connection, db: asyncpg.Connection, progress: Progress
) -> None:
    """Agents, the raw horizon, maintenance and its audit log, the alert outbox and state, keys:
    one transaction."""
    if await _finished(db, "rest") is None:
        return
    tables: list[tuple[str, Sequence[str], str, Callable[[tuple[Any, ...]], tuple[Any, ...]]]] = [
        ("agents", ("id", "labels", "last_push_ms"), "id", tuple),
        ("maintenance", ("id", "start_ms", "end_ms", "reason", "created_ms", "kind", "category"),
         "id", tuple),
        ("maintenance_slas", ("sla", "maintenance"), "maintenance", tuple),
        ("maintenance_audit", ("id", *AUDIT_COLUMNS), "id",
         lambda r: (*r[:6], r[6].split(" "), *r[7:])),
        ("alert_outbox", OUTBOX_COLUMNS, "seq",
         lambda r: (*r[:7], bytes(r[7]), *r[8:10], bool(r[10]), *r[11:])),
        ("alert_open", ("rule", "subject", "topic", "state"), "rule", tuple),
        ("alert_marks", ("key", "at_ms"), "key", tuple),
        ("secrets", ("name", "value"), "name", lambda r: (r[0], bytes(r[1]))),
    ]  # fmt: skip
    async with db.transaction():
        for table, columns, order, convert in tables:
            rows = await asyncio.to_thread(
                _all, reader, f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
            )
            if table == "maintenance_slas":  # SQLite may keep the SLAs of a deleted window
                windows = {r[0] for r in await db.fetch("SELECT id FROM maintenance")}
                rows = [r for r in rows if r[1] in windows]
            await db.copy_records_to_table(
                table, records=[convert(r) for r in rows], columns=list(columns)
            )
            progress.add(table, len(rows))
        horizon = await asyncio.to_thread(
            _all, reader, "SELECT value FROM meta WHERE key = 'raw_horizon_ms'"
        )
        if horizon:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES ('raw_horizon_ms', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                int(horizon[0][0]),
            )
        for table, column in (
            ("maintenance", "id"),
            ("maintenance_audit", "id"),
            ("alert_outbox", "seq"),
        ):
            await db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" GREATEST((SELECT MAX({column}) FROM {table}), 1))"
            )
        await _mark(db, "rest", 0, 0, True)


def _all(reader: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return reader.execute(sql, args).fetchall()


__all__ = ["CHUNK_ROWS", "NotEmptyError", "copy_sqlite_store"]
