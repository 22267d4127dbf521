"""`slawatch agent` as a process: kill -9 loses nothing spooled, SIGTERM exits promptly, and
`--replay-dead` resends the dead letters."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from slawatch.agent.sample import ProbeResult, Sample
from slawatch.agent.spool import Spool
from tests.collector_stub import CollectorStub
from tests.support import async_wait_until, free_port, start_slawatch, stop_process
from tests.targets import HttpTargetServer, http_target

TOKEN = "e2e-agent-token-3f9c"
ENV = {"SLAWATCH_E2E_TOKEN": TOKEN}
Key = tuple[str, float]


@pytest.fixture
async def target() -> AsyncIterator[HttpTargetServer]:
    async with http_target() as server:
        yield server


def write_config(folder: Path, collector_port: int, target: HttpTargetServer | None) -> Path:
    checks = (
        f"""
checks:
  - id: web
    url: {target.url("/ok")}
    interval: 200ms
  - id: web-down
    url: {target.url("/status/500")}
    interval: 200ms
"""
        if target
        else "checks: []\n"
    )
    path = folder / "agent.yaml"
    path.write_text(
        f"""
agent:
  id: eu-1
  collector: http://127.0.0.1:{collector_port}
  token: ${{SLAWATCH_E2E_TOKEN}}
  spool: data/spool.db
{checks}""",
        encoding="utf-8",
    )
    return path


def spooled_keys(spool: Path) -> set[Key]:
    """What is committed in the spool's queue, read from outside the agent (read-only)."""
    if not spool.exists():
        return set()
    with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
        try:
            rows = db.execute("SELECT json_extract(body, '$.check'), ts FROM queue").fetchall()
        except sqlite3.OperationalError as error:  # the agent is still creating the file
            assert "no such table" in str(error)
            return set()
    return {(check, ts) for check, ts in rows}


async def read_spool(spool: Path) -> set[Key]:
    return await asyncio.to_thread(spooled_keys, spool)


async def spooled_at_least(spool: Path, count: int) -> bool:
    return len(await read_spool(spool)) >= count


async def stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    return await asyncio.to_thread(stop_process, process, 15.0)


async def test_kill_9_loses_nothing_that_was_spooled(
    tmp_path: Path, target: HttpTargetServer
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, target)
    spool = tmp_path / "data" / "spool.db"

    agent = start_slawatch(["agent", "--config", str(config)], env=ENV)  # collector down
    try:
        await async_wait_until(lambda: spooled_at_least(spool, 15), timeout=20)
        before_kill = await read_spool(spool)
        agent.send_signal(signal.SIGKILL)
        await asyncio.to_thread(agent.wait, 10)
    finally:
        _, _, first_log = await stop(agent)
    assert agent.returncode == -signal.SIGKILL
    after_kill = await read_spool(spool)
    assert before_kill <= after_kill, "every committed sample survives kill -9"
    assert {check for check, _ in after_kill} == {"web", "web-down"}

    async with CollectorStub(token=TOKEN, port=port) as stub:
        agent = start_slawatch(["agent", "--config", str(config)], env=ENV)
        try:
            await async_wait_until(lambda: after_kill <= stub.sample_keys(), timeout=30)
        finally:
            code, _, log = await stop(agent)
    assert code == 0, log
    assert '"event": "agent_started"' in log and '"event": "agent_stopped"' in log
    assert TOKEN not in first_log + log, "the token is never logged"
    assert "Traceback" not in log


async def test_sigterm_exits_promptly_with_the_collector_down(
    tmp_path: Path, target: HttpTargetServer
) -> None:
    config = write_config(tmp_path, free_port(), target)
    spool = tmp_path / "data" / "spool.db"
    agent = start_slawatch(["agent", "--config", str(config)], env=ENV)
    try:
        await async_wait_until(lambda: spooled_at_least(spool, 5), timeout=20)
        agent.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(agent.wait, 15)  # raises TimeoutExpired if it hangs
    finally:
        _, _, log = await stop(agent)
    assert code == 0, log
    assert '"event": "push_failed"' in log
    assert '"event": "agent_stopped"' in log
    assert "Traceback" not in log
    assert len(await read_spool(spool)) >= 5, "what was spooled stays spooled"


async def test_replay_dead_resends_the_dead_letters(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, None)
    spool = Spool(tmp_path / "data" / "spool.db")
    await spool.open()
    sample = Sample("web", 1_800_000_000.5, 30.0, "http", ProbeResult(ok=True, latency_ms=9.0))
    await spool.add(sample)
    await spool.move_to_dead({row.id: "ts: in the future" for row in await spool.newest(1)})
    await spool.close()

    async with CollectorStub(token=TOKEN, port=port) as stub:
        agent = start_slawatch(["agent", "--config", str(config), "--replay-dead"], env=ENV)
        try:
            await async_wait_until(lambda: stub.samples, timeout=20)
        finally:
            code, _, log = await stop(agent)
    assert code == 0, log
    assert stub.samples == [sample.to_json()]
    assert '"event": "dead_letters_replayed"' in log and '"samples": 1' in log
