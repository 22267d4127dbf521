"""The agent's spool on real SQLite files: order, durability across reopen, bounds, dead letters."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from slawatch.agent.metrics import AgentMetrics
from slawatch.agent.sample import ProbeResult, Sample
from slawatch.agent.spool import Spool, SpoolError

NOW = 1_800_000_000.0


def sample(ts: float, check: str = "web", ok: bool = True) -> Sample:
    result = ProbeResult(ok=ok, latency_ms=12.5 if ok else None, error=None if ok else "refused")
    return Sample(check=check, ts=ts, interval_s=30.0, type="http", result=result)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_spool(tmp_path: Path, registry: CollectorRegistry) -> Callable[..., Spool]:
    metrics = AgentMetrics(registry)

    def make(**options: object) -> Spool:
        options.setdefault("wall_clock", lambda: NOW)
        options.setdefault("tick", 0.005)
        return Spool(tmp_path / "data" / "spool.db", metrics=metrics, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
async def spool(make_spool: Callable[..., Spool]) -> AsyncIterator[Spool]:
    spool = make_spool()
    await spool.open()
    yield spool
    await spool.close()


async def test_samples_come_back_newest_first_as_their_wire_json(spool: Spool) -> None:
    for ts in (NOW - 30, NOW - 10, NOW - 20):
        await spool.add(sample(ts))
    rows = await spool.newest(10)
    assert [row.ts for row in rows] == [NOW - 10, NOW - 20, NOW - 30]
    assert json.loads(rows[0].body) == sample(NOW - 10).to_json()
    assert [row.ts for row in await spool.newest(2)] == [NOW - 10, NOW - 20]
    assert spool.queued == 3


async def test_committed_samples_survive_a_reopen(make_spool: Callable[..., Spool]) -> None:
    first = make_spool()
    await first.open()
    await first.add(sample(NOW - 1, check="a"))
    await first.add(sample(NOW - 2, check="b"))
    await first.close()

    second = make_spool()
    await second.open()
    try:
        assert second.queued == 2
        assert second.new_samples.is_set(), "a reopened spool with samples wakes the shipper"
        assert [json.loads(r.body)["check"] for r in await second.newest(10)] == ["a", "b"]
    finally:
        await second.close()


async def test_samples_added_together_share_one_commit(spool: Spool) -> None:
    before = spool.write_transactions
    await asyncio.gather(*(spool.add(sample(NOW - i / 10)) for i in range(200)))
    assert spool.queued == 200
    assert len(await spool.newest(1000)) == 200
    assert spool.write_transactions - before <= 3
    assert spool.new_samples.is_set()


async def test_remove_deletes_only_the_acknowledged(spool: Spool) -> None:
    for i in range(5):
        await spool.add(sample(NOW - i))
    rows = await spool.newest(2)
    await spool.remove(row.id for row in rows)
    assert [row.ts for row in await spool.newest(10)] == [NOW - 2, NOW - 3, NOW - 4]
    assert spool.queued == 3
    await spool.remove(row.id for row in rows)
    assert spool.queued == 3, "removing twice counts nothing twice"


async def test_dead_letters_keep_the_reason_and_replay_back(
    spool: Spool, registry: CollectorRegistry
) -> None:
    for i in range(4):
        await spool.add(sample(NOW - i, check=f"c{i}"))
    rows = await spool.newest(10)
    moved = await spool.move_to_dead({rows[1].id: "ts: too old", rows[3].id: "check: bad id"})
    assert moved == 2
    assert (spool.queued, spool.dead) == (2, 2)
    assert registry.get_sample_value("slawatch_spool_dead_letter_samples") == 2
    assert registry.get_sample_value("slawatch_spool_samples") == 2
    dead = await spool.dead_letters()
    assert [(json.loads(d.body)["check"], d.reason) for d in dead] == [
        ("c1", "ts: too old"),
        ("c3", "check: bad id"),
    ]
    spool.new_samples.clear()
    assert await spool.replay_dead() == 2
    assert spool.new_samples.is_set()
    assert (spool.queued, spool.dead) == (4, 0)
    assert [r.ts for r in await spool.newest(10)] == [NOW, NOW - 1, NOW - 2, NOW - 3]
    assert await spool.dead_letters() == []


async def test_past_max_samples_the_oldest_are_dropped_counted_and_logged(
    make_spool: Callable[..., Spool], registry: CollectorRegistry
) -> None:
    spool = make_spool(max_samples=5)
    await spool.open()
    try:
        with capture_logs() as logs:
            for i in range(8):
                await spool.add(sample(NOW - 100 + i))
        assert [r.ts for r in await spool.newest(10)] == [NOW - 100 + i for i in (7, 6, 5, 4, 3)]
        assert spool.queued == 5
        dropped = {"reason": "max_samples"}
        assert registry.get_sample_value("slawatch_spool_dropped_samples_total", dropped) == 3
        events = [e for e in logs if e["event"] == "spool_dropped"]
        assert sum(e["samples"] for e in events) == 3
        assert {e["reason"] for e in events} == {"max_samples"}
    finally:
        await spool.close()


async def test_past_max_age_samples_are_dropped_on_add_and_on_open(
    make_spool: Callable[..., Spool], registry: CollectorRegistry
) -> None:
    now = [NOW]
    spool = make_spool(max_age=3600.0, wall_clock=lambda: now[0])
    await spool.open()
    await spool.add(sample(NOW - 4000))
    await spool.add(sample(NOW - 100))
    assert [r.ts for r in await spool.newest(10)] == [NOW - 100]
    await spool.close()

    now[0] = NOW + 3550
    reopened = make_spool(max_age=3600.0, wall_clock=lambda: now[0])
    await reopened.open()
    try:
        assert reopened.queued == 0
        assert await reopened.newest(10) == []
        dropped = {"reason": "max_age"}
        assert registry.get_sample_value("slawatch_spool_dropped_samples_total", dropped) == 2
    finally:
        await reopened.close()


async def test_close_commits_what_is_pending(make_spool: Callable[..., Spool]) -> None:
    spool = make_spool(tick=0.05)
    await spool.open()
    adds = [asyncio.create_task(spool.add(sample(NOW - i))) for i in range(3)]
    await asyncio.sleep(0)  # the adds are pending, not yet committed
    for task in adds:
        task.cancel()  # the probes that produced them are abandoned...
    await spool.close()  # ...but what reached the spool is committed
    reopened = make_spool()
    await reopened.open()
    try:
        assert reopened.queued == 3
    finally:
        await reopened.close()


async def test_a_spool_path_that_is_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "spool.db").mkdir()
    spool = Spool(tmp_path / "spool.db")
    with pytest.raises(SpoolError, match=r"cannot open the spool .*spool\.db"):
        await spool.open()


async def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    path.write_bytes(b"this is not a database, just some text" * 100)
    with pytest.raises(SpoolError, match=r"cannot open the spool .*not a database"):
        await Spool(path).open()
    assert path.read_bytes().startswith(b"this is not a database"), "never overwrites a file"


async def test_adding_to_a_closed_spool_fails_instead_of_hanging(
    make_spool: Callable[..., Spool],
) -> None:
    spool = make_spool()
    await spool.open()
    await spool.close()
    with pytest.raises(SpoolError, match="not open"):
        await asyncio.wait_for(spool.add(sample(NOW)), timeout=5)


async def test_the_file_is_in_wal_mode(spool: Spool) -> None:
    await spool.add(sample(NOW))
    with sqlite3.connect(spool.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_dead_letters_past_max_age_are_dropped_and_counted(
    make_spool: Callable[..., Spool], registry: CollectorRegistry
) -> None:
    now = [NOW]
    spool = make_spool(max_age=3600.0, wall_clock=lambda: now[0])
    await spool.open()
    try:
        await spool.add(sample(NOW - 3000))
        await spool.add(sample(NOW - 10))
        await spool.move_to_dead({r.id: "refused" for r in await spool.newest(10)})
        now[0] = NOW + 1000
        await spool.add(sample(NOW + 1000))
        assert spool.dead == 1
        assert [d.ts for d in await spool.dead_letters()] == [NOW - 10]
        dropped = {"reason": "dead_letter_max_age"}
        assert registry.get_sample_value("slawatch_spool_dropped_samples_total", dropped) == 1
    finally:
        await spool.close()
