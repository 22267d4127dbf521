"""The store's two methods for health: `probe_write` (can it take a write now?) and `quick_check`
(is the database's structure sound?), on real SQLite files. How they behave on a full disk and a
corrupt page through the collector: tests/e2e/test_storage_failures.py."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from slawatch.collector.store import Store
from slawatch.collector.store.sqlite.integrity import quick_check


async def test_a_probe_write_commits_one_row(store: Store) -> None:
    await store.probe_write(1234)
    await store.probe_write(5678)
    db = sqlite3.connect(store.path)
    try:
        assert db.execute("SELECT value FROM meta WHERE key = 'write_probe_ms'").fetchall() == [
            (5678,)
        ]
    finally:
        db.close()


def sound_database(path: Path, rows: int = 200) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x BLOB)")
    db.executemany("INSERT INTO t VALUES (randomblob(3000))", [()] * rows)
    db.commit()
    db.close()
    return path


def test_quick_check_of_a_sound_database_finds_nothing(tmp_path: Path) -> None:
    assert quick_check(sound_database(tmp_path / "sound.db")) == []


def test_quick_check_names_what_it_finds_in_a_corrupt_page(tmp_path: Path) -> None:
    path = sound_database(tmp_path / "broken.db")
    db = sqlite3.connect(path)
    [page] = db.execute(
        "SELECT pageno FROM dbstat WHERE name = 't' AND pagetype = 'internal' LIMIT 1"
    ).fetchone()
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as file:
        file.seek((page - 1) * page_size)
        file.write(os.urandom(page_size))
    problems = quick_check(path)
    assert problems
    assert all(isinstance(problem, str) and problem for problem in problems)


def test_quick_check_stops_when_its_connection_is_interrupted(tmp_path: Path) -> None:
    path = sound_database(tmp_path / "big.db", rows=5000)  # 15 MB: some ms to check
    checked = threading.Event()

    def interrupt_until_checked(connection: sqlite3.Connection) -> None:
        def keep_interrupting() -> None:
            while not checked.is_set():
                with contextlib.suppress(sqlite3.ProgrammingError):  # closed meanwhile
                    connection.interrupt()

        threading.Thread(target=keep_interrupting, daemon=True).start()

    try:
        with pytest.raises(sqlite3.OperationalError, match="interrupted"):
            quick_check(path, opened=interrupt_until_checked)
    finally:
        checked.set()
