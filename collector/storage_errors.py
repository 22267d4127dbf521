"""What a failure of the store means, in words an operator can act on, naming the file.

SQLite reports a full disk as `database or disk is full` when it can tell, but as `disk I/O
error` when a write is refused outright (a file at the process's size limit, `ulimit -f`; a
full disk found while growing the shared-memory file); corruption as `database disk image is
malformed`. `storage_failure` tells these apart (disk full, corrupt, read-only, busy, other
I/O), so that a push answers 507 to a full disk with `Retry-After` and the log and `/healthz`
say "disk full: PATH", while a programming error (bad SQL, a constraint) stays what it is.
"""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from slawatch.collector.store.factory import database_label

Kind = Literal["disk_full", "corrupt", "read_only", "busy", "io_error", "unreachable"]

LOW_SPACE_BYTES = 1024 * 1024
"""Free space below which an I/O error while writing is taken for a full disk."""
WRITE_MARGIN_BYTES = 64 * 1024
"""A file closer than this to the file-size limit cannot take SQLite's next write."""

_SQLITE_KINDS: dict[int, Kind] = {
    sqlite3.SQLITE_FULL: "disk_full",
    sqlite3.SQLITE_CORRUPT: "corrupt",
    sqlite3.SQLITE_NOTADB: "corrupt",
    sqlite3.SQLITE_READONLY: "read_only",
    sqlite3.SQLITE_CANTOPEN: "read_only",
    sqlite3.SQLITE_PERM: "read_only",
    sqlite3.SQLITE_BUSY: "busy",
    sqlite3.SQLITE_LOCKED: "busy",
    sqlite3.SQLITE_IOERR: "io_error",
    sqlite3.SQLITE_PROTOCOL: "io_error",
    sqlite3.SQLITE_NOLFS: "io_error",
}
_OS_KINDS: dict[int, Kind] = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EFBIG: "disk_full",
    errno.EROFS: "read_only",
    errno.EACCES: "read_only",
    errno.EPERM: "read_only",
}
_WORDS: dict[Kind, str] = {
    "disk_full": "disk full",
    "corrupt": "database corrupt",
    "read_only": "database not writable",
    "busy": "database busy",
    "io_error": "storage I/O error",
    "unreachable": "database unreachable",
}
_POSTGRES_KINDS: dict[str, Kind] = {
    "53100": "disk_full",
    "25006": "read_only",
    "40001": "busy",
    "40P01": "busy",
    "55P03": "busy",
    "XX001": "corrupt",
    "XX002": "corrupt",
    "57P01": "unreachable",
    "57P02": "unreachable",
    "57P03": "unreachable",
}
"""PostgreSQL's SQLSTATE codes that say something of the database's state; class 08
(connection exceptions) and 58 (system errors) are taken whole below."""


@dataclass(frozen=True, slots=True)
class StorageFailure:
    kind: Kind
    message: str
    """"disk full: /var/lib/slawatch/slawatch.db", with SQLite's or the system's words after
    a second colon when they add something."""

    @property
    def status(self) -> int:
        """The HTTP answer: 507 Insufficient Storage to a full disk, 503 to the rest."""
        return 507 if self.kind == "disk_full" else 503


def storage_failure(error: BaseException, database: Path | str) -> StorageFailure | None:
    """What `error` says about the storage of `database` (an SQLite file, or a database URL,
    named without its password); None if it is not a storage failure (a bug, a constraint, a
    cancelled call)."""
    if isinstance(database, str):
        return _server_failure(error, database_label(database))
    kind: Kind | None = None
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        kind = _SQLITE_KINDS.get(code & 0xFF) if isinstance(code, int) else None
    elif isinstance(error, OSError):
        kind = _OS_KINDS.get(error.errno or 0, "io_error")
    if kind is None:
        return None
    detail = str(error)
    if kind == "io_error":
        room = _room_problem(database)
        if room is not None:
            kind, detail = "disk_full", room
    elif kind == "disk_full":
        detail = _room_problem(database) or ""
    text = f"{_WORDS[kind]}: {database}"
    return StorageFailure(kind, f"{text} ({detail})" if detail else text)


def _server_failure(error: BaseException, where: str) -> StorageFailure | None:
    """A database server's error (PostgreSQL, through asyncpg, recognised by its SQLSTATE
    without importing the driver), or the network's."""
    kind: Kind | None = None
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and type(error).__module__.startswith("asyncpg"):
        kind = _POSTGRES_KINDS.get(sqlstate)
        if kind is None and sqlstate[:2] == "08":
            kind = "unreachable"
        elif kind is None and sqlstate[:2] in ("53", "58"):
            kind = "io_error"
    elif any(cls.__name__ == "InterfaceError" for cls in type(error).__mro__):
        kind = "unreachable"  # asyncpg's: a connection closed under the caller
    elif isinstance(error, (OSError, TimeoutError)):
        kind = "unreachable"
    if kind is None:
        return None
    detail = str(error).replace("\n", " ").strip()
    text = f"{_WORDS[kind]}: {where}"
    return StorageFailure(kind, f"{text} ({detail})" if detail else text)


def _room_problem(database: Path) -> str | None:
    """Why the database's files cannot grow, if they cannot: the file system is (nearly) full, or
    one of them has reached the process's file-size limit."""
    try:
        space = os.statvfs(database.parent)
    except OSError:
        return None
    free = space.f_bavail * space.f_frsize
    if free < LOW_SPACE_BYTES:
        return f"{free} bytes free on its file system"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size + WRITE_MARGIN_BYTES > limit:
            return f"{path.name} reached the file-size limit, ulimit -f, of {limit} bytes"
    return None
