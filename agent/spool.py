"""The agent's on-disk spool: samples wait here (SQLite via aiosqlite) until the collector has them.

Two tables: `queue` (samples to send, as the JSON text that goes on the wire, plus their `ts`) and
`dead_letters` (samples the collector refused, kept for `--replay-dead`). Both drop samples older
than `spool_max_age` (the collector would refuse them anyway); the queue also keeps at most
`spool_max_samples`, dropping the oldest. This module is the only SQL of the agent.

Durability: WAL with `synchronous=NORMAL`. A committed transaction is in the WAL file (in the OS
page cache) before `add` returns, so a kill -9 of the process loses nothing committed: the OS
still writes the file. Only a power loss or kernel crash may roll back the last commits (never
corrupt the file); FULL would fsync every commit for that case, which an agent whose own host just
lost power has little use for, and which costs a disk flush per commit.

Writes are grouped: `add` puts a sample in a pending list and returns once the transaction that
holds it is committed; one writer commits everything pending every `tick` (50 ms), so 200
probes/s make about 20 commits/s, not 200. A sample whose `add` has not returned is a probe still
in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiosqlite
import orjson
import structlog

from slawatch.agent.metrics import AgentMetrics
from slawatch.agent.sample import Sample
from slawatch.config import contract

log = structlog.get_logger()
R = TypeVar("R")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        body TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS queue_by_ts ON queue (ts)",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        body TEXT NOT NULL,
        reason TEXT NOT NULL,
        dead_at REAL NOT NULL)""",
)
DEFAULT_TICK_S = 0.05


class SpoolError(Exception):
    """The spool file cannot be opened or written; the message names the file and why."""


