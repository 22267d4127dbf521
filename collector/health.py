"""Whether the collector can keep what it is sent, for `/healthz` (CONTRACT §3).

`/healthz` answers `{"status": "ok"}`, or 503 `{"status": "degraded", "reason": "disk full: PATH"}`
while the store cannot write or its database is found corrupt:

- A write that fails for a storage reason (`slawatch.collector.storage_errors`: a push, a
  maintenance window, any route) marks the store unwritable with that reason. From then a
  one-row write (`Store.probe_write`) is tried every `PROBE_EVERY_S`, and the first write that
  succeeds, probe or push, makes it writable again. Each change is logged once.
- Once the collector has started, the database's structure is checked in a thread
  (`PRAGMA quick_check`: every page read once). Problems mark it corrupt, with what SQLite found,
  until a restart: a write that succeeds repairs no page. Corruption met by any read or write
  does the same. `slawatch collector --check-db` runs that check alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import structlog

from slawatch.collector.storage_errors import StorageFailure, storage_failure
from slawatch.collector.store import Store
from slawatch.collector.store.sqlite.integrity import quick_check

log = structlog.get_logger()

PROBE_EVERY_S = 5.0
CHECK_HINT = (
    "stop the collector, run `slawatch collector --config FILE --check-db`, and restore the"
    " latest backup (`slawatch backup`) if it confirms"
)


class StoreHealth:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self.unwritable: str | None = None
        self.corrupt: str | None = None
        self._probe: asyncio.Task[None] | None = None
        self._check: asyncio.Task[None] | None = None

    @property
    def reason(self) -> str | None:
        """Why the collector is degraded; None while it is healthy."""
        return self.corrupt or self.unwritable

    def failed(self, failure: StorageFailure) -> None:
        if failure.kind == "corrupt":
            if self.corrupt is None:
                log.error("database_corrupt", reason=failure.message, hint=CHECK_HINT)
            self.corrupt = failure.message
        elif failure.kind != "busy":
            if self.unwritable is None:
                log.error("storage_unwritable", reason=failure.message)
            self.unwritable = failure.message
            if self._probe is None or self._probe.done():
                self._probe = asyncio.create_task(self._probe_until_writable())

    def wrote(self) -> None:
        """A write succeeded."""
        if self.unwritable is not None:
            log.info("storage_writable_again", database=str(self._store.path))
            self.unwritable = None

    async def _probe_until_writable(self) -> None:
        while self.unwritable is not None:
            await asyncio.sleep(PROBE_EVERY_S)
            try:
                await self._store.probe_write(round(self._clock() * 1000))
            except Exception as error:
                failure = storage_failure(error, self._store.path)
                if failure is None:
                    log.exception("storage_probe_failed", database=str(self._store.path))
                elif failure.kind != "busy":
                    self.unwritable = failure.message
            else:
                self.wrote()

    async def check_database(self) -> None:
        """`PRAGMA quick_check` of the whole database, in a thread; problems are logged and
        mark it corrupt. SQLite only: a database server checks its own pages."""
        path = self._store.path
        if not isinstance(path, Path):
            return
        started = time.perf_counter()
        checking: list[sqlite3.Connection] = []
        try:
            problems = await asyncio.to_thread(quick_check, path, opened=checking.append)
        except asyncio.CancelledError:
            for connection in checking:  # the collector stops: so does the check, at once
                with contextlib.suppress(sqlite3.ProgrammingError):
                    connection.interrupt()
            raise
        except Exception as error:
            failure = storage_failure(error, self._store.path)
            if failure is None:
                log.exception("database_check_error", database=str(self._store.path))
            else:
                log.error("database_check_failed", database=str(self._store.path), error=str(error))
                self.failed(failure)
            return
        seconds = round(time.perf_counter() - started, 3)
        if not problems:
            log.info("database_checked", database=str(self._store.path), seconds=seconds)
            return
        self.failed(
            StorageFailure("corrupt", f"database corrupt: {self._store.path} ({problems[0]})")
        )
        log.error("database_check_failed", database=str(self._store.path), problems=problems)

    async def context(self) -> AsyncIterator[None]:
        """While the collector runs: its database checked once, unwritable storage probed."""
        self._check = asyncio.create_task(self.check_database())
        yield
        for task in (self._check, self._probe):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
