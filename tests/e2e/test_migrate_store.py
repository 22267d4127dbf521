"""`slawatch migrate-store --config F --to URL` (CONTRACT §6): an SQLite store copied into an
empty PostgreSQL database. Killed with SIGKILL midway and run again, it copies nothing twice and
skips nothing: everything the PostgreSQL store then reads equals what the SQLite store reads."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from slawatch.collector.samples import SampleRow
from slawatch.collector.store import AlertChanges, NewNotification, OpenAlert, Store, create_store
from tests.postgres_cluster import Cluster
from tests.support import run_slawatch, start_slawatch, wait_until

HOUR_MS = 3_600_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % HOUR_MS
FOREVER = 2**62
CHECKS = ("web", "db", "dns")


def row(check: str, ts_ms: int, ok: bool) -> SampleRow:
    latency = 1 + ts_ms % 9973 / 10 if ok else None
    return SampleRow(ts_ms, ok, latency, 10_000, 200 if ok else 503, None if ok else "refused",
                     1000.0, 2000.0, None, 3000.0, 40.0, None, check, "http")  # fmt: skip


async def fill(store: Store) -> int:
    """Three days of three checks from two agents, outages included; a maintenance window, a
    notification, an open alert, a mark."""
    total = 0
    for agent in ("eu-1", "us-1"):
        for check in CHECKS:
            rows = [row(check, T0 + k * 10_000, k % 500 > 20) for k in range(0, 3 * 8640, 2)]
            for start in range(0, len(rows), 5000):
                await store.ingest(
                    agent, rows[start : start + 5000], labels={"r": agent}, now_ms=T0
                )
            total += len(rows)
    await store.add_maintenance(["shop"], T0, T0 + HOUR_MS, "kernel", created_ms=T0)
    down = NewNotification(
        "n-1", "ops", "down", '{"e": 1}', b"body", "{}", T0, T0, subject="check:web", run_ms=T0
    )
    await store.commit_alerts(
        AlertChanges(
            notifications=[down],
            opened=[OpenAlert("rule-1", "check:web", "state", '{"s": 1}')],
            marks=[("breach:shop:2026-11", T0)],
        )
    )
    await store.link_key()
    return total


async def view(database: Path | str) -> dict[str, Any]:
    store = create_store(database)
    await store.open()
    try:
        counts = await store.hourly_counts(list(CHECKS), 0, FOREVER)
        hours = sorted({hour for by_hour in counts.values() for hour in by_hour})
        return {
            "samples": await store.sample_count(),
            "runs": await store.runs(list(CHECKS), 0, FOREVER),
            "counts": counts,
            "histograms": [await store.latency_histograms(list(CHECKS), h, h + HOUR_MS) for h in hours],
            "latencies": sorted(await store.latency_values(list(CHECKS), 0, FOREVER)),
            "last": await store.last_samples(),
            "checks": await store.seen_checks(),
            "agents": await store.seen_agents(),
            "maintenance": await store.declared_maintenance(),
            "notifications": await store.notifications(),
            "open": await store.open_alerts(),
            "marks": await store.alert_marks(["breach:shop:2026-11"]),
            "key": await store.link_key(),
            "horizon": store.raw_horizon_ms,
        }  # fmt: skip
    finally:
        await store.close()


def write_config(folder: Path) -> Path:
    config = folder / "collector.yaml"
    config.write_text("collector:\n  database: data/collector.db\n", encoding="utf-8")
    return config


async def test_migrate_store_killed_midway_and_run_again_copies_everything_once(
    tmp_path: Path, postgres_cluster: Cluster
) -> None:
    config = write_config(tmp_path)
    source = tmp_path / "data" / "collector.db"
    sqlite_store = create_store(source)
    await sqlite_store.open()
    total = await fill(sqlite_store)
    await sqlite_store.close()
    target = postgres_cluster.new_database()
    admin = postgres_cluster.admin(target.rsplit("/", 1)[1])
    command = ["migrate-store", "--config", str(config), "--to", target, "--chunk-rows", "300"]

    def copied() -> int:
        try:
            return int(admin.fetch("SELECT COUNT(*) FROM samples")[0][0])
        except Exception:  # the command has not made its tables yet
            return 0

    process = start_slawatch(command)
    try:
        wait_until(lambda: copied() > 0 or process.poll() is not None, timeout=60, interval=0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    at_kill = copied()
    assert 0 < at_kill < total, (at_kill, total)

    result = run_slawatch(command, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "migrated" in result.stdout and "samples" in result.stdout
    assert copied() == total
    again = run_slawatch(command, timeout=120)
    assert again.returncode == 0 and "nothing left" in again.stdout, again.stdout + again.stderr

    before, after = await view(source), await view(target)
    for key in before:
        assert after[key] == before[key], key
    # and the copy is a working store: it takes new samples after the copied ones
    store = create_store(target)
    await store.open()
    try:
        result_ = await store.ingest("eu-1", [row("web", T0 + 3 * 86_400_000, True)], labels=None,
                                     now_ms=T0)  # fmt: skip
        assert result_.accepted == 1
    finally:
        await store.close()


def test_migrate_store_refuses_a_database_that_is_not_empty(
    tmp_path: Path, postgres_cluster: Cluster
) -> None:
    config = write_config(tmp_path)
    (tmp_path / "data").mkdir()
    target = postgres_cluster.new_database()
    name = target.rsplit("/", 1)[1]
    password_url = target.replace("postgres@", "postgres:pw-secret-123@")
    postgres_cluster.admin(name).execute("CREATE TABLE x (a int)")  # something, not slawatch's
    empty = run_slawatch(["migrate-store", "--config", str(config), "--to", password_url])
    assert empty.returncode == 1 and "no database at" in empty.stderr  # no SQLite store yet
    started = time.time()
    source = create_store(tmp_path / "data" / "collector.db")

    async def make() -> None:
        await source.open()
        await source.ingest("eu-1", [row("web", T0, True)], labels=None, now_ms=T0)
        await source.close()

    asyncio.run(make())
    other = create_store(target)

    async def occupy() -> None:
        await other.open()
        await other.ingest("eu-9", [row("api", T0, True)], labels=None, now_ms=T0)
        await other.close()

    asyncio.run(occupy())
    refused = run_slawatch(["migrate-store", "--config", str(config), "--to", password_url])
    assert refused.returncode == 2, refused.stderr
    assert "not empty" in refused.stderr and "pw-secret-123" not in refused.stderr
    assert "Traceback" not in refused.stderr and time.time() - started < 60


def test_migrate_store_refuses_a_store_left_with_late_samples_not_merged(
    tmp_path: Path, postgres_cluster: Cluster
) -> None:
    """A copy of the file and its WAL taken while late samples wait to be merged is what a
    kill -9 leaves: migrate-store says so instead of copying runs that miss them; once a
    collector opened and closed the store (merging them), it copies."""
    config = write_config(tmp_path)
    (tmp_path / "data").mkdir()
    live = tmp_path / "live.db"
    target = postgres_cluster.new_database()

    async def crash_copy() -> None:
        store = create_store(live)
        await store.open()
        try:
            await store.ingest("eu-1", [row("web", T0 + k * 10_000, True) for k in range(0, 20, 2)],
                               labels=None, now_ms=T0)  # fmt: skip
            await store.ingest("eu-1", [row("web", T0 + k * 10_000, k != 5) for k in range(1, 19, 2)],
                               labels=None, now_ms=T0)  # fmt: skip
            for suffix in ("", "-wal"):
                shutil.copy(f"{live}{suffix}", tmp_path / "data" / f"collector.db{suffix}")
        finally:
            await store.close()

    asyncio.run(crash_copy())
    refused = run_slawatch(["migrate-store", "--config", str(config), "--to", target])
    assert refused.returncode == 1, refused.stderr
    assert "9 late samples not merged" in refused.stderr and "Traceback" not in refused.stderr

    async def open_and_close() -> None:
        store = create_store(tmp_path / "data" / "collector.db")
        await store.open()
        await store.close()

    asyncio.run(open_and_close())
    copied = run_slawatch(["migrate-store", "--config", str(config), "--to", target])
    assert copied.returncode == 0, copied.stderr
    assert asyncio.run(view(target))["runs"] == asyncio.run(view(live))["runs"]
