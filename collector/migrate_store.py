"""`slawatch migrate-store --config F --to URL`: the collector's SQLite store copied into an
empty PostgreSQL database (CONTRACT §6), which `collector.database: URL` then names.

Resumable: run it again after an interruption and it goes on where the last committed chunk
ended, copying nothing twice (`slawatch.collector.store.postgres.from_sqlite`). Stop the collector
first. Exit 0 copied, 1 the copy failed (run it again), 2 what the command line or the config
asks cannot be done. Every failure is one line on stderr, the URL shown without its password.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from slawatch.collector.store import database_label
from slawatch.collector.store.factory import POSTGRESQL_SCHEMES
from slawatch.collector.store.postgres import PostgresStore
from slawatch.collector.store.postgres.from_sqlite import NotEmptyError
from slawatch.config.schema import Config

EXIT_FAILED = 1
EXIT_USAGE = 2


def run(config: Config, to: str, *, chunk_rows: int) -> int:
    if config.collector is None:
        return _fail("the config has no collector section", EXIT_USAGE)
    source = config.collector.database
    if not isinstance(source, Path):
        return _fail(
            f"migrate-store copies an SQLite store; {database_label(source)} is not one",
            EXIT_USAGE,
        )
    if to.partition("://")[0].lower() not in POSTGRESQL_SCHEMES:
        return _fail(f"--to must be a postgresql:// URL, not {database_label(to)}", EXIT_USAGE)
    if chunk_rows < 1:
        return _fail("--chunk-rows must be at least 1", EXIT_USAGE)
    if not source.is_file():
        return _fail(f"no database at {source}: nothing to migrate", EXIT_FAILED)
    store = PostgresStore(to)
    failures: tuple[type[Exception], ...] = (OSError, sqlite3.Error, *store.errors)
    try:
        copied = asyncio.run(_copy(store, source, chunk_rows))
    except failures as error:
        return _fail(
            f"migrate-store from {source} to {database_label(to)} stopped: {error}"
            " (run it again: it goes on where it stopped)",
            EXIT_FAILED,
        )
    except NotEmptyError as error:
        return _fail(f"{database_label(to)}: {error}", EXIT_USAGE)
    summary = ", ".join(f"{table} {rows}" for table, rows in copied.items()) or "nothing left"
    print(f"migrated {source} to {database_label(to)}: {summary}")
    print(f"set collector.database to the URL in {config.path} and start the collector")
    return 0


async def _copy(store: PostgresStore, source: Path, chunk_rows: int) -> dict[str, int]:
    await store.open()
    try:
        return await store.copy_from_sqlite(source, chunk_rows=chunk_rows)
    finally:
        await store.close()


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code
