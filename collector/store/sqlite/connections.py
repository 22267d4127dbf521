"""The SQLite store's connections and threads: the one place that opens, uses and closes them.

- A writer (aiosqlite, `synchronous=FULL`) for every write but ingest (maintenance, the alert
  outbox, keys, retention), in `write_transaction`; writes are serialised by `write_lock`.
- A reader (aiosqlite, `query_only`): WAL never blocks it behind a writer.
- Ingest writes through a connection of its own in a thread of its own (`in_ingest_thread`): a
  group's whole transaction is one call into that thread instead of a thread hop per
  statement, so the event loop serves the next requests meanwhile. It commits with
  `synchronous=NORMAL` (SQLite does not sync at its commits, only around checkpoints) and
  `answer_once_synced` syncs the WAL itself, in a thread of its own, before the callers get
  their answer, while the next group is already being written: the disk's sync no longer holds
  up the ingest thread, which limits ingest speed. So a 200 still means the batch is in the WAL
  and the WAL is on disk: it survives a power cut, not only a crash of the process.
- The WAL is copied into the database (checkpointed) every `CHECKPOINT_INTERVAL_S` while ingest
  commits, in a thread and on a connection of their own: a checkpoint waits for two syncs of the
  disk, which SQLite would otherwise have made the ingest thread wait for at the commit that found
  the WAL full.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from slawatch.collector.log_throttle import LogThrottle
from slawatch.collector.store.sqlite.migrations import check_readable, migrate, schema_version

log = structlog.get_logger()
_T = TypeVar("_T")

CACHE_KIB = 32 * 1024
"""The writers' page cache: every series' last leaf pages stay in it."""
CHECKPOINT_INTERVAL_S = 0.5
"""How often, while ingest commits, the WAL is copied into the database (a checkpoint) by a
thread of its own (`_checkpoint_while_committing`)."""
WAL_CHECKPOINT_PAGES = 40_000
"""A connection that commits when the WAL holds this many pages checkpoints it itself (SQLite's
autocheckpoint): the WAL then starts again from its beginning. The background checkpoints leave
little to copy; this bounds the WAL (~160 MB) under sustained full speed, when it cannot start
again otherwise (SQLite does so only once every page of it is copied, between two commits)."""
BUSY_TIMEOUT = "PRAGMA busy_timeout=10000"
_WRITER_PRAGMAS = (
    BUSY_TIMEOUT,
    f"PRAGMA cache_size=-{CACHE_KIB}",
    f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}",
)
"""Both writing connections' settings (the aiosqlite writer and the ingest thread's); the first
also syncs at each commit (synchronous=FULL), the second syncs the WAL itself (NORMAL)."""


_NONE_FOR_NONE: Callable[[None], None] = dict[None, None]().get
"""None for None, as a C function: cheaper to call than a Python one (binding a bench sample's
three Nones, measured: 1.1-1.3 µs a row with a Python function, 0.85-0.9 with this)."""


def bind_none_and_bool_directly() -> None:
    """Let the sqlite3 module bind None and bools at once, as it binds ints, floats and strings.

    CPython's sqlite3 sends every value of another type, None and bool included, through its
    adaptation protocol (a failed adapter lookup, then failed `__adapt__` and `__conform__`
    lookups) before binding it as it would anyway: about 0.5 µs a value, while the whole sample
    costs ~1 µs to bind without them. A sample has several (`ok`, and mostly some of `error`,
    `tls_us`, `tls_expires`, …), bound with the GIL held, on the path that limits ingest speed.
    An adapter registered for the exact type is found at once; these two give what would be
    bound anyway (NULL; 0 or 1), so registering them changes no stored value. sqlite3 keeps
    adapters for the whole process (there are no per-connection ones): this is called when a
    store opens, never at import.
    """
    sqlite3.register_adapter(type(None), _NONE_FOR_NONE)
    sqlite3.register_adapter(bool, int)


class SqliteConnections:
    """The connections and threads of one store on one file; see the module's docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.write_lock = asyncio.Lock()
        """Serialises the writes: ingest groups, and the writer's transactions."""
        self._writer_connection: aiosqlite.Connection | None = None
        self._reader_connection: aiosqlite.Connection | None = None
        self._ingest_connection: sqlite3.Connection | None = None
        """The connection ingest writes with, used only in `_ingest_thread`."""
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
        """The latest sync of the WAL (`answer_once_synced`); syncs run one after the other."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    # ------------------------------------------------------------------------------- opening

    async def open(self) -> None:
        """Open (creating the file and its folders) and apply pending migrations."""
        bind_none_and_bool_directly()
        await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
        writer = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            async with writer.execute("PRAGMA journal_mode=WAL") as cursor:
                (mode,) = await cursor.fetchone() or ("none",)
            if mode != "wal":  # durability rests on the WAL (see `answer_once_synced`)
                raise sqlite3.OperationalError(
                    f"{self.path}: SQLite cannot keep this database in WAL mode"
                    f" (journal mode {mode!r}): the collector needs a local file system"
                )
            for pragma in ("PRAGMA synchronous=FULL", *_WRITER_PRAGMAS):
                await writer.execute(pragma)
            await migrate(writer)
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            await reader.execute(BUSY_TIMEOUT)
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
        except BaseException:
            await self.close()
            raise

    async def open_readonly(self) -> None:
        """Open the reader only, on an existing database of this slawatch's schema."""
        if not await asyncio.to_thread(self.path.is_file):
            raise FileNotFoundError(f"no database at {self.path}")
        uri = (await asyncio.to_thread(self.path.resolve)).as_uri() + "?mode=ro"
        reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        try:
            await reader.execute(BUSY_TIMEOUT)
            await check_readable(reader)
        except BaseException:
            await reader.close()
            raise
        self._reader_connection = reader

    async def close(self) -> None:
        async with self.write_lock:
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
        return await schema_version(self.reader)

    async def probe_write(self, now_ms: int) -> None:
        """One row written and committed by the writer (synced to disk, as its every commit)."""
        async with self.write_transaction() as writer:
            await writer.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('write_probe_ms', ?)", (now_ms,)
            )

    async def size_bytes(self) -> int:
        """Bytes of the database's pages (the WAL not included)."""
        async with self.reader.execute(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    @property
    def writer(self) -> aiosqlite.Connection:
        """The connection of every write but ingest: use it under `write_lock`."""
        if self._writer_connection is None:
            raise RuntimeError("the store is not open")
        return self._writer_connection

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader_connection is None:
            raise RuntimeError("the store is not open")
        return self._reader_connection

    @contextlib.asynccontextmanager
    async def write_transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer in a transaction of its own, under the write lock: committed at the end of
        the block, rolled back if it raises."""
        async with self.write_lock:
            writer = self.writer
            await writer.execute("BEGIN IMMEDIATE")
            try:
                yield writer
                await writer.commit()
            except BaseException:
                await writer.rollback()
                raise

    # ------------------------------------------------------------------------ ingest threads

    def in_ingest_thread(self, function: Callable[[sqlite3.Connection], _T]) -> asyncio.Future[_T]:
        """`function(connection)` in the ingest thread, on the ingest connection (which only that
        thread uses); call it holding `write_lock`."""
        loop = asyncio.get_running_loop()
        thread, connection = self._ingest_thread, self._ingest_connection
        if thread is None or connection is None:
            failed: asyncio.Future[_T] = loop.create_future()
            failed.set_exception(RuntimeError("the store is not open"))
            return failed
        return loop.run_in_executor(thread, function, connection)

    def answer_once_synced(self, answer: Callable[[BaseException | None], None]) -> None:
        """Call `answer` (with the error, if any) once the WAL holding what the ingest thread
        committed last is synced to disk, and keep checkpointing while groups are committed.

        Syncs run in their own thread, in commit order, while the ingest thread already writes
        the next group: measured, the sync took ~0.5 s of every 8 s of the ingest thread at full
        speed. A sync that fails answers with its error (the batches may be stored all the same:
        a push is idempotent).
        """
        synced = asyncio.get_running_loop().run_in_executor(self._sync_thread, _sync_wal, self.path)

        def done(synced: asyncio.Future[None]) -> None:
            answer(asyncio.CancelledError() if synced.cancelled() else synced.exception())

        synced.add_done_callback(done)
        self._last_sync = synced
        self._committed_since_checkpoint = True
        if self._checkpointer is None or self._checkpointer.done():
            self._checkpointer = asyncio.create_task(self._checkpoint_while_committing())

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
                    self._checkpoint_thread, checkpoint_wal, self._checkpoint_connection
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


def checkpoint_wal(db: sqlite3.Connection | None) -> None:
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
        sync_data(descriptor)
    finally:
        os.close(descriptor)


sync_data = getattr(os, "fdatasync", os.fsync)
"""What SQLite itself syncs with where there is a choice: the data, and the metadata needed to
read it back (the file's size), not its times."""
