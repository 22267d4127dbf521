"""The collector's SQLite store: every SQL statement of the collector lives in this module.

Layout: the latency bucket scheme, the migrations, then one section per concern (opening,
ingest, derived runs and rollups, reads for the API and the SLA engine, retention, backup).

Tables (see `MIGRATIONS`):
- `series`: (check, agent) interned to an integer, so the big tables carry one small key.
- `samples`: raw samples keyed (series, ts_ms), WITHOUT ROWID; pruned after `retention.raw`.
  Phases are kept in whole microseconds: SQLite stores a whole REAL as an integer of 1-4 bytes,
  a float as 8, and every byte of a sample row is B-tree work on the ingest path (a sample of
  the bench: 40 bytes instead of 64, 35 % fewer pages; the store alone, in process, ingests 2
  million samples 10 % faster).
- `runs`: one agent's view of one check as runs of state
(`slawatch.collector.engine.timeline.Run`), kept
  correct whatever the arrival order: in-order samples extend the series' last run (kept in
  memory); a late sample rebuilds only the stretch of runs it touches from the raw samples.
- `rollups`: per (series, hour): sample count, ok count, latency sum and a histogram of the ok
  samples' latencies (buckets below), so a month's percentiles need no raw samples. Rollups are
  sums, so a newly stored sample is simply added to its hour, in any order.
- `checks`, `agents`: every check seen (type, last interval, first/last seen) and the latest
  labels of every agent.

Raw retention defaults to more than `max_sample_age`, but with a shorter one (allowed, with a
warning) a late sample may land where its neighbours' raw samples are already pruned.
`meta.raw_horizon_ms` records the prune cutoff; a run that starts before it may have lost samples
and is *frozen*: a rebuild keeps it whole, as one unit that can still be extended, truncated or
merged with its neighbours by the rules of §4.1. A late sample that falls inside a frozen run's
span is stored (raw and rollup) and counted in the run if it has the run's state; one of the other
state leaves the run as it is (and is logged): the run was decided from samples that can no longer
be re-read, and keeping its boundaries is better than guessing new ones. Everywhere else the runs
are exactly those of all the samples.

Durability: a 200 means the batch is in the WAL and the WAL is on disk (fsynced), so it
survives a power cut too, not only a crash of the process. The aiosqlite writer commits with
`synchronous=FULL`; ingest commits with NORMAL (SQLite does not sync at its commits, only around
checkpoints) and syncs the WAL itself in a thread of its own before answering (`_sync_wal`), while
the next group is already being written: the disk's sync no longer holds up the ingest thread,
which limits ingest speed. Writes are serialised by a lock; batches that wait for it are committed
together (group commit), and each caller gets its answer only once the transaction holding its
batch is committed and synced. Reads use a separate connection, which WAL never blocks behind the
writer.

The WAL is copied into the database (checkpointed) every `CHECKPOINT_INTERVAL_S` while ingest
commits, in a thread and on a connection of their own: a checkpoint waits for two syncs of the
disk, which SQLite would otherwise have made the ingest thread wait for at the commit that found
the WAL full.

Ingest writes through a connection of its own, in a thread of its own: a group's whole
transaction (samples, runs, rollups, checks) is one call into that thread instead of a thread
hop per statement, so the event loop serves the next requests meanwhile; rows go in
statements of many rows (see `_insert_rows`). Other writes (maintenance, alerts, retention) use
the aiosqlite writer connection, under the same lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import operator
import os
import secrets
import sqlite3
import struct
import sys
from array import array
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from slawatch.collector.engine.timeline import Run, SampleState, build_runs
from slawatch.collector.ingest.batch import STORED_FIELDS, SampleRow
from slawatch.collector.log_throttle import LogThrottle

log = structlog.get_logger()
_T = TypeVar("_T")

# ----------------------------------------------------------------------------- latency buckets

LATENCY_GAMMA = 1.02
"""Bucket i holds latencies in (γ^(i-1), γ^i] ms; its representative value 2·γ^i/(γ+1) is
within (γ-1)/(γ+1) < 1 % of every latency in it."""
ZERO_BUCKET = -(2**15)
"""The bucket of latencies of 0 ms (and below the smallest bucket)."""
MIN_LATENCY_MS = 1e-3
MAX_BUCKET = 2**15 - 1
"""Latencies beyond γ^MAX_BUCKET ms (10^281 ms: nonsense, but finite) share the last bucket."""
_BELOW_MAX_BUCKET = LATENCY_GAMMA ** (MAX_BUCKET - 1)
"""Latencies below this one fall in buckets below `MAX_BUCKET`: no need to cap them."""
_LOG_GAMMA = math.log(LATENCY_GAMMA)
_BIG_ENDIAN = sys.byteorder == "big"
assert array("h").itemsize == 2 and array("I").itemsize == 4


def latency_bucket(latency_ms: float) -> int:
    if latency_ms < MIN_LATENCY_MS:
        return ZERO_BUCKET
    return min(MAX_BUCKET, math.ceil(math.log(latency_ms) / _LOG_GAMMA - 1e-9))


def bucket_value(bucket: int) -> float:
    """The latency (ms) that stands for every latency of `bucket`."""
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2 * LATENCY_GAMMA**bucket / (LATENCY_GAMMA + 1)


def encode_histogram(counts: Mapping[int, int]) -> bytes:
    """The buckets (int16 each, ascending), then their counts (uint32 each), little-endian.

    Counts already in bucket order (as `_Rollup.add` keeps them) go out as they are: for
    100 buckets, 9 µs instead of 14-19 to sort and look them up (measured)."""
    buckets = list(counts)
    ordered = sorted(buckets)
    tallies = counts.values() if buckets == ordered else map(counts.__getitem__, ordered)
    return _histogram_layout(len(ordered)).pack(*ordered, *tallies)


@functools.lru_cache(maxsize=1024)
def _histogram_layout(buckets: int) -> struct.Struct:
    return struct.Struct(f"<{buckets}h{buckets}I")


def decode_histogram(blob: bytes) -> dict[int, int]:
    size = len(blob) // 6
    buckets, tallies = array("h"), array("I")
    buckets.frombytes(blob[: 2 * size])
    tallies.frombytes(blob[2 * size :])
    if _BIG_ENDIAN:
        buckets.byteswap()
        tallies.byteswap()
    return dict(zip(buckets, tallies, strict=True))


# ----------------------------------------------------------------------------------- migrations

MIGRATIONS: tuple[str, ...] = (
    # 1: samples, derived runs and rollups, checks and agents seen
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        check_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        UNIQUE (check_id, agent)
    );
    CREATE TABLE samples (
        series INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        latency_ms REAL,
        interval_ms INTEGER NOT NULL,
        status_code INTEGER,
        error TEXT,
        dns_ms REAL,
        connect_ms REAL,
        tls_ms REAL,
        ttfb_ms REAL,
        transfer_ms REAL,
        tls_expires REAL,
        PRIMARY KEY (series, ts_ms)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        series INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT,
        last_ts_ms INTEGER NOT NULL,
        last_interval_ms INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        PRIMARY KEY (series, start_ms)
    ) WITHOUT ROWID;
    CREATE INDEX runs_by_end ON runs (series, end_ms);
    CREATE TABLE rollups (
        series INTEGER NOT NULL,
        hour_ms INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        ok_samples INTEGER NOT NULL,
        latency_sum_ms REAL NOT NULL,
        histogram BLOB NOT NULL,
        PRIMARY KEY (series, hour_ms)
    ) WITHOUT ROWID;
    CREATE TABLE checks (
        id TEXT PRIMARY KEY,
        type TEXT,
        interval_ms INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        labels TEXT NOT NULL,
        last_push_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: maintenance windows declared at run time (POST /api/v1/maintenance), for some SLAs
    """
    CREATE TABLE maintenance (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE maintenance_slas (
        sla TEXT NOT NULL,
        maintenance INTEGER NOT NULL,
        PRIMARY KEY (sla, maintenance)
    ) WITHOUT ROWID;
    CREATE INDEX maintenance_slas_by_window ON maintenance_slas (maintenance);
    """,
    # 3: alerts: the durable outbox of notifications, open alerts, things decided once
    """
    CREATE TABLE alert_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT,
        run_ms INTEGER,
        event TEXT NOT NULL,
        body BLOB NOT NULL,
        headers TEXT NOT NULL,
        status TEXT NOT NULL,
        grouped INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        due_ms INTEGER NOT NULL,
        released_ms INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        finished_ms INTEGER,
        merged_into TEXT,
        UNIQUE (channel, id)
    );
    CREATE INDEX alert_outbox_queue ON alert_outbox (channel, status, seq);
    CREATE INDEX alert_outbox_finished ON alert_outbox (finished_ms);
    CREATE TABLE alert_open (
        rule TEXT NOT NULL,
        subject TEXT NOT NULL,
        topic TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (rule, subject, topic)
    ) WITHOUT ROWID;
    CREATE TABLE alert_marks (
        key TEXT PRIMARY KEY,
        at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 4: keys the collector generates once and keeps (the signing key of links in alerts)
    """
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    """,
    # 5: a sample's phases in whole microseconds
    # (`slawatch.collector.ingest.batch.phase_microseconds`)
    """
    ALTER TABLE samples RENAME COLUMN dns_ms TO dns_us;
    ALTER TABLE samples RENAME COLUMN connect_ms TO connect_us;
    ALTER TABLE samples RENAME COLUMN tls_ms TO tls_us;
    ALTER TABLE samples RENAME COLUMN ttfb_ms TO ttfb_us;
    ALTER TABLE samples RENAME COLUMN transfer_ms TO transfer_us;
    UPDATE samples SET
        dns_us = round(dns_us * 1000),
        connect_us = round(connect_us * 1000),
        tls_us = round(tls_us * 1000),
        ttfb_us = round(ttfb_us * 1000),
        transfer_us = round(transfer_us * 1000)
    WHERE COALESCE(dns_us, connect_us, tls_us, ttfb_us, transfer_us) IS NOT NULL;
    """,
)
"""Numbered from 1 by position; a new migration is appended, never edited once released."""

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
PRUNE_CHUNK_ROWS = 5_000
CACHE_KIB = 32 * 1024
"""The writer's page cache: every series' last leaf pages stay in it."""
CHECKPOINT_INTERVAL_S = 0.5
"""How often, while ingest commits, the WAL is copied into the database (a checkpoint) by a
thread of its own (`_checkpoint_while_committing`)."""
WAL_CHECKPOINT_PAGES = 40_000
"""A connection that commits when the WAL holds this many pages checkpoints it itself (SQLite's
autocheckpoint): the WAL then starts again from its beginning. The background checkpoints leave
little to copy; this bounds the WAL (~160 MB) under sustained full speed, when it cannot start
again otherwise (SQLite does so only once every page of it is copied, between two commits)."""
GROUP_COMMIT_SAMPLES = 20_000
"""A group commit takes waiting batches until it holds at least this many samples."""
_FOREVER_MS = 2**62
_WRITER_PRAGMAS = (
    "PRAGMA busy_timeout=10000",
    f"PRAGMA cache_size=-{CACHE_KIB}",
    f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}",
)
"""Both writing connections' settings (the aiosqlite writer and the ingest thread's); the first
also syncs at each commit (synchronous=FULL), the second syncs the WAL itself (NORMAL)."""
LINK_KEY_BYTES = 32


