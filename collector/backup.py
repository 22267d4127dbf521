"""`slawatch backup --config F [--force] OUT`: an online, consistent copy of the database.

Safe while the collector runs: SQLite's backup API copies one consistent snapshot, and WAL
lets the collector go on writing meanwhile. OUT is a file, or a folder that gets
`slawatch-YYYYmmdd-HHMMSS.db` (UTC); an existing file is replaced only with `--force`. Every
failure is one line on stderr: exit 2 for what the command line or the config asks wrongly, 1 for
a copy that fails.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from slawatch.collector.store import database_label
from slawatch.collector.store.sqlite.backup import backup_database
from slawatch.config.schema import Config

EXIT_FAILED = 1
EXIT_USAGE = 2


def run(config: Config, out: str, *, force: bool = False) -> int:
    if config.collector is None:
        return _fail("the config has no collector section", EXIT_USAGE)
    source = config.collector.database
    if not isinstance(source, Path):
        return _fail(
            f"slawatch backup copies an SQLite database; {database_label(source)} is not one"
            " (use that database's own tools)",
            EXIT_USAGE,
        )
    if not source.is_file():
        return _fail(f"no database at {source}: nothing to back up", EXIT_FAILED)
    target = backup_path(out, datetime.now(UTC))
    if target is None:
        return _fail(f"cannot back up to {out}: no such folder", EXIT_USAGE)
    if not target.parent.is_dir():
        what = "is not a folder" if target.parent.exists() else "does not exist"
        return _fail(f"cannot back up to {target}: the folder {target.parent} {what}", EXIT_USAGE)
    if target.resolve() == source.resolve():
        return _fail(f"cannot back up to {target}: it is the database itself", EXIT_USAGE)
    if target.exists() and not force:
        return _fail(f"{target} exists: give --force to replace it", EXIT_USAGE)
    try:
        backup_database(source, target)
    except (sqlite3.Error, OSError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return _fail(f"backup of {source} to {target} failed: {reason}", EXIT_FAILED)
    print(f"backed up {source} to {target} ({target.stat().st_size} bytes)")
    return 0


def backup_path(out: str, now: datetime) -> Path | None:
    """The file to write: `out` itself, or `slawatch-YYYYmmdd-HHMMSS.db` in the folder `out`
    names; None for a folder (`out` ends with a slash) that does not exist."""
    path = Path(out)
    if path.is_dir():
        return path / f"slawatch-{now.astimezone(UTC):%Y%m%d-%H%M%S}.db"
    if out.endswith((os.sep, "/")):
        return None
    return path


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code
