"""The SQLite store's own promises: its schema and migrations, WAL and its syncs, checkpoints in
the background, the ingest thread and group commit, the histogram encoding, backups."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from slawatch.collector.engine.latency import MAX_BUCKET, ZERO_BUCKET, latency_bucket
from slawatch.collector.engine.timeline import build_runs
from slawatch.collector.ingest.batch import phase_microseconds
from slawatch.collector.store import settling
from slawatch.collector.store.sqlite import SqliteStore, connections, ingest_transaction
from slawatch.collector.store.sqlite import ingest as sqlite_ingest
from slawatch.collector.store.sqlite.backup import backup_database
from slawatch.collector.store.sqlite.histograms import decode_histogram, encode_histogram
from slawatch.collector.store.sqlite.ingest_transaction import Rollup
from slawatch.collector.store.sqlite.migrations import MIGRATIONS
from tests.store.support import FOREVER, MINUTE, T0, every_other_minute, ingest, rollups, row
from tests.support import async_wait_until


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An SQLite store only (the contract suite's `store` runs on every backend)."""
    store = SqliteStore(tmp_path / "data" / "collector.db")
    await store.open()
    yield store
    await store.close()


async def test_migrations_are_numbered_applied_once_and_a_newer_schema_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.db"
    for _ in range(2):
        store = SqliteStore(path)
        await store.open()
        assert await store.schema_version() == len(MIGRATIONS)
        await store.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS) + 1,))
    with pytest.raises(RuntimeError, match="newer"):
        await SqliteStore(path).open()


async def test_migration_5_keeps_the_stored_phases_in_whole_microseconds(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with contextlib.closing(sqlite3.connect(path)) as db:  # a file of version 4
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, script in enumerate(MIGRATIONS[:4], 1):
            db.executescript(script)
            db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        db.execute("INSERT INTO series (id, check_id, agent) VALUES (1, 'web', 'eu-1')")
        db.executemany(  # phases in milliseconds, as version 4 kept them
            "INSERT INTO samples VALUES (1, ?, 1, 50.0, ?, 200, NULL, ?, ?, NULL, ?, ?, NULL)",
            [(T0, MINUTE, 1.2, 3.4, 58.1234567, 0.4),
             (T0 + MINUTE, MINUTE, None, None, None, None)],
        )  # fmt: skip
        db.commit()
    store = SqliteStore(path)
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        stored = db.execute(
            "SELECT dns_us, connect_us, tls_us, ttfb_us, transfer_us, latency_ms FROM samples"
            " ORDER BY ts_ms"
        ).fetchall()
    assert stored == [(1200, 3400, None, 58123, 400, 50.0), (None, None, None, None, None, 50.0)]


async def test_a_samples_phases_take_a_few_bytes_each_in_the_file(store: SqliteStore) -> None:
    """Whole microseconds are stored as integers of a few bytes; a float would take 8."""
    us = phase_microseconds
    timed = row(T0 + MINUTE)._replace(
        dns_us=us(1.2), connect_us=us(3.4), tls_us=us(21.0), ttfb_us=us(58.1234567),
        transfer_us=us(0.4),
    )  # fmt: skip
    await ingest(store, [row(T0)])
    bare = samples_payload_bytes(store)
    await ingest(store, [timed])
    assert samples_payload_bytes(store) - bare <= bare + 5 * 3


def samples_payload_bytes(store: SqliteStore) -> int:
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        (payload,) = db.execute("SELECT SUM(payload) FROM dbstat WHERE name = 'samples'").fetchone()
    return payload


async def test_readers_are_not_blocked_by_an_open_write_transaction(store: SqliteStore) -> None:
    await ingest(store, [row(T0)])
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("DELETE FROM samples")
        assert await asyncio.wait_for(store.sample_count(), timeout=5) == 1
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_backup_is_a_consistent_copy_while_writes_go_on(
    store: SqliteStore, tmp_path: Path
) -> None:
    await ingest(store, [row(T0 + i * 1000, interval_ms=1000) for i in range(1000)])
    writing = asyncio.create_task(
        ingest(store, [row(T0 + 2_000_000 + i * 1000, interval_ms=1000) for i in range(5000)])
    )
    out = tmp_path / "backup.db"
    await asyncio.to_thread(backup_database, store.path, out)
    await writing
    copy = SqliteStore(out)
    await copy.open()
    try:
        count = await copy.sample_count()
        assert count in (1000, 6000)
        runs = (await copy.runs(["web"], 0, FOREVER))["web"]["eu-1"]
        assert sum(r.samples for r in runs) == count
    finally:
        await copy.close()
    assert not out.with_name("backup.db.partial").exists()


def test_histograms_encode_and_decode_exactly() -> None:
    counts = {ZERO_BUCKET: 3, -50: 1, 0: 7, 233: 2**32 - 1, MAX_BUCKET: 1}
    assert decode_histogram(encode_histogram(counts)) == counts
    assert decode_histogram(encode_histogram({})) == {}


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=30),
        min_size=1,
        max_size=8,
    )
)
def test_an_hours_histogram_encodes_the_same_however_its_buckets_came_in(
    batches: list[list[float]],
) -> None:
    """A rollup's histogram takes new buckets last; `encode_histogram` puts them in order: the
    bytes are those of the counts in bucket order, batch after batch."""
    rollup = Rollup(T0, 0, 0, 0.0, {})
    seen: list[float] = []
    for latencies in batches:
        rollup.add([row(T0, latency=latency) for latency in latencies])
        seen += latencies
        expected = Counter(map(latency_bucket, seen))
        assert encode_histogram(rollup.histogram) == encode_histogram(
            dict(sorted(expected.items()))
        )
        assert rollup.histogram == expected
        assert decode_histogram(encode_histogram(rollup.histogram)) == expected