_NONE_FOR_NONE: Callable[[None], None] = dict[None, None]().get
"""None for None, as a C function: cheaper to call than a Python one (binding a bench sample's
three Nones, measured: 1.1-1.3 µs a row with a Python function, 0.85-0.9 with this)."""


def _bind_none_and_bool_directly() -> None:
    """Let the sqlite3 module bind None and bools at once, as it binds ints, floats and strings.

    CPython's sqlite3 sends every value of another type, None and bool included, through its
    adaptation protocol (a failed adapter lookup, then failed `__adapt__` and `__conform__`
    lookups) before binding it as it would anyway: about 0.5 µs a value, while the whole sample
    costs ~1 µs to bind without them. A sample has several (`ok`, and mostly some of `error`,
    `tls_us`, `tls_expires`, …), bound with the GIL held, on the path that limits ingest speed.
    An adapter registered for the exact type is found at once; these two give what would be
    bound anyway (NULL; 0 or 1), so registering them process-wide changes no stored value.
    """
    sqlite3.register_adapter(type(None), _NONE_FOR_NONE)
    sqlite3.register_adapter(bool, int)


_bind_none_and_bool_directly()


# ----------------------------------------------------------------------------------- data types


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    checks: frozenset[str]
    """The checks that got newly stored samples."""


@dataclass(frozen=True, slots=True)
class LastSample:
    ts_ms: int
    ok: bool
    latency_ms: float | None
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class SeenCheck:
    id: str
    type: str | None
    interval_ms: int
    first_seen_ms: int
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class SeenAgent:
    id: str
    labels: Mapping[str, str]
    last_push_ms: int


@dataclass(frozen=True, slots=True)
class DeclaredMaintenance:
    """A maintenance window declared at run time (`POST /api/v1/maintenance`)."""

    id: int
    slas: tuple[str, ...]
    """Every SLA it covers, sorted."""
    start_ms: int
    end_ms: int
    reason: str
    created_ms: int


@dataclass(slots=True)
class _Rollup:
    hour_ms: int
    samples: int
    ok_samples: int
    latency_sum_ms: float
    histogram: dict[int, int]

    def add(self, rows: Sequence[SampleRow]) -> None:
        """Count `rows` in; each ok sample's latency goes to its `latency_bucket`.

        Written for the ingest path, which adds a few samples of each series at a time: the
        buckets are computed by C loops (`map`) with the very operations of `latency_bucket`, so
        every bucket is the one it gives, then counted straight into the histogram. The histogram
        stays in bucket order (put back in order when a new bucket came in, rare once an hour has
        had a few batches): the ingest path encodes each hour it touches again for every batch,
        and `encode_histogram` encodes an ordered one as it is.
        """
        ok = [row.latency_ms for row in rows if row.ok]
        self.samples += len(rows)
        self.ok_samples += len(ok)
        latencies = [latency for latency in ok if latency is not None] if None in ok else ok
        if not latencies:
            return
        self.latency_sum_ms = functools.reduce(operator.add, latencies, self.latency_sum_ms)
        if min(latencies) >= MIN_LATENCY_MS and max(latencies) < _BELOW_MAX_BUCKET:
            exponents = map(_LOG_GAMMA.__rtruediv__, map(math.log, latencies))
            buckets: Iterable[int] = map(math.ceil, map((1e-9).__rsub__, exponents))
        else:
            buckets = map(latency_bucket, latencies)
        histogram = self.histogram
        known = len(histogram)
        for bucket in buckets:
            histogram[bucket] = histogram.get(bucket, 0) + 1
        if len(histogram) > known:  # new buckets went to the end: back in order, see above
            self.histogram = dict(sorted(histogram.items()))


@dataclass(slots=True)
class _Job:
    agent: str
    samples: Sequence[SampleRow]
    labels: Mapping[str, str] | None
    now_ms: int
    done: asyncio.Future[IngestResult]


@dataclass(slots=True)
class _Pending:
    """What a transaction will change in the in-memory caches, applied only once committed."""

    series_ids: dict[tuple[str, str], int]
    last_runs: dict[int, Run]
    last_rollups: dict[int, _Rollup]


# ---------------------------------------------------------------------------------------- store


