"""Failures of the store told apart for people: disk full, corrupt, read-only, other I/O, or not
the storage at all (`slawatch.collector.storage_errors`), from real SQLite errors."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from slawatch.collector.storage_errors import storage_failure


def caught(action: object) -> BaseException:
    with pytest.raises((sqlite3.Error, OSError)) as raised:
        action()  # type: ignore[operator]
    return raised.value


def test_a_database_that_cannot_grow_is_a_full_disk_answered_507(tmp_path: Path) -> None:
    database = tmp_path / "full.db"
    db = sqlite3.connect(database)
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 8")  # SQLITE_FULL, as a full disk gives it

    error = caught(lambda: db.execute("INSERT INTO t VALUES (randomblob(100000))"))
    db.close()
    failure = storage_failure(error, database)
    assert failure is not None
    assert (failure.kind, failure.status) == ("disk_full", 507)
    assert failure.message == f"disk full: {database}"


def test_a_file_that_is_not_a_database_is_corrupt(tmp_path: Path) -> None:
    database = tmp_path / "garbage.db"
    database.write_bytes(b"not sqlite at all" * 300)
    db = sqlite3.connect(database)
    failure = storage_failure(caught(lambda: db.execute("SELECT * FROM t")), database)
    db.close()
    assert failure is not None
    assert (failure.kind, failure.status) == ("corrupt", 503)
    assert failure.message == f"database corrupt: {database} (file is not a database)"


def test_a_read_only_database_is_not_writable(tmp_path: Path) -> None:
    database = tmp_path / "ro.db"
    sqlite3.connect(database).execute("CREATE TABLE t (x)").connection.close()
    db = sqlite3.connect(database.as_uri() + "?mode=ro", uri=True)
    failure = storage_failure(caught(lambda: db.execute("INSERT INTO t VALUES (1)")), database)
    db.close()
    assert failure is not None
    assert (failure.kind, failure.status) == ("read_only", 503)
    assert failure.message.startswith(f"database not writable: {database} (attempt to write")


@pytest.mark.parametrize(
    ("number", "kind"),
    [(errno.ENOSPC, "disk_full"), (errno.EDQUOT, "disk_full"), (errno.EFBIG, "disk_full"),
     (errno.EROFS, "read_only"), (errno.EIO, "io_error")],
)  # fmt: skip
def test_system_errors_of_the_files_are_classified_by_errno(
    tmp_path: Path, number: int, kind: str
) -> None:
    failure = storage_failure(OSError(number, "as the system says it"), tmp_path / "x.db")
    assert failure is not None
    assert failure.kind == kind


def test_errors_that_are_not_the_storage_s_stay_bugs(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db")
    assert storage_failure(caught(lambda: db.execute("SELECT * FROM nowhere")), tmp_path) is None
    db.execute("CREATE TABLE t (x PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")
    duplicate = caught(lambda: db.execute("INSERT INTO t VALUES (1)"))
    db.close()
    assert storage_failure(duplicate, tmp_path) is None
    assert storage_failure(ValueError("no"), tmp_path) is None