async def test_a_cancelled_push_is_committed_whole_and_the_next_one_follows_it(
    store: SqliteStore,
) -> None:
    """The transaction runs in the ingest thread: cancelling its caller (a client gone, a
    shutdown) cannot stop it halfway, and the caches must follow what it committed."""
    first = [row(T0 + i * MINUTE) for i in range(3000)]
    pushing = asyncio.create_task(ingest(store, first))
    await asyncio.sleep(0)  # the push takes the write lock and hands its batch to the thread
    pushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pushing
    assert await store.sample_count() == 3000
    assert await ingest(store, [row(T0 + 3000 * MINUTE, ok=False, latency=None)]) == (1, 0)
    runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
    assert [(r.start_ms, r.ok, r.samples) for r in runs] == [
        (T0, True, 3000),
        (T0 + 3000 * MINUTE, False, 1),
    ]


async def test_batches_queued_behind_a_commit_are_answered_if_the_committing_task_stops(
    store: SqliteStore,
) -> None:
    """One task feeds the ingest thread group after group; cancelled (the event loop stopping),
    it ends the transaction under way, and every batch still queued gets CancelledError: no
    caller waits for ever, and the next push starts a new task."""
    first = asyncio.create_task(ingest(store, [row(T0 + i * MINUTE) for i in range(3000)]))
    await asyncio.sleep(0)  # the first batch is in the ingest thread
    second = asyncio.create_task(ingest(store, [row(T0 + 3000 * MINUTE)]))
    await asyncio.sleep(0)  # the second one waits in the queue
    assert store._committer is not None
    store._committer.cancel()
    assert await first == (3000, 0)
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await store.sample_count() == 3000
    assert await ingest(store, [row(T0 + 3000 * MINUTE)]) == (1, 0)


async def test_a_database_sqlite_cannot_keep_in_wal_mode_is_refused_at_open() -> None:
    """A 200 rests on the WAL being synced: where SQLite answers another journal mode (here an
    in-memory database, as on a file system without WAL support), the store does not open."""
    store = SqliteStore(Path(":memory:"))
    with pytest.raises(sqlite3.OperationalError, match="cannot keep this database in WAL mode"):
        await store.open()


