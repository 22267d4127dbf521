"""An online, consistent copy of an SQLite store (`slawatch backup`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
