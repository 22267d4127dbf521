"""`slawatch backup --config F OUT.db`: an online, consistent copy of the collector's database.

Safe while the collector runs: SQLite's backup API copies one consistent snapshot, and WAL
lets the collector go on writing meanwhile.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from slawatch.collector.store import database_label
from slawatch.collector.store.sqlite.backup import backup_database
from slawatch.config.schema import Config


def run(config: Config, out: Path) -> int:
    if config.collector is None:
        print("the config has no collector section", file=sys.stderr)
        return 2
    source = config.collector.database
    if not isinstance(source, Path):
        print(
            f"slawatch backup copies an SQLite database; {database_label(source)} is not one"
            " (use that database's own tools)",
            file=sys.stderr,
        )
        return 2
    if not source.is_file():
        print(f"no database at {source}: nothing to back up", file=sys.stderr)
        return 1
    if out.resolve() == source.resolve():
        print("OUT must not be the database itself", file=sys.stderr)
        return 2
    if not out.parent.is_dir():
        print(f"cannot back up to {out}: the folder {out.parent} does not exist", file=sys.stderr)
        return 2
    try:
        backup_database(source, out)
    except (sqlite3.Error, OSError) as error:
        print(f"backup of {source} to {out} failed: {error}", file=sys.stderr)
        return 1
    print(f"backed up {source} to {out} ({out.stat().st_size} bytes)")
    return 0