class HeldSync:
    """Stands for the WAL's sync (`connections.sync_data`): records the file of each call and
    holds it until released, as a slow disk would."""

    def __init__(self) -> None:
        self.files: list[int] = []
        self.released = threading.Event()

    def __call__(self, descriptor: int) -> None:
        self.files.append(os.fstat(descriptor).st_ino)
        if not self.released.wait(timeout=30):
            raise AssertionError("the sync was never released")


async def test_a_push_is_answered_once_the_wal_is_synced_and_the_next_one_is_written_meanwhile(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest commits leave the sync to a thread of its own: a caller gets its answer only
    once the WAL holding its batch is on disk, and the next batch is committed meanwhile."""
    sync = HeldSync()
    monkeypatch.setattr(connections, "sync_data", sync)
    first = asyncio.create_task(ingest(store, [row(T0)]))
    await async_wait_until(lambda: sync.files)
    second = asyncio.create_task(ingest(store, [row(T0 + MINUTE), row(T0, check="db")]))

    async def both_committed() -> bool:
        return await store.sample_count() == 3

    await async_wait_until(both_committed)
    assert not first.done() and not second.done()
    sync.released.set()
    assert await first == (1, 0)
    assert await second == (2, 0)
    assert set(sync.files) == {os.stat(f"{store.path}-wal").st_ino}
    assert len(sync.files) == 2


async def test_a_failed_sync_fails_the_push_and_the_next_one_goes_on(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that cannot sync: the push is answered with the error (its batch committed, it
    may be found stored: a retried push is idempotent), never with a success."""

    def failing_sync(_: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(connections, "sync_data", failing_sync)
    with pytest.raises(OSError, match="Input/output error"):
        await ingest(store, [row(T0)])
    monkeypatch.undo()
    assert await ingest(store, [row(T0), row(T0 + MINUTE)]) == (1, 1)


def samples_in_the_database_file(path: Path, copy: Path) -> int | None:
    """The samples the database file itself holds, its WAL left aside; None while it has no
    samples table yet (or a copy taken while a checkpoint writes it is torn)."""
    shutil.copyfile(path, copy)
    try:
        with contextlib.closing(sqlite3.connect(copy)) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM samples").fetchone()
    except sqlite3.DatabaseError:
        return None
    return int(count)


async def test_committed_batches_reach_the_database_file_in_the_background(
    store: SqliteStore, tmp_path: Path
) -> None:
    """Checkpoints run in a thread of their own while ingest commits: the WAL is far from the
    size at which SQLite would checkpoint in the ingest thread, yet the database file gets the
    batches."""
    await ingest(store, [row(T0), row(T0 + MINUTE)])
    copy = tmp_path / "copy.db"
    await async_wait_until(lambda: samples_in_the_database_file(store.path, copy) == 2)


async def test_a_failed_checkpoint_is_logged_and_tried_again(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_checkpoint, calls = connections.checkpoint_wal, []

    def failing_once(db: sqlite3.Connection | None) -> None:
        calls.append(db)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        real_checkpoint(db)

    monkeypatch.setattr(connections, "checkpoint_wal", failing_once)
    copy = tmp_path / "copy.db"
    with capture_logs() as logs:
        await ingest(store, [row(T0)])
        await async_wait_until(lambda: samples_in_the_database_file(store.path, copy) == 1)
    failures = [entry["error"] for entry in logs if entry["event"] == "wal_checkpoint_failed"]
    assert failures == ["disk I/O error"]
    assert len(calls) >= 2


async def test_the_store_closes_once_a_running_checkpoint_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_checkpoint, started, released = connections.checkpoint_wal, [], threading.Event()

    def held_checkpoint(db: sqlite3.Connection | None) -> None:
        started.append(db)
        if not released.wait(timeout=30):
            raise AssertionError("the checkpoint was never released")
        real_checkpoint(db)

    monkeypatch.setattr(connections, "checkpoint_wal", held_checkpoint)
    store = SqliteStore(tmp_path / "c.db")
    await store.open()
    await ingest(store, [row(T0)])
    await async_wait_until(lambda: started)
    closing = asyncio.create_task(store.close())
    await async_wait_until(lambda: store._checkpointer is None)  # close went past cancelling it
    assert not closing.done()  # it waits for the running checkpoint
    released.set()
    await closing
    assert not await asyncio.to_thread(os.path.exists, f"{store.path}-wal")
    assert samples_in_the_database_file(store.path, tmp_path / "copy.db") == 1


async def test_none_and_bools_are_stored_as_null_and_integers(store: SqliteStore) -> None:
    """The store registers adapters for None and bool (to bind them faster): what lands in the
    file is still what sqlite3 binds by default, NULL and 0 or 1."""
    failed = row(T0, ok=False, latency=None, error=None)
    await ingest(store, [row(T0 - MINUTE), failed])
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        stored = db.execute(
            "SELECT typeof(ok), ok, typeof(latency_ms), typeof(error), typeof(tls_us)"
            " FROM samples ORDER BY ts_ms"
        ).fetchall()
        runs = db.execute("SELECT typeof(ok), ok, typeof(error) FROM runs ORDER BY start_ms")
        assert runs.fetchall() == [("integer", 1, "null"), ("integer", 0, "null")]
    assert stored == [
        ("integer", 1, "real", "null", "null"),
        ("integer", 0, "null", "null", "null"),
    ]


def test_importing_the_store_changes_nothing_in_sqlite3_until_a_store_opens(tmp_path: Path) -> None:
    """The adapters that bind None and bools faster are process-wide in sqlite3: registered when
    a store opens, never as a side effect of an import."""
    script = """
import asyncio, sqlite3, sys
from pathlib import Path
import slawatch.collector.store, slawatch.collector.store.sqlite
from slawatch.collector.store import create_store
print("adapters:", sorted(t.__name__ for t, _ in sqlite3.adapters))
async def main():
    store = create_store(Path(sys.argv[1]))
    await store.open()
    await store.close()
asyncio.run(main())
print("adapters:", sorted(t.__name__ for t, _ in sqlite3.adapters))
"""
    found = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "a.db")],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    before, after = [line for line in found.stdout.splitlines() if line.startswith("adapters:")]
    assert "NoneType" not in before and "bool" not in before
    assert "NoneType" in after and "bool" in after


async def test_pruning_goes_in_chunks_of_the_rows_asked(store: SqliteStore) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(120)])
    now = T0 + 50 * MINUTE + 35 * 86_400_000
    deleted = await store.prune(now, raw_retention_ms=35 * 86_400_000,
                                rollup_retention_ms=400 * 86_400_000, chunk_rows=7)  # fmt: skip
    assert deleted == 50
    assert await store.sample_count() == 70


