"""Whether an SQLite store's database is sound (`slawatch collector --check-db`, and once after
the collector starts: `slawatch.collector.health`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path


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