class Store:
    """`store = Store(path)`, then `await store.open()`; one instance per file and process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer_connection: aiosqlite.Connection | None = None
        self._reader_connection: aiosqlite.Connection | None = None
        self._ingest_connection: sqlite3.Connection | None = None
        """The connection ingest writes with, used only in `_ingest_thread` (see `ingest`)."""
        self._ingest_thread: ThreadPoolExecutor | None = None
        self._sync_thread: ThreadPoolExecutor | None = None
        self._checkpoint_thread: ThreadPoolExecutor | None = None
        self._checkpoint_connection: sqlite3.Connection | None = None
        """The connection checkpoints run on, used only in `_checkpoint_thread`."""
        self._checkpointer: asyncio.Task[None] | None = None
        self._committed_since_checkpoint = False
        self._checkpoint_failures = LogThrottle()
        """A checkpoint fails every `CHECKPOINT_INTERVAL_S` while the disk is full: logged once
        a minute, with a count."""
        self._last_sync: asyncio.Future[None] | None = None
        """The latest sync of the WAL (`_answer_once_synced`); syncs run one after the other."""
        self._write_lock = asyncio.Lock()
        self._queue: deque[_Job] = deque()
        self._committer: asyncio.Task[None] | None = None
        self._series_ids: dict[tuple[str, str], int] = {}
        self._series_keys: dict[int, tuple[str, str]] = {}
        self._last_runs: dict[int, Run] = {}
        self._last_rollups: dict[int, _Rollup] = {}
        self._raw_horizon_ms = -_FOREVER_MS

    # ------------------------------------------------------------------------------- opening

    async def open(self) -> None:
        """Open (creating the file and its folders), apply pending migrations, load the caches."""
        await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
        writer = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            async with writer.execute("PRAGMA journal_mode=WAL") as cursor:
                (mode,) = await cursor.fetchone() or ("none",)
            if mode != "wal":  # durability rests on the WAL (see `_sync_wal`)
                raise sqlite3.OperationalError(
                    f"{self.path}: SQLite cannot keep this database in WAL mode"
                    f" (journal mode {mode!r}): the collector needs a local file system"
                )
            for pragma in ("PRAGMA synchronous=FULL", *_WRITER_PRAGMAS):
                await writer.execute(pragma)
            await _migrate(writer)
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            await reader.execute("PRAGMA busy_timeout=10000")
            await reader.execute("PRAGMA query_only=1")
        except BaseException:
            await writer.close()
            raise
        self._writer_connection, self._reader_connection = writer, reader
        self._ingest_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
        self._sync_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sync")
        self._checkpoint_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        try:
            self._ingest_connection = await _in_thread(
                self._ingest_thread,
                _connect,
                self.path,
                ("PRAGMA synchronous=NORMAL", *_WRITER_PRAGMAS),
            )
            self._checkpoint_connection = await _in_thread(
                self._checkpoint_thread, _connect, self.path, ("PRAGMA synchronous=NORMAL",)
            )
            await self._load_caches()
        except BaseException:
            await self.close()
            raise

    @property
    def raw_horizon_ms(self) -> int:
        """Raw samples before this time may have been pruned (retention); rollups remain."""
        return self._raw_horizon_ms

    @property
    def _writer(self) -> aiosqlite.Connection:
        if self._writer_connection is None:
            raise RuntimeError("the store is not open")
        return self._writer_connection

    @property
    def _reader(self) -> aiosqlite.Connection:
        if self._reader_connection is None:
            raise RuntimeError("the store is not open")
        return self._reader_connection

    async def close(self) -> None:
        async with self._write_lock:
            if self._checkpointer is not None:
                self._checkpointer.cancel()
                await asyncio.wait([self._checkpointer])
                self._checkpointer = None
            # a checkpoint the task started may still run: its connection is closed after it
            await _close_in_its_thread(self._checkpoint_connection, self._checkpoint_thread)
            self._checkpoint_connection = self._checkpoint_thread = None
            if self._last_sync is not None:
                await asyncio.wait([self._last_sync])
            if self._sync_thread is not None:
                self._sync_thread.shutdown()
                self._sync_thread = None
            await _close_in_its_thread(self._ingest_connection, self._ingest_thread)
            self._ingest_connection = self._ingest_thread = None
            for connection in (self._reader_connection, self._writer_connection):
                if connection is not None:
                    await connection.close()
            self._writer_connection = self._reader_connection = None

    async def schema_version(self) -> int:
        async with self._reader.execute("SELECT MAX(version) FROM schema_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def _load_caches(self) -> None:
        w = self._writer
        async with w.execute("SELECT id, check_id, agent FROM series") as cursor:
            async for sid, check, agent in cursor:
                self._series_ids[(check, agent)] = sid
                self._series_keys[sid] = (check, agent)
        async with w.execute(
            "SELECT series, start_ms, end_ms, ok, error, last_ts_ms, last_interval_ms, samples"
            " FROM runs WHERE (series, start_ms) IN"
            " (SELECT series, MAX(start_ms) FROM runs GROUP BY series)"
        ) as cursor:
            async for row in cursor:
                self._last_runs[row[0]] = _run(row[1:])
        async with w.execute(
            "SELECT series, hour_ms, samples, ok_samples, latency_sum_ms, histogram"
            " FROM rollups WHERE (series, hour_ms) IN"
            " (SELECT series, MAX(hour_ms) FROM rollups GROUP BY series)"
        ) as cursor:
            async for row in cursor:
                self._last_rollups[row[0]] = _rollup(row[1:])
        async with w.execute("SELECT value FROM meta WHERE key = 'raw_horizon_ms'") as cursor:
            row = await cursor.fetchone()
        if row:
            self._raw_horizon_ms = int(row[0])

    # -------------------------------------------------------------------------------- ingest

    async def ingest(
        self,
        agent: str,
        samples: Sequence[SampleRow],
        *,
        labels: Mapping[str, str] | None,
        now_ms: int,
    ) -> IngestResult:
        """Store a validated batch; returns once it is committed.

        A sample already stored, or met earlier in the same batch, is a duplicate: the first
        stored copy wins. Batches that arrive while a commit is in progress are committed
        together in the next transaction (group commit: one WAL sync for all of them); each
        caller still returns only once its own batch is committed. A caller cancelled meanwhile
        still waits for its batch's transaction, and may find it stored all the same (whole,
        never in part): a push is idempotent.
        """
        job = _Job(agent, samples, labels, now_ms, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued())
        if await _wait_through_cancellation(job.done):
            raise asyncio.CancelledError
        return job.done.result()

    async def _commit_queued(self) -> None:
        """Commit the queued batches, in groups, until none is left: the one task that feeds the
        ingest thread, so that the next group goes to it as soon as one is committed, without
        waiting for the callers it answered to run (measured at full speed: the thread's waits
        between groups, with work already queued, fell from 0.8 s to 0.37 s of an 8 s run).
        Other writers take the write lock between two groups, in turn."""
        try:
            while self._queue:
                async with self._write_lock:
                    group, taken = [], 0
                    while self._queue and (not group or taken < GROUP_COMMIT_SAMPLES):
                        group.append(self._queue.popleft())
                        taken += len(group[-1].samples)
                    await self._commit_group(group)
        except BaseException as error:  # cancelled with the loop: no caller waits for ever
            while self._queue:
                _settle(self._queue.popleft(), error)
            raise

    async def _commit_group(self, group: list[_Job]) -> None:
        """One transaction for `group`, run whole in the ingest thread; if it fails, each job is
        retried alone, so that one bad batch fails only itself.

        The transaction goes on to its end even if the caller is cancelled meanwhile (the
        cancellation is raised after): the caches must follow what the database holds.
        """
        pending = _Pending({}, {}, {})
        work = asyncio.get_running_loop().run_in_executor(
            self._ingest_thread, self._write_group, group, pending
        )
        cancelled = await _wait_through_cancellation(work)
        error = work.exception()
        if error is None:
            self._apply(pending)
            self._answer_once_synced(group, work.result())
            self._committed_since_checkpoint = True
            if self._checkpointer is None or self._checkpointer.done():
                self._checkpointer = asyncio.create_task(self._checkpoint_while_committing())
        elif len(group) > 1 and isinstance(error, Exception):
            for job in group:
                await self._commit_group([job])
        else:
            for job in group:
                _settle(job, error)
        if cancelled:
            raise asyncio.CancelledError

    def _answer_once_synced(self, group: list[_Job], results: list[IngestResult]) -> None:
        """Answer a committed group's callers once the WAL holding it is synced to disk.

        Syncs run in their own thread, in commit order, while the ingest thread already writes
        the next group: measured, the sync took ~0.5 s of every 8 s of the ingest thread at full
        speed. A sync that fails answers with its error (the batches may be stored all the same:
        a push is idempotent).
        """
        synced = asyncio.get_running_loop().run_in_executor(self._sync_thread, _sync_wal, self.path)

        def answer(synced: asyncio.Future[None]) -> None:
            error = asyncio.CancelledError() if synced.cancelled() else synced.exception()
            for job, result in zip(group, results, strict=True):
                _settle(job, error or result)

        synced.add_done_callback(answer)
        self._last_sync = synced

    async def _checkpoint_while_committing(self) -> None:
        """Copy the WAL into the database every `CHECKPOINT_INTERVAL_S` while groups are
        committed, in a thread of its own; stop after an interval without any.

        SQLite would checkpoint in the committing connection, at the commit that finds the WAL
        full: the ingest thread waited for it, mostly for its two syncs (a checkpoint of 13,000
        pages: 72-96 ms, 8-12 ms of it copying). Measured in process, 2 million samples in 500
        groups: the ingest thread's time in COMMIT fell from 7.6-8.2 s to 6.1-6.3 s of ~34 s,
        its commits over 30 ms from 70-73 (2.9-3.4 s) to 19-21 (0.9 s). A checkpoint that fails
        is logged and tried again at the next interval; the WAL keeps every page meanwhile
        (`WAL_CHECKPOINT_PAGES` bounds it).
        """
        while self._committed_since_checkpoint:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            self._committed_since_checkpoint = False
            try:
                await _in_thread(
                    self._checkpoint_thread, _checkpoint_wal, self._checkpoint_connection
                )
            except sqlite3.Error as error:
                failures = self._checkpoint_failures.hit()
                if failures is not None:
                    log.warning(
                        "wal_checkpoint_failed",
                        database=str(self.path),
                        error=str(error),
                        count=failures,
                    )
                self._committed_since_checkpoint = True
            else:
                if self._checkpoint_failures.reset():
                    log.info("wal_checkpoint_recovered", database=str(self.path))

    def _last_run(self, sid: int, pending: _Pending) -> Run | None:
        run = pending.last_runs.get(sid)
        return run if run is not None else self._last_runs.get(sid)

    def _last_rollup(self, sid: int, pending: _Pending) -> _Rollup | None:
        rollup = pending.last_rollups.get(sid)
        return rollup if rollup is not None else self._last_rollups.get(sid)

    def _apply(self, pending: _Pending) -> None:
        for key, sid in pending.series_ids.items():
            self._series_ids[key] = sid
            self._series_keys[sid] = key
        self._last_runs.update(pending.last_runs)
        self._last_rollups.update(pending.last_rollups)

    # Everything below up to the reads runs in the ingest thread, on `self._ingest_connection`:
    # it reads the caches (which only the event loop changes, never while a group is written)
    # and writes what the transaction changes into `pending`.

    def _write_group(self, group: list[_Job], pending: _Pending) -> list[IngestResult]:
        db = self._ingest_connection
        if db is None:
            raise RuntimeError("the store is not open")
        db.execute("BEGIN IMMEDIATE")
        try:
            results = []
            for job in group:
                accepted, checks = self._write_batch(db, job, pending)
                results.append(IngestResult(accepted, len(job.samples) - accepted, checks))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return results

    def _write_batch(
        self, db: sqlite3.Connection, job: _Job, pending: _Pending
    ) -> tuple[int, frozenset[str]]:
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
        ids = self._series_for(db, job.agent, by_check, pending)
        new_by_series = self._new_samples(
            db, {ids[check]: rows for check, rows in by_check.items()}, pending
        )
        inserted = [
            (sid, *row[:STORED_FIELDS]) for sid, rows in new_by_series.items() for row in rows
        ]
        _insert_rows(db, "INSERT INTO samples VALUES {rows}", inserted)
        self._update_runs(db, new_by_series, pending)
        self._update_rollups(db, new_by_series, pending)
        _update_checks(db, new_by_series)
        checks = frozenset(rows[0].check for rows in new_by_series.values())
        return len(inserted), checks

    def _series_for(
        self, db: sqlite3.Connection, agent: str, checks: Iterable[str], pending: _Pending
    ) -> dict[str, int]:
        ids = {}
        missing = []
        for check in checks:
            sid = self._series_ids.get((check, agent)) or pending.series_ids.get((check, agent))
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
                ids[check] = pending.series_ids[(check, agent)] = int(row[0])
        return ids

    def _new_samples(
        self, db: sqlite3.Connection, by_series: Mapping[int, list[SampleRow]], pending: _Pending
    ) -> dict[int, list[SampleRow]]:
        """Each series' samples not stored yet, sorted by ts, first of equal timestamps kept.

        A sample newer than the series' last stored one is new without asking the database;
        the others are looked up, all series at once.
        """
        unique_by_series: dict[int, list[SampleRow]] = {}
        maybe_stored: list[tuple[int, int]] = []
        for sid, rows in by_series.items():
            rows.sort(key=_by_ts)
            unique = [row for i, row in enumerate(rows) if i == 0 or row.ts_ms != rows[i - 1].ts_ms]
            last = self._last_run(sid, pending)
            if last is not None and unique[0].ts_ms <= last.last_ts_ms:
                maybe_stored.extend((sid, r.ts_ms) for r in unique if r.ts_ms <= last.last_ts_ms)
            unique_by_series[sid] = unique
        stored = _stored_keys(db, maybe_stored) if maybe_stored else set()
        result: dict[int, list[SampleRow]] = {}
        for sid, rows in unique_by_series.items():
            kept = [row for row in rows if (sid, row.ts_ms) not in stored] if stored else rows
            if kept:
                result[sid] = kept
        return result

    # ---------------------------------------------------------------------------------- runs

    def _update_runs(
        self,
        db: sqlite3.Connection,
        new_by_series: Mapping[int, list[SampleRow]],
        pending: _Pending,
    ) -> None:
        upserts: list[tuple[Any, ...]] = []
        stale: list[tuple[int, int, int]] = []
        for sid, rows in new_by_series.items():
            last = self._last_run(sid, pending)
            if last is None or rows[0].ts_ms > last.last_ts_ms:
                runs = _extend_runs(last, rows)
                pending.last_runs[sid] = runs[-1]
            else:
                (start, stop), runs = self._rebuild_runs(db, sid, rows)
                stale.append((sid, start, stop))
                if stop in (_FOREVER_MS, last.start_ms):
                    pending.last_runs[sid] = runs[-1]
            upserts.extend(_run_row(sid, run) for run in runs)
        if stale:
            db.executemany(
                "DELETE FROM runs WHERE series = ? AND start_ms >= ? AND start_ms <= ?", stale
            )
        _insert_rows(db, "INSERT OR REPLACE INTO runs VALUES {rows}", upserts)

    def _rebuild_runs(
        self, db: sqlite3.Connection, sid: int, new_rows: list[SampleRow]
    ) -> tuple[tuple[int, int], list[Run]]:
        """The runs of the stretch late samples touch, and the range of run starts they replace.

        The stretch goes from the run before the earliest new sample to the run holding the next
        sample after the latest one: outside it, no pair of consecutive samples changes, and so
        no run boundary does (§4.1 decides a boundary from two consecutive samples). When the new
        samples fall between those two runs rather than inside them (an agent filling a gap,
        newest first, after an outage), the two runs take part whole, as units, and only the
        samples of the gap are read: filling a long gap batch by batch stays linear.
        """
        first_new, last_new = new_rows[0].ts_ms, new_rows[-1].ts_ms
        stretch_rows = db.execute(
            "SELECT start_ms, end_ms, ok, error, last_ts_ms, last_interval_ms, samples FROM runs"
            " WHERE series = ?1"
            " AND start_ms >= COALESCE("
            "   (SELECT MAX(start_ms) FROM runs WHERE series = ?1 AND start_ms < ?2), ?2)"
            " AND start_ms <= COALESCE("
            "   (SELECT start_ms FROM runs WHERE series = ?1 AND start_ms <= ?3"
            "    AND last_ts_ms > ?3 ORDER BY start_ms DESC LIMIT 1),"
            "   (SELECT MIN(start_ms) FROM runs WHERE series = ?1 AND start_ms > ?3), ?4)"
            " ORDER BY start_ms",
            (sid, first_new, last_new, _FOREVER_MS),
        ).fetchall()
        stretch = [_run(row) for row in stretch_rows]
        before = stretch[0] if stretch and stretch[0].start_ms < first_new else None
        after = stretch[-1] if stretch and stretch[-1].last_ts_ms > last_new else None
        start = before.start_ms if before else first_new
        stop = after.start_ms if after else _FOREVER_MS
        before_whole = before is not None and before.last_ts_ms < first_new
        after_whole = after is not None and last_new < after.start_ms
        units = [
            run
            for run in stretch
            if run.start_ms < self._raw_horizon_ms
            or (before_whole and run is before)
            or (after_whole and run is after)
        ]
        read_from = before.last_ts_ms + 1 if before and before_whole else start
        read_to = after.last_ts_ms if after and not after_whole else stop - 1
        sample_rows = db.execute(
            "SELECT ts_ms, ok, interval_ms, error FROM samples"
            " WHERE series = ? AND ts_ms >= ? AND ts_ms <= ? ORDER BY ts_ms",
            (sid, read_from, read_to),
        ).fetchall()
        states = [SampleState(r[0], bool(r[1]), r[2], r[3]) for r in sample_rows]
        if units:
            runs = _build_with_frozen(states, units, {row.ts_ms for row in new_rows}, sid)
        else:
            runs = build_runs(states)
        if after is not None:
            runs[-1] = replace(runs[-1], end_ms=min(runs[-1].end_ms, after.end_ms))
        return (start, stop), runs

    # ------------------------------------------------------------------------------- rollups

    def _update_rollups(
        self,
        db: sqlite3.Connection,
        new_by_series: Mapping[int, list[SampleRow]],
        pending: _Pending,
    ) -> None:
        touched: dict[tuple[int, int], _Rollup] = {}
        late: dict[tuple[int, int], list[SampleRow]] = defaultdict(list)
        for sid, rows in new_by_series.items():
            cached = self._last_rollup(sid, pending)
            for hour, group in _by_hour(rows):
                rollup = touched.get((sid, hour))
                if rollup is None:
                    if cached is not None and hour < cached.hour_ms:
                        late[(sid, hour)].extend(group)
                        continue
                    if cached is not None and hour == cached.hour_ms:
                        rollup = _copy_rollup(cached)
                    else:
                        rollup = _Rollup(hour, 0, 0, 0.0, {})
                    touched[(sid, hour)] = rollup
                rollup.add(group)
        stored = _stored_rollups(db, list(late))
        for (sid, hour), rows in late.items():
            rollup = stored.get((sid, hour)) or _Rollup(hour, 0, 0, 0.0, {})
            rollup.add(rows)
            touched[(sid, hour)] = rollup
        for (sid, hour), rollup in touched.items():
            newest = self._last_rollup(sid, pending)
            if newest is None or hour >= newest.hour_ms:
                pending.last_rollups[sid] = rollup
        _insert_rows(
            db,
            "INSERT OR REPLACE INTO rollups VALUES {rows}",
            [
                (
                    sid,
                    hour,
                    r.samples,
                    r.ok_samples,
                    r.latency_sum_ms,
                    encode_histogram(r.histogram),
                )
                for (sid, hour), r in touched.items()
            ],
        )

    # --------------------------------------------------------------------- reads: SLA engine

    async def runs(
        self, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> dict[str, dict[str, list[Run]]]:
        """check → agent → runs overlapping [start_ms, end_ms), sorted by start.

        The last run of a series ends where its last sample's coverage ends (ts + 2·interval):
        the caller clamps it to now (§4.7).
        """
        result: dict[str, dict[str, list[Run]]] = {}
        if not checks:
            return result
        marks = ",".join("?" * len(checks))
        async with self._reader.execute(
            "SELECT s.check_id, s.agent, r.start_ms, r.end_ms, r.ok, r.error, r.last_ts_ms,"
            " r.last_interval_ms, r.samples FROM runs r JOIN series s ON s.id = r.series"
            f" WHERE s.check_id IN ({marks}) AND r.end_ms > ? AND r.start_ms < ?"
            " ORDER BY s.check_id, s.agent, r.start_ms",
            (*checks, start_ms, end_ms),
        ) as cursor:
            async for row in cursor:
                result.setdefault(row[0], {}).setdefault(row[1], []).append(_run(row[2:]))
        return result

    async def latency_values(
        self, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> list[float]:
        """The `latency_ms` of every ok sample of `checks` (all agents) in [start_ms, end_ms).

        Raw samples only exist for `retention.raw`; older windows use `latency_histograms`.
        """
        if not checks:
            return []
        marks = ",".join("?" * len(checks))
        async with self._reader.execute(
            "SELECT latency_ms FROM samples WHERE series IN"
            f" (SELECT id FROM series WHERE check_id IN ({marks}))"
            " AND ts_ms >= ? AND ts_ms < ? AND ok = 1 AND latency_ms IS NOT NULL",
            (*checks, start_ms, end_ms),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def bucket_latencies(
        self, checks: Sequence[str], start_ms: int, end_ms: int, bucket: int
    ) -> list[float]:
        """The raw latencies that histogram `bucket` counts for `checks` in [start_ms, end_ms):
        the exact values behind one bucket of `latency_histograms` (while raw samples last)."""
        if not checks or bucket == ZERO_BUCKET:
            return []
        marks = ",".join("?" * len(checks))
        low, high = LATENCY_GAMMA ** (bucket - 1.01), LATENCY_GAMMA ** (bucket + 0.01)
        async with self._reader.execute(
            "SELECT latency_ms FROM samples WHERE series IN"
            f" (SELECT id FROM series WHERE check_id IN ({marks}))"
            " AND ts_ms >= ? AND ts_ms < ? AND ok = 1 AND latency_ms > ? AND latency_ms <= ?",
            (*checks, start_ms, end_ms, low, high),
        ) as cursor:
            rows = await cursor.fetchall()
        return [row[0] for row in rows if latency_bucket(row[0]) == bucket]

    async def latency_histograms(
        self, checks: Sequence[str], hour_start_ms: int, hour_end_ms: int
    ) -> dict[int, int]:
        """Merged latency bucket counts of the ok samples of the whole hours in [start, end).

        A bucket's latency is `bucket_value(bucket)`; see `LATENCY_GAMMA`.
        """
        merged: dict[int, int] = {}
        if not checks:
            return merged
        marks = ",".join("?" * len(checks))
        async with self._reader.execute(
            "SELECT histogram FROM rollups WHERE series IN"
            f" (SELECT id FROM series WHERE check_id IN ({marks}))"
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
        """check → hour → (samples, ok samples), summed over agents."""
        result: dict[str, dict[int, tuple[int, int]]] = {}
        if not checks:
            return result
        marks = ",".join("?" * len(checks))
        async with self._reader.execute(
            "SELECT s.check_id, r.hour_ms, SUM(r.samples), SUM(r.ok_samples)"
            " FROM rollups r JOIN series s ON s.id = r.series"
            f" WHERE s.check_id IN ({marks}) AND r.hour_ms >= ? AND r.hour_ms < ?"
            " GROUP BY s.check_id, r.hour_ms ORDER BY s.check_id, r.hour_ms",
            (*checks, hour_start_ms, hour_end_ms),
        ) as cursor:
            async for check, hour, count, ok in cursor:
                result.setdefault(check, {})[hour] = (count, ok)
        return result

    async def last_runs(self) -> dict[str, dict[str, Run]]:
        """check → agent → the run of its newest sample (from memory: no query)."""
        result: dict[str, dict[str, Run]] = {}
        for sid, run in self._last_runs.items():
            check, agent = self._series_keys[sid]
            result.setdefault(check, {})[agent] = run
        return result

    async def runs_at(self, at_ms: int) -> dict[str, dict[str, Run]]:
        """check → agent → the run covering the instant `at_ms`; agents with none left out."""
        result: dict[str, dict[str, Run]] = {}
        earlier: list[str] = []
        for sid, run in list(self._last_runs.items()):
            check, agent = self._series_keys[sid]
            if run.start_ms <= at_ms < run.end_ms:
                result.setdefault(check, {})[agent] = run
            elif at_ms < run.start_ms:
                earlier.append(check)  # a sample stamped ahead of `at_ms`: look further back
        if earlier:
            for check, agents in (await self.runs(sorted(set(earlier)), at_ms, at_ms + 1)).items():
                for agent, runs in agents.items():
                    result.setdefault(check, {})[agent] = runs[-1]
        return result

    # ---------------------------------------------------------------------------- reads: API

    async def seen_checks(self) -> list[SeenCheck]:
        async with self._reader.execute(
            "SELECT id, type, interval_ms, first_seen_ms, last_seen_ms FROM checks ORDER BY id"
        ) as cursor:
            return [SeenCheck(*row) for row in await cursor.fetchall()]

    async def seen_agents(self) -> list[SeenAgent]:
        async with self._reader.execute(
            "SELECT id, labels, last_push_ms FROM agents ORDER BY id"
        ) as cursor:
            return [SeenAgent(r[0], json.loads(r[1]), r[2]) for r in await cursor.fetchall()]

    async def last_samples(self) -> dict[str, dict[str, LastSample]]:
        """check → agent → its newest stored sample."""
        result: dict[str, dict[str, LastSample]] = {}
        async with self._reader.execute(
            "SELECT s.check_id, s.agent, x.ts_ms, x.ok, x.latency_ms, x.status_code, x.error"
            " FROM series s CROSS JOIN samples x ON x.series = s.id"
            " AND x.ts_ms = (SELECT MAX(ts_ms) FROM samples WHERE series = s.id)"
        ) as cursor:
            async for check, agent, ts, ok, latency, status, error in cursor:
                result.setdefault(check, {})[agent] = LastSample(
                    ts, bool(ok), latency, status, error
                )
        return result

    async def sample_count(self) -> int:
        async with self._reader.execute("SELECT COUNT(*) FROM samples") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def probe_write(self, now_ms: int) -> None:
        """Write and commit one row (synced to disk, as every commit of this connection): raises
        the storage's error while it cannot take a write (disk full, I/O error)."""
        async with self._write_lock:
            w = self._writer
            await w.execute("BEGIN IMMEDIATE")
            try:
                await w.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('write_probe_ms', ?)",
                    (now_ms,),
                )
                await w.commit()
            except BaseException:
                await w.rollback()
                raise

    async def size_bytes(self) -> int:
        """Bytes of the database's pages (the WAL not included)."""
        async with self._reader.execute(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ declared maintenance

    async def add_maintenance(
        self, slas: Sequence[str], start_ms: int, end_ms: int, reason: str, *, created_ms: int
    ) -> DeclaredMaintenance:
        """Store a window covering `slas` (validated by the caller); returns it with its id."""
        async with self._write_lock:
            w = self._writer
            await w.execute("BEGIN IMMEDIATE")
            try:
                cursor = await w.execute(
                    "INSERT INTO maintenance (start_ms, end_ms, reason, created_ms)"
                    " VALUES (?, ?, ?, ?)",
                    (start_ms, end_ms, reason, created_ms),
                )
                maintenance_id = cursor.lastrowid
                assert maintenance_id is not None
                covered = sorted(set(slas))
                await w.executemany(
                    "INSERT INTO maintenance_slas (sla, maintenance) VALUES (?, ?)",
                    [(sla, maintenance_id) for sla in covered],
                )
                await w.commit()
            except BaseException:
                await w.rollback()
                raise
        return DeclaredMaintenance(
            maintenance_id, tuple(covered), start_ms, end_ms, reason, created_ms
        )

    async def delete_maintenance(self, maintenance_id: int) -> bool:
        """Remove a declared window; False if there was none with that id."""
        async with self._write_lock:
            w = self._writer
            await w.execute("BEGIN IMMEDIATE")
            try:
                cursor = await w.execute("DELETE FROM maintenance WHERE id = ?", (maintenance_id,))
                found = cursor.rowcount > 0
                await w.execute(
                    "DELETE FROM maintenance_slas WHERE maintenance = ?", (maintenance_id,)
                )
                await w.commit()
            except BaseException:
                await w.rollback()
                raise
        return found

    async def declared_maintenance(
        self,
        slas: Sequence[str] | None = None,
        start_ms: int = -_FOREVER_MS,
        end_ms: int = _FOREVER_MS,
    ) -> list[DeclaredMaintenance]:
        """Declared windows covering any of `slas` (every window with None) that overlap
        [start_ms, end_ms), by start."""
        if slas is not None and not slas:
            return []
        which = ""
        if slas is not None:
            marks = ",".join("?" * len(slas))
            which = (
                f" AND m.id IN (SELECT maintenance FROM maintenance_slas WHERE sla IN ({marks}))"
            )
        async with self._reader.execute(
            "SELECT m.id, group_concat(s.sla, ' '), m.start_ms, m.end_ms, m.reason, m.created_ms"
            " FROM maintenance m JOIN maintenance_slas s ON s.maintenance = m.id"
            f" WHERE m.end_ms > ? AND m.start_ms < ?{which}"
            " GROUP BY m.id ORDER BY m.start_ms, m.id",
            (start_ms, end_ms, *(slas or ())),
        ) as cursor:
            return [
                DeclaredMaintenance(row[0], tuple(sorted(row[1].split(" "))), *row[2:])
                for row in await cursor.fetchall()
            ]

    async def open_readonly(self) -> None:
        """Open an existing database for reading only (`slawatch report`, while a collector may
        be writing it): nothing is created or migrated, and no write method works.

        FileNotFoundError if there is no such file; sqlite3.Error if it is not a database this
        slawatch can read (not SQLite, not slawatch's, or of another schema version).
        """
        if not await asyncio.to_thread(self.path.is_file):
            raise FileNotFoundError(f"no database at {self.path}")
        uri = (await asyncio.to_thread(self.path.resolve)).as_uri() + "?mode=ro"
        reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        try:
            await reader.execute("PRAGMA busy_timeout=10000")
            try:
                async with reader.execute("SELECT MAX(version) FROM schema_version") as cursor:
                    row = await cursor.fetchone()
            except sqlite3.OperationalError:
                raise sqlite3.DatabaseError("not a slawatch database (no schema_version)") from None
            version = int(row[0]) if row and row[0] is not None else 0
            if version != len(MIGRATIONS):
                raise sqlite3.DatabaseError(
                    f"the database has schema version {version}, this slawatch reads"
                    f" {len(MIGRATIONS)}: "
                    + ("upgrade slawatch" if version > len(MIGRATIONS)
                       else "start the collector once to upgrade the database")
                )  # fmt: skip
        except BaseException:
            await reader.close()
            raise
        self._reader_connection = reader

    # -------------------------------------------------------------------------- reads: reports

    async def rollup_day_marks(
        self, checks: Sequence[str], day_start_ms: int, day_end_ms: int
    ) -> dict[int, tuple[int, int]]:
        """UTC day → (hourly rollups, samples in them) of `checks` (all agents), for the days
        starting in [day_start_ms, day_end_ms). Rollups only grow (a new sample adds to its
        hour) or go (pruning): a day whose marks are unchanged has the same histograms, so a
        merged day can be cached against them."""
        found: dict[int, tuple[int, int]] = {}
        if not checks:
            return found
        marks = ",".join("?" * len(checks))
        async with self._reader.execute(
            f"SELECT hour_ms - hour_ms % {DAY_MS}, COUNT(*), SUM(samples) FROM rollups"
            f" WHERE series IN (SELECT id FROM series WHERE check_id IN ({marks}))"
            " AND hour_ms >= ? AND hour_ms < ? GROUP BY 1",
            (*checks, day_start_ms, day_end_ms),
        ) as cursor:
            for day, hours, samples in await cursor.fetchall():
                found[int(day)] = (int(hours), int(samples))
        return found

    # ----------------------------------------------------------------------------- retention

    async def prune(
        self,
        now_ms: int,
        *,
        raw_retention_ms: int,
        rollup_retention_ms: int,
        chunk_rows: int = PRUNE_CHUNK_ROWS,
    ) -> int:
        """Delete raw samples, runs and rollups past retention in small transactions.

        Each transaction deletes at most `chunk_rows` rows of one series, so a batch waiting to
        be ingested never waits long. Returns how many raw samples were deleted.
        """
        raw_cutoff = now_ms - raw_retention_ms
        derived_cutoff = now_ms - rollup_retention_ms
        if raw_cutoff > self._raw_horizon_ms:
            async with self._write_lock:
                await self._writer.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('raw_horizon_ms', ?)", (raw_cutoff,)
                )
                await self._writer.commit()
                self._raw_horizon_ms = raw_cutoff
        deleted = 0
        statements = (
            ("samples", "ts_ms", raw_cutoff),
            ("rollups", "hour_ms", derived_cutoff - HOUR_MS),
            ("runs", "end_ms", derived_cutoff),
        )
        for table, column, cutoff in statements:
            for sid in list(self._series_keys):
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
        async with self._write_lock:
            cursor = await self._writer.execute(
                f"DELETE FROM {table} WHERE series = ?1 AND {key} IN"
                f" (SELECT {key} FROM {table} WHERE series = ?1 AND {column} < ?2"
                f" ORDER BY {key} LIMIT ?3)",
                (sid, cutoff, rows),
            )
            await self._writer.commit()
            removed = cursor.rowcount
            if table == "runs" and (last := self._last_runs.get(sid)) and last.end_ms < cutoff:
                del self._last_runs[sid]
            if (
                table == "rollups"
                and (roll := self._last_rollups.get(sid))
                and roll.hour_ms < cutoff
            ):
                del self._last_rollups[sid]
        return removed

    # ---------------------------------------------------------------------------------- alerts

    @contextlib.asynccontextmanager
    async def _alert_transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            w = self._writer
            await w.execute("BEGIN IMMEDIATE")
            try:
                yield w
                await w.commit()
            except BaseException:
                await w.rollback()
                raise

    async def commit_alerts(self, changes: AlertChanges, *, busy: Iterable[int] = ()) -> list[str]:
        """Store what one evaluation decided, in one transaction, and return the ids of the
        notifications newly stored.

        A notification already stored (same channel and id) is left as it is: that is what makes
        one notification per (channel, target, event, run). A new one that `supersedes` kinds
        takes the place of those still waiting for the same channel, subject and run (but not
        of those in `busy`, being sent right now): they become `merged` into it.
        """
        inserted: list[str] = []
        busy_seqs = sorted(set(busy))
        async with self._alert_transaction() as w:
            for n in changes.notifications:
                cursor = await w.execute(
                    "INSERT OR IGNORE INTO alert_outbox (id, channel, kind, subject, run_ms,"
                    " event, body, headers, status, grouped, created_ms, due_ms, released_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (n.id, n.channel, n.kind, n.subject, n.run_ms, n.event, n.body, n.headers,
                     "held" if n.grouped else "pending", n.grouped, n.created_ms, n.due_ms,
                     None if n.grouped else n.created_ms),
                )  # fmt: skip
                if cursor.rowcount != 1:
                    continue
                inserted.append(n.id)
                if n.supersedes and n.subject is not None and n.run_ms is not None:
                    kinds = ",".join("?" * len(n.supersedes))
                    skip = ",".join("?" * len(busy_seqs))
                    await w.execute(
                        "UPDATE alert_outbox SET status = 'merged', merged_into = ?,"
                        " finished_ms = ? WHERE channel = ? AND subject = ? AND run_ms = ?"
                        f" AND kind IN ({kinds}) AND status IN ('held', 'pending')"
                        f" AND id != ? AND seq NOT IN ({skip})",
                        (n.id, n.created_ms, n.channel, n.subject, n.run_ms, *n.supersedes,
                         n.id, *busy_seqs),
                    )  # fmt: skip
            await w.executemany(
                "INSERT OR REPLACE INTO alert_open (rule, subject, topic, state)"
                " VALUES (?, ?, ?, ?)",
                [(a.rule, a.subject, a.topic, a.state) for a in changes.opened],
            )
            await w.executemany(
                "DELETE FROM alert_open WHERE rule = ? AND subject = ? AND topic = ?",
                changes.closed,
            )
            await w.executemany(
                "INSERT OR IGNORE INTO alert_marks (key, at_ms) VALUES (?, ?)", changes.marks
            )
        return inserted

    async def open_alerts(self) -> list[OpenAlert]:
        async with self._reader.execute(
            "SELECT rule, subject, topic, state FROM alert_open ORDER BY rule, subject, topic"
        ) as cursor:
            return [OpenAlert(*row) for row in await cursor.fetchall()]

    async def alert_marks(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` are marked (a period's breach, a week's digest… already decided)."""
        wanted = sorted(set(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            async with self._reader.execute(
                f"SELECT key FROM alert_marks WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ) as cursor:
                found.update(row[0] for row in await cursor.fetchall())
        return found

    async def link_key(self) -> bytes:
        """The key that signs links in alerts (`slawatch.collector.links`): random, generated on
        first use and kept, so links stay valid across restarts; the same for every process."""
        async with self._alert_transaction() as w:
            await w.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES ('link_key', ?)",
                (secrets.token_bytes(LINK_KEY_BYTES),),
            )
            async with w.execute("SELECT value FROM secrets WHERE name = 'link_key'") as cursor:
                row = await cursor.fetchone()
        assert row is not None
        return bytes(row[0])

    async def held_notifications(self, channel: str) -> list[Notification]:
        """The channel's state changes waiting for their group window, oldest first."""
        return await self._notifications_where(
            "channel = ? AND status = 'held' ORDER BY seq", (channel,)
        )

    async def next_notification(self, channel: str) -> Notification | None:
        """The head of the channel's queue: its oldest notification not delivered yet, by when
        it was decided (a storm's message keeps its first change's place). It may be held: then
        nothing of the channel may leave before it is released."""
        found = await self._notifications_where(
            "channel = ? AND status IN ('held', 'pending') ORDER BY created_ms, seq LIMIT 1",
            (channel,),
        )
        return found[0] if found else None

    async def released_since(self, channel: str, since_ms: int) -> list[int]:
        """When the channel's grouped messages (state changes, alone or as a storm) went into
        its queue, from `since_ms` on: what the rate limit counts."""
        async with self._reader.execute(
            "SELECT released_ms FROM alert_outbox WHERE channel = ? AND grouped = 1"
            " AND released_ms >= ? AND status IN ('pending', 'sent', 'given_up')"
            " ORDER BY released_ms",
            (channel, since_ms),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def release_notifications(
        self, channel: str, seqs: Sequence[int], now_ms: int, group: NewNotification | None
    ) -> None:
        """Held notifications leave their group window: queued as they are, or, with `group`,
        replaced by that one message listing them."""
        marks = ",".join("?" * len(seqs))
        async with self._alert_transaction() as w:
            if group is None:
                await w.execute(
                    "UPDATE alert_outbox SET status = 'pending', released_ms = ?, due_ms = ?"
                    f" WHERE channel = ? AND status = 'held' AND seq IN ({marks})",
                    (now_ms, now_ms, channel, *seqs),
                )
                return
            await w.execute(
                "INSERT OR IGNORE INTO alert_outbox (id, channel, kind, subject, run_ms, event,"
                " body, headers, status, grouped, created_ms, due_ms, released_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 1, ?, ?, ?)",
                (group.id, channel, group.kind, group.subject, group.run_ms, group.event,
                 group.body, group.headers, group.created_ms, now_ms, now_ms),
            )  # fmt: skip
            await w.execute(
                "UPDATE alert_outbox SET status = 'merged', merged_into = ?, finished_ms = ?"
                f" WHERE channel = ? AND status = 'held' AND seq IN ({marks})",
                (group.id, now_ms, channel, *seqs),
            )

    async def notification_sent(
        self, seq: int, now_ms: int, *, attempts: int, status: int | None
    ) -> None:
        async with self._alert_transaction() as w:
            await w.execute(
                "UPDATE alert_outbox SET status = 'sent', finished_ms = ?, attempts = ?,"
                " last_status = ?, last_error = NULL WHERE seq = ?",
                (now_ms, attempts, status, seq),
            )

    async def notification_failed(
        self, seq: int, *, attempts: int, due_ms: int, status: int | None, error: str | None
    ) -> None:
        """An attempt failed: try again at `due_ms` (unless it was merged meanwhile)."""
        async with self._alert_transaction() as w:
            await w.execute(
                "UPDATE alert_outbox SET attempts = ?, due_ms = ?, last_status = ?, last_error = ?"
                " WHERE seq = ? AND status = 'pending'",
                (attempts, due_ms, status, error, seq),
            )

    async def notification_given_up(
        self, seq: int, now_ms: int, *, attempts: int, error: str | None
    ) -> None:
        async with self._alert_transaction() as w:
            await w.execute(
                "UPDATE alert_outbox SET status = 'given_up', finished_ms = ?, attempts = ?,"
                " last_error = ? WHERE seq = ? AND status IN ('pending', 'held')",
                (now_ms, attempts, error, seq),
            )

    async def notifications(
        self,
        *,
        statuses: Sequence[str] | None = None,
        channel: str | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        """Stored notifications, newest first, for the notifications API."""
        conditions, values = ["1"], []
        if statuses:
            conditions.append(f"status IN ({','.join('?' * len(statuses))})")
            values.extend(statuses)
        if channel is not None:
            conditions.append("channel = ?")
            values.append(channel)
        if before_seq is not None:
            conditions.append("seq < ?")
            values.append(before_seq)
        return await self._notifications_where(
            f"{' AND '.join(conditions)} ORDER BY seq DESC LIMIT ?", (*values, limit)
        )

    async def notification_counts(self) -> dict[tuple[str, str], int]:
        """(channel, status) → how many notifications."""
        async with self._reader.execute(
            "SELECT channel, status, COUNT(*) FROM alert_outbox GROUP BY channel, status"
        ) as cursor:
            return {(row[0], row[1]): row[2] for row in await cursor.fetchall()}

    async def prune_notifications(self, before_ms: int, *, marks_before_ms: int) -> int:
        """Forget notifications finished (sent, given up, merged) before `before_ms`, and marks
        set before `marks_before_ms` (keep them longer than the longest period they mark)."""
        async with self._alert_transaction() as w:
            cursor = await w.execute(
                "DELETE FROM alert_outbox WHERE finished_ms < ? AND status != 'pending'"
                " AND status != 'held'",
                (before_ms,),
            )
            await w.execute("DELETE FROM alert_marks WHERE at_ms < ?", (marks_before_ms,))
        return cursor.rowcount

    async def _notifications_where(
        self, condition: str, values: Sequence[Any]
    ) -> list[Notification]:
        async with self._reader.execute(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM alert_outbox WHERE {condition}", values
        ) as cursor:
            return [_notification(row) for row in await cursor.fetchall()]


# ---------------------------------------------------------------------------- alerts: types

_NOTIFICATION_COLUMNS = (
    "seq, id, channel, kind, subject, run_ms, event, body, headers, status, grouped,"
    " created_ms, due_ms, released_ms, attempts, last_status, last_error, finished_ms,"
    " merged_into"
)


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A rendered notification to store (see `slawatch.collector.alerts.outbox`)."""

    id: str
    channel: str
    kind: str
    event: str
    """The event as JSON, so that a storm can list it and the API can show it."""
    body: bytes
    headers: str
    """JSON object of the rendering's headers."""
    created_ms: int
    due_ms: int
    grouped: bool = False
    """A state change: held for the channel's group window (storms) first."""
    subject: str | None = None
    """What it is about ("check:web", "sla:shop", "agent:eu-1"), with `run_ms`: which
    notifications a later one may supersede."""
    run_ms: int | None = None
    supersedes: tuple[str, ...] = ()
    """Kinds of the same channel, subject and run that this one replaces while they wait."""


@dataclass(frozen=True, slots=True)
class Notification:
    """A stored notification. `status`: held (in its group window), pending (queued for
    delivery), sent, given_up (past max_age), merged (replaced by `merged_into`)."""

    seq: int
    id: str
    channel: str
    kind: str
    subject: str | None
    run_ms: int | None
    event: str
    body: bytes
    headers: str
    status: str
    grouped: bool
    created_ms: int
    due_ms: int
    released_ms: int | None
    attempts: int
    last_status: int | None
    last_error: str | None
    finished_ms: int | None
    merged_into: str | None


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An alert of one rule about one subject, open until resolved; `state` is the evaluator's
    JSON."""

    rule: str
    subject: str
    topic: str
    state: str


@dataclass(frozen=True, slots=True)
class AlertChanges:
    notifications: Sequence[NewNotification] = ()
    opened: Sequence[OpenAlert] = ()
    """Open alerts created or changed."""
    closed: Sequence[tuple[str, str, str]] = ()
    """(rule, subject, topic) of the alerts closed."""
    marks: Sequence[tuple[str, int]] = ()
    """(key, at_ms): things decided once (a period's breach, a week's digest)."""

    def __bool__(self) -> bool:
        return bool(self.notifications or self.opened or self.closed or self.marks)


def _notification(row: Sequence[Any]) -> Notification:
    return Notification(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], bytes(row[7]), row[8], row[9],
        bool(row[10]), *row[11:],
    )  # fmt: skip


# ------------------------------------------------------------------------------------- backup


def backup_database(source: Path, out: Path) -> None:
    """An online, consistent copy with SQLite's backup API (blocking: run it in a thread).

    The copy is written beside `out` and renamed into place, so `out` is never half-written.
    """
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            (result,) = dst.execute("PRAGMA quick_check").fetchone()
            if result != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its check: {result}")
        finally:
            dst.close()
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()


def quick_check(
    database: Path,
    max_problems: int = 20,
    *,
    opened: Callable[[sqlite3.Connection], object] | None = None,
) -> list[str]:
    """The problems `PRAGMA quick_check` finds in the database's structure, at most
    `max_problems`; empty when it is sound (blocking: run it in a thread). Reads every page once,
    on a read-only connection of its own, so the collector may go on meanwhile. `opened` gets
    that connection: its `interrupt()`, from another thread, stops the check (which then raises
    sqlite3.OperationalError)."""
    db = sqlite3.connect(database.resolve().as_uri() + "?mode=ro", uri=True)
    if opened is not None:
        opened(db)
    try:
        rows = db.execute(f"PRAGMA quick_check({int(max_problems)})").fetchall()
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorcode", None) != sqlite3.SQLITE_CORRUPT:
            raise
        return [str(error)]  # so broken that the check itself stops
    finally:
        db.close()
    problems = [str(row[0]) for row in rows]
    return [] if problems == ["ok"] else problems


# ------------------------------------------------------------------------------------ helpers


async def _migrate(db: aiosqlite.Connection) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    async with db.execute("SELECT MAX(version) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row and row[0] is not None else 0
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"the database has schema version {current}, newer than this slawatch knows"
            f" ({len(MIGRATIONS)}): upgrade slawatch"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    await db.execute(statement)
            await db.execute("INSERT INTO schema_version VALUES (?)", (version,))
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        log.info("database_migrated", version=version)


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


def _connect(path: Path, pragmas: Iterable[str]) -> sqlite3.Connection:
    """A connection for the one thread that opens it and alone uses it: the ingest thread's
    (its commits leave the WAL's sync to `_sync_wal`) or the checkpoints' (with
    `synchronous=NORMAL`, a checkpoint syncs the WAL before it copies and the database after)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in pragmas:
            db.execute(pragma)
    except BaseException:
        db.close()
        raise
    return db


async def _in_thread(
    thread: ThreadPoolExecutor | None, function: Callable[..., _T], *args: Any
) -> _T:
    """`function(*args)` in `thread`, one of the store's own (never the loop's default one)."""
    if thread is None:
        raise RuntimeError("the store is not open")
    return await asyncio.get_running_loop().run_in_executor(thread, function, *args)


async def _close_in_its_thread(
    connection: sqlite3.Connection | None, thread: ThreadPoolExecutor | None
) -> None:
    """Close `connection` in the thread that alone uses it (after what that thread runs now),
    then stop the thread."""
    if thread is None:
        return
    if connection is not None:
        await _in_thread(thread, connection.close)
    thread.shutdown()


def _checkpoint_wal(db: sqlite3.Connection | None) -> None:
    """Copy into the database what the WAL holds, without waiting for (or holding up) readers or
    the writers; the next write transaction starts the WAL again if all of it was copied."""
    if db is None:
        raise RuntimeError("the store is not open")
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _sync_wal(database: Path) -> None:
    """Sync the WAL of `database` to disk: every transaction committed before the call is then
    durable, as `synchronous=FULL` would have made it at its commit. The WAL stays the same file
    while the store's connections are open (SQLite deletes it when the last one closes)."""
    descriptor = os.open(f"{database}-wal", os.O_RDONLY)
    try:
        _sync_data(descriptor)
    finally:
        os.close(descriptor)


_sync_data = getattr(os, "fdatasync", os.fsync)
"""What SQLite itself syncs with where there is a choice: the data, and the metadata needed to
read it back (the file's size), not its times."""


async def _wait_through_cancellation(work: asyncio.Future[Any]) -> bool:
    """Wait for `work` to end even if the waiting task is cancelled meanwhile; whether it was."""
    cancelled = False
    while not work.done():
        try:
            await asyncio.wait([work])
        except asyncio.CancelledError:
            cancelled = True
    return cancelled


def _settle(job: _Job, outcome: IngestResult | BaseException) -> None:
    """Give a job its outcome (once)."""
    if job.done.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        job.done.cancel()
    elif isinstance(outcome, BaseException):
        job.done.set_exception(outcome)
    else:
        job.done.set_result(outcome)


def _stored_keys(db: sqlite3.Connection, keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The (series, ts_ms) of these that are stored samples."""
    rows = _rows_at(db, "samples", "ts_ms", ("series", "ts_ms"), keys)
    return {(row[0], row[1]) for row in rows}


def _stored_rollups(
    db: sqlite3.Connection, keys: list[tuple[int, int]]
) -> dict[tuple[int, int], _Rollup]:
    """The stored rollups of these (series, hour) keys (those that exist)."""
    columns = ("series", "hour_ms", "samples", "ok_samples", "latency_sum_ms", "histogram")
    rows = _rows_at(db, "rollups", "hour_ms", columns, keys)
    return {(row[0], row[1]): _rollup(row[1:]) for row in rows}


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


def _run(row: Sequence[Any]) -> Run:
    return Run(row[0], row[1], bool(row[2]), row[3], row[4], row[5], row[6])


def _run_row(sid: int, run: Run) -> tuple[Any, ...]:
    return (sid, run.start_ms, run.end_ms, run.ok, run.error, run.last_ts_ms,
            run.last_interval_ms, run.samples)  # fmt: skip


def _rollup(row: Sequence[Any]) -> _Rollup:
    return _Rollup(row[0], row[1], row[2], row[3], decode_histogram(row[4]))


def _copy_rollup(rollup: _Rollup) -> _Rollup:
    return _Rollup(rollup.hour_ms, rollup.samples, rollup.ok_samples, rollup.latency_sum_ms,
                   dict(rollup.histogram))  # fmt: skip


def _extend_runs(last: Run | None, rows: Sequence[SampleRow]) -> list[Run]:
    """`append_sample` of every row (sorted, all newer than `last`) from the series' last run.

    Returns every run touched, the first replacing `last` (same start). Written out for the
    ingest path: a sample that extends the open run creates no object.
    """
    runs: list[Run] = []
    if last is None:
        first = rows[0]
        rows = rows[1:]
        start = last_ts = first.ts_ms
        interval = first.interval_ms
        end = start + 2 * interval
        ok, error, samples = first.ok, None if first.ok else first.error, 1
    else:
        start, end, ok, error = last.start_ms, last.end_ms, last.ok, last.error
        last_ts, interval, samples = last.last_ts_ms, last.last_interval_ms, last.samples
    for row in rows:
        ts = row.ts_ms
        if row.ok == ok and ts <= end:
            last_ts, interval, samples = ts, row.interval_ms, samples + 1
            end = ts + 2 * interval
            continue
        runs.append(Run(start, min(end, ts), ok, error, last_ts, interval, samples))
        start = last_ts = ts
        interval = row.interval_ms
        end = ts + 2 * interval
        ok, error, samples = row.ok, None if row.ok else row.error, 1
    runs.append(Run(start, end, ok, error, last_ts, interval, samples))
    return runs


def _by_hour(rows: list[SampleRow]) -> Iterator[tuple[int, list[SampleRow]]]:
    """(hour, its rows) of rows sorted by ts."""
    start = 0
    while start < len(rows):
        hour = rows[start].ts_ms - rows[start].ts_ms % HOUR_MS
        end = bisect_left(rows, hour + HOUR_MS, lo=start, key=_by_ts)
        yield hour, rows[start:end]
        start = end


def _build_with_frozen(
    states: list[SampleState], frozen: list[Run], new_ts: set[int], sid: int
) -> list[Run]:
    """Runs from raw samples and runs taken whole (`frozen`), by the rules of `append_sample`.

    A run is taken whole when its raw samples may be pruned, or when the new samples cannot
    change it inside (they are all before or after it). A raw sample inside such a run's span
    is already part of it, unless it is new: then it is counted in the run if it has the run's
    state, and otherwise left out of the runs (logged).
    """
    items: list[Run] = []
    spans = iter(frozen)
    current = next(spans, None)
    absorbed = 0
    for state in states:
        while current is not None and current.last_ts_ms < state.ts_ms:
            items.append(replace(current, samples=current.samples + absorbed))
            current, absorbed = next(spans, None), 0
        if current is not None and current.start_ms <= state.ts_ms:
            if state.ts_ms in new_ts:
                if state.ok == current.ok:
                    absorbed += 1
                else:
                    log.warning("late_sample_in_pruned_run", series=sid, ts_ms=state.ts_ms)
            continue
        items.append(
            Run(state.ts_ms, state.ts_ms + 2 * state.interval_ms, state.ok,
                None if state.ok else state.error, state.ts_ms, state.interval_ms)
        )  # fmt: skip
    if current is not None:
        items.append(replace(current, samples=current.samples + absorbed))
    items.extend(spans)
    runs: list[Run] = []
    for item in items:
        _append_run(runs, item)
    return runs


def _append_run(runs: list[Run], item: Run) -> None:
    """`timeline.append_sample` for a whole run: merge, truncate the previous one, or append."""
    item_end = item.last_ts_ms + 2 * item.last_interval_ms
    if runs:
        last = runs[-1]
        end = min(last.end_ms, item.start_ms)
        if last.ok == item.ok and end == item.start_ms:
            runs[-1] = Run(last.start_ms, item_end, last.ok, last.error, item.last_ts_ms,
                           item.last_interval_ms, last.samples + item.samples)  # fmt: skip
            return
        if end != last.end_ms:
            runs[-1] = replace(last, end_ms=end)
    runs.append(replace(item, end_ms=item_end))