async def test_a_late_sample_left_out_of_a_pruned_run_is_logged(store: SqliteStore) -> None:
    await ingest(store, [row(T0 + i * MINUTE) for i in range(40)])
    await ingest(store, [row(T0 + i * MINUTE) for i in range(60, 70)])
    await store.prune(T0 + 50 * MINUTE + 35 * 86_400_000, raw_retention_ms=35 * 86_400_000,
                      rollup_retention_ms=400 * 86_400_000)  # fmt: skip
    late = T0 + 20 * MINUTE + 1
    with capture_logs() as logs:
        assert await ingest(store, [row(late, ok=False, latency=None)]) == (1, 0)
        await store.settled()  # late samples are merged into runs in batches
    left_out = [entry for entry in logs if entry["event"] == "late_sample_in_pruned_run"]
    assert [entry["ts_ms"] for entry in left_out] == [late]


def late_rows_table(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM late_samples").fetchone()[0])


@pytest.mark.parametrize("chunk", [3, ingest_transaction.SETTLE_CHUNK_SAMPLES])
async def test_late_samples_are_set_aside_counted_once_and_merged_before_any_read(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Merged a few series at a time (`chunk` samples) or all at once, in one transaction."""
    monkeypatch.setattr(ingest_transaction, "SETTLE_CHUNK_SAMPLES", chunk)
    newest, late = every_other_minute()
    checks = ("web", "db", "dns")
    for check in checks:
        on_time = [r._replace(check=check) for r in newest]
        assert await ingest(store, on_time) == (len(newest), 0)
    for check in checks:
        assert await ingest(store, [r._replace(check=check) for r in late[::-1]]) == (len(late), 0)
    assert late_rows_table(store.path) == 3 * len(late)  # stored, acknowledged, not merged yet
    assert await ingest(store, late[:5]) == (0, 5)  # a push sent again: duplicates
    runs = await store.runs(list(checks), 0, FOREVER)
    assert late_rows_table(store.path) == 0
    for check in checks:
        assert runs[check]["eu-1"] == build_runs(sorted(newest + late))
        counts, _ = await rollups(store, check)
        assert sum(count for count, _ in counts[check].values()) == len(newest) + len(late)


async def test_late_samples_are_merged_a_while_after_without_any_read(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 0.05)
    newest, late = every_other_minute()
    await ingest(store, newest)
    await ingest(store, late)
    await async_wait_until(lambda: late_rows_table(store.path) == 0)
    assert store._series.late_count == 0


async def test_a_merge_of_many_late_samples_ends_the_wait_of_the_reads_ahead_of_it(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 3600)
    newest, late = every_other_minute()
    await ingest(store, newest)
    await ingest(store, late[:5])
    with store.ahead_of_merge() as merged:  # the alert evaluator's reads
        assert merged is not None
    store.settle_samples = 6
    await ingest(store, late[5:])  # merged by the ingest, not by the timer nor by a read
    await async_wait_until(lambda: late_rows_table(store.path) == 0)
    await async_wait_until(merged.done)


async def test_a_read_ahead_while_the_timers_merge_is_under_way_goes_ahead_of_the_next_one(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    merge, under_way, go_on = sqlite_ingest.settle_late, threading.Event(), threading.Event()

    def held(db: sqlite3.Connection, pending: ingest_transaction.Pending) -> None:
        under_way.set()
        go_on.wait(10)
        merge(db, pending)

    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 0.05)
    monkeypatch.setattr(sqlite_ingest, "settle_late", held)
    newest, late = every_other_minute()
    await ingest(store, newest)
    await ingest(store, late[:5])
    await async_wait_until(under_way.is_set)  # the timer's merge: none is due now
    with store.ahead_of_merge() as merged:  # the alert evaluator's reads: they do not wait
        assert merged is not None
        assert (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"] == build_runs(newest)
    go_on.set()
    await async_wait_until(merged.done)  # by the timer's next merge, armed by the read
    assert late_rows_table(store.path) == 0


async def test_a_defect_in_a_timed_merge_is_logged_and_the_next_one_still_comes(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def defect(db: sqlite3.Connection, pending: ingest_transaction.Pending) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(settling, "SETTLE_AFTER_S", 0.05)
    newest, late = every_other_minute()
    await ingest(store, newest)
    with monkeypatch.context() as patched, capture_logs() as logs:
        patched.setattr(sqlite_ingest, "settle_late", defect)
        await ingest(store, late[:5])
        await async_wait_until(lambda: any(e["event"] == "late_samples_not_merged" for e in logs))
    assert logs[0]["log_level"] == "error" and "exc_info" in logs[0]
    await ingest(store, late[5:])
    await async_wait_until(lambda: late_rows_table(store.path) == 0)


async def test_a_merge_that_fails_is_logged_pushes_and_reads_go_on_and_the_next_merge_does_it(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(db: sqlite3.Connection, pending: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    store.settle_samples = 1  # merge after every push
    newest, late = every_other_minute()
    await ingest(store, newest)
    monkeypatch.setattr(sqlite_ingest, "settle_late", full_disk)
    with capture_logs() as logs:
        assert await ingest(store, late[:9]) == (9, 0)
        assert await ingest(store, late[9:]) == (len(late) - 9, 0)
        # A read goes on without them: what was merged, as if they had not arrived yet.
        runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
        assert runs == build_runs(newest)
    failed = [entry for entry in logs if entry["event"] == "late_samples_not_merged"]
    assert [(entry["error"], entry["count"]) for entry in failed] == [
        ("database or disk is full", 1)  # once a minute, counted
    ]
    assert late_rows_table(store.path) == len(late)
    monkeypatch.undo()
    runs = (await store.runs(["web"], 0, FOREVER))["web"]["eu-1"]
    assert runs == build_runs(sorted(newest + late))


async def test_late_samples_set_aside_when_the_collector_died_are_merged_at_the_next_open(
    tmp_path: Path,
) -> None:
    """A copy of the file and its WAL taken after the push was answered is what a kill -9 leaves
    on disk: a reader-only store says how many late samples it does not see, the next open
    merges them."""
    store = SqliteStore(tmp_path / "collector.db")
    await store.open()
    newest, late = every_other_minute()
    try:
        await ingest(store, newest)
        await ingest(store, late)
        (tmp_path / "crashed").mkdir()
        for name in ("collector.db", "collector.db-wal"):
            shutil.copy(tmp_path / name, tmp_path / "crashed" / name)
    finally:
        await store.close()
    assert late_rows_table(tmp_path / "collector.db") == 0  # merged at close
    crashed = tmp_path / "crashed" / "collector.db"
    reader = SqliteStore(crashed)
    with capture_logs() as logs:
        await reader.open_readonly()
    await reader.close()
    warned = [entry for entry in logs if entry["event"] == "late_samples_not_merged"]
    assert [entry["samples"] for entry in warned] == [len(late)]
    restarted = SqliteStore(crashed)
    await restarted.open()
    try:
        assert late_rows_table(crashed) == 0
        runs = (await restarted.runs(["web"], 0, FOREVER))["web"]["eu-1"]
        assert runs == build_runs(sorted(newest + late))
    finally:
        await restarted.close()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    limit=st.sampled_from([0, 2, 5, 10_000]),
    settle=st.sampled_from([1, sqlite_ingest.SETTLE_SAMPLES]),
)
def test_late_samples_give_the_runs_of_all_samples_however_few_runs_are_held_in_memory(
    seed: int, limit: int, settle: int
) -> None:
    """The runs of series with late samples are held in memory (`recent_runs`), as a suffix of
    each series' runs, within a limit: late samples before the first run held, series that left
    the memory and came back, and a restart all give the runs of the samples in time order,
    whether late samples are merged after each batch (`settle` 1) or in one go."""
    rnd = random.Random(seed)
    rows = []
    for check in ("web", "db"):
        ts, ok = T0, True
        for _ in range(rnd.randint(20, 90)):
            ok = ok if rnd.random() < 0.8 else not ok
            interval = rnd.choice((MINUTE, MINUTE, MINUTE // 4))
            rows.append(row(ts, ok, check=check, interval_ms=interval,
                            error=None if ok else f"e{ts}"))  # fmt: skip
            ts += interval * rnd.choice((1, 1, 1, 2, 3))
    newest_first = sorted(rows, key=lambda r: -r.ts_ms)
    cut = rnd.randint(1, len(rows))
    late = newest_first[cut:]
    batches = [newest_first[:cut][::-1]]
    while late:  # older and older, shuffled within each batch, some mixed with random ones
        size = rnd.randint(1, 12)
        batch, late = late[:size], late[size:]
        if late and rnd.random() < 0.3:
            batch.append(late.pop(rnd.randrange(len(late))))
        batches.append(rnd.sample(batch, len(batch)))

    async def scenario(folder: Path) -> None:
        store = SqliteStore(folder / "collector.db")
        await store.open()
        store._series.recent_runs.limit = limit
        store.settle_samples = settle
        try:
            for number, batch in enumerate(batches):
                await ingest(store, batch)
                if number == len(batches) // 2:
                    await store.close()
                    store = SqliteStore(folder / "collector.db")
                    await store.open()
                    store._series.recent_runs.limit = limit
                    store.settle_samples = settle
            assert store._series.recent_runs.size <= limit
            for check in ("web", "db"):
                mine = sorted((r for r in rows if r.check == check), key=lambda r: r.ts_ms)
                got = (await store.runs([check], 0, FOREVER))[check]["eu-1"]
                assert got == build_runs(mine)
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(scenario(Path(folder)))