@dataclass(frozen=True, slots=True)
class SpooledSample:
    id: int
    ts: float
    body: str
    """The sample as JSON text, exactly as it goes on the wire."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    ts: float
    body: str
    reason: str


@dataclass(slots=True)
class _Pending:
    ts: float
    body: str
    committed: asyncio.Future[None]


class Spool:
    def __init__(
        self,
        path: Path,
        *,
        max_samples: int = contract.DEFAULT_SPOOL_MAX_SAMPLES,
        max_age: float = contract.DEFAULT_SPOOL_MAX_AGE_S,
        metrics: AgentMetrics | None = None,
        tick: float = DEFAULT_TICK_S,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_samples = max_samples
        self.max_age = max_age
        self.metrics = metrics
        self.tick = tick
        self.wall_clock = wall_clock
        self.new_samples = asyncio.Event()
        """Set after a commit that added samples; the shipper clears it before it reads."""
        self.write_transactions = 0
        """Commits of grouped `add`s since open (the grouping is what keeps this low)."""
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._queued = 0
        self._dead = 0

    @property
    def queued(self) -> int:
        """Samples waiting in the queue (committed)."""
        return self._queued

    @property
    def dead(self) -> int:
        return self._dead

    # ------------------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # aiosqlite leaves its worker thread behind when connect fails: try it bare first.
            await asyncio.to_thread(_try_connect, self.path)
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA busy_timeout=5000")
            # The queue's hot pages are few (new rows at one end, acknowledged ones leaving at
            # the other): 512 KiB of page cache rather than SQLite's 2 MiB keeps the agent small.
            await self._db.execute("PRAGMA cache_size=-512")
            for statement in SCHEMA:
                await self._db.execute(statement)
            self._queued = await self._count("queue")
            self._dead = await self._count("dead_letters")
            async with self._lock:
                await self._transaction(self._enforce_bounds)
        except (OSError, sqlite3.Error) as error:
            await self._close_connection()
            raise SpoolError(f"cannot open the spool {self.path}: {error}") from None
        self._update_gauges()
        if self._queued:
            self.new_samples.set()

    async def close(self) -> None:
        """Commit every pending sample, then close the file."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        await self._close_connection()

    async def _close_connection(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    # ---------------------------------------------------------------------------------- writes

    async def add(self, sample: Sample) -> None:
        """Return once `sample` is committed to disk (with the other samples of its tick).

        Raises SpoolError if the commit failed (disk full, file removed); the sample is lost.
        """
        body = orjson.dumps(sample.to_json()).decode()  # compact JSON, 5× faster than json
        committed = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(sample.ts, body, committed))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="spool-writer")
        await committed

    async def _write_pending(self) -> None:
        while self._pending:
            await asyncio.sleep(self.tick)
            group, self._pending = self._pending, []
            try:
                async with self._lock:
                    await self._transaction(self._insert, group)
            except (sqlite3.Error, SpoolError) as error:
                log.error(
                    "spool_write_failed",
                    spool=str(self.path),
                    error=str(error),
                    samples_lost=len(group),
                )
                if self.metrics:
                    self.metrics.spool_dropped.labels(reason="write_failed").inc(len(group))
                failure = SpoolError(f"cannot write to the spool {self.path}: {error}")
                for item in group:
                    if not item.committed.done():
                        item.committed.set_exception(failure)
                        item.committed.exception()  # retrieved: the caller may be gone
                continue
            self.write_transactions += 1
            for item in group:
                if not item.committed.done():
                    item.committed.set_result(None)
            self.new_samples.set()

    async def _insert(self, db: aiosqlite.Connection, group: Sequence[_Pending]) -> None:
        await db.executemany(
            "INSERT INTO queue (ts, body) VALUES (?, ?)", [(p.ts, p.body) for p in group]
        )
        self._queued += len(group)
        await self._enforce_bounds(db)

    async def _enforce_bounds(self, db: aiosqlite.Connection) -> None:
        """Drop what is older than max_age, then the oldest past max_samples; count and log."""
        cutoff = self.wall_clock() - self.max_age
        cursor = await db.execute("DELETE FROM queue WHERE ts < ?", (cutoff,))
        self._dropped(cursor.rowcount, "max_age")
        cursor = await db.execute("DELETE FROM dead_letters WHERE ts < ?", (cutoff,))
        if cursor.rowcount > 0:
            self._dead -= cursor.rowcount
            self._count_drop(cursor.rowcount, "dead_letter_max_age")
        excess = self._queued - self.max_samples
        if excess > 0:
            cursor = await db.execute(
                "DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY ts, id LIMIT ?)",
                (excess,),
            )
            self._dropped(cursor.rowcount, "max_samples")

    def _dropped(self, count: int, reason: str) -> None:
        if count > 0:
            self._queued -= count
            self._count_drop(count, reason)

    def _count_drop(self, count: int, reason: str) -> None:
        log.warning("spool_dropped", samples=count, reason=reason, spool=str(self.path))
        if self.metrics:
            self.metrics.spool_dropped.labels(reason=reason).inc(count)

    async def remove(self, ids: Iterable[int]) -> None:
        """Delete samples the collector acknowledged."""
        async with self._lock:
            await self._transaction(self._remove, list(ids))

    async def _remove(self, db: aiosqlite.Connection, ids: Sequence[int]) -> None:
        cursor = await db.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in ids])
        self._queued -= max(cursor.rowcount, 0)

    async def move_to_dead(self, reasons: Mapping[int, str]) -> int:
        """Move queued samples (id → why the collector refused it) to the dead letters."""
        async with self._lock:
            return await self._transaction(self._move_to_dead, reasons)

    async def _move_to_dead(self, db: aiosqlite.Connection, reasons: Mapping[int, str]) -> int:
        now = self.wall_clock()
        moved = 0
        for sample_id, reason in reasons.items():
            cursor = await db.execute(
                "INSERT INTO dead_letters (ts, body, reason, dead_at) "
                "SELECT ts, body, ?, ? FROM queue WHERE id = ?",
                (reason, now, sample_id),
            )
            if cursor.rowcount > 0:
                await db.execute("DELETE FROM queue WHERE id = ?", (sample_id,))
                moved += 1
        self._queued -= moved
        self._dead += moved
        return moved

    async def replay_dead(self) -> int:
        """Put every dead letter back in the queue; returns how many."""
        async with self._lock:
            moved = await self._transaction(self._replay_dead)
        if moved:
            self.new_samples.set()
        return moved

    async def _replay_dead(self, db: aiosqlite.Connection) -> int:
        cursor = await db.execute(
            "INSERT INTO queue (ts, body) SELECT ts, body FROM dead_letters ORDER BY id"
        )
        moved = cursor.rowcount
        await db.execute("DELETE FROM dead_letters")
        self._queued += moved
        self._dead = 0
        return moved

    # ----------------------------------------------------------------------------------- reads

    async def newest(self, limit: int) -> list[SpooledSample]:
        """Up to `limit` queued samples, newest first (the shipper's order)."""
        async with self._lock:
            db = self._connection()
            async with db.execute(
                "SELECT id, ts, body FROM queue ORDER BY ts DESC, id DESC LIMIT ?", (limit,)
            ) as cursor:
                return [SpooledSample(*row) async for row in cursor]

    async def dead_letters(self) -> list[DeadLetter]:
        async with self._lock:
            db = self._connection()
            async with db.execute(
                "SELECT id, ts, body, reason FROM dead_letters ORDER BY id"
            ) as cursor:
                return [DeadLetter(*row) async for row in cursor]

    # --------------------------------------------------------------------------------- helpers

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise SpoolError(f"the spool {self.path} is not open")
        return self._db

    async def _transaction(self, work: Callable[..., Awaitable[R]], *args: object) -> R:
        """Run `work(db, *args)` in one write transaction; the counts follow a rollback."""
        db = self._connection()
        counts = (self._queued, self._dead)
        await db.execute("BEGIN IMMEDIATE")
        try:
            result = await work(db, *args)
            await db.execute("COMMIT")
        except BaseException:
            self._queued, self._dead = counts
            with contextlib.suppress(sqlite3.Error):
                await db.execute("ROLLBACK")
            raise
        return result

    async def _count(self, table: str) -> int:
        async with self._connection().execute(f"SELECT COUNT(*) FROM {table}") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    def _update_gauges(self) -> None:
        if self.metrics:
            self.metrics.spool_samples.set_function(lambda: self._queued)
            self.metrics.spool_dead_letter_samples.set_function(lambda: self._dead)


def _try_connect(path: Path) -> None:
    sqlite3.connect(path).close()
