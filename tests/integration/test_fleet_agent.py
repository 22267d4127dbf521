"""An agent taking its checks from a real collector in-process (CONTRACT §5): it probes them,
keeps the answer on disk and probes from it while the collector is away, merges them with its
own file's checks (the file's winning, with a warning and a metric), and fails over between
collectors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from slawatch.agent.main import Agent
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from slawatch.config.schema import AgentConfig, Check, Config, Secret
from slawatch.config.sections.checks import check_from
from tests.support import async_wait_until, free_port
from tests.targets import HttpTargetServer, http_target

EU1 = "eu1-token-0123456789ab"


def collector_config(tmp_path: Path, target: HttpTargetServer, *, interval: str = "0.3s") -> Config:
    text = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  agents:
    - {{id: eu-1, token: {EU1}}}
    - {{id: us-1, token: {EU1[::-1]}}}
checks:
  - {{id: central-a, url: "{target.url("/ok?check=a")}", interval: {interval}}}
  - {{id: central-b, url: "{target.url("/ok?check=b")}", interval: {interval}}}
  - {{id: elsewhere, url: "{target.url("/ok?check=elsewhere")}", agents: [us-1]}}
"""
    return parse_config(text, base_dir=tmp_path, process="collector")


def agent_config(tmp_path: Path, collectors: list[str], **changes: object) -> AgentConfig:
    return AgentConfig(
        id="eu-1",
        collector=collectors[0],
        collectors=tuple(collectors),
        token=Secret(EU1),
        spool=tmp_path / "agent" / "eu-1-spool.db",
        checks_poll=float(changes.pop("checks_poll", 0.5)),  # type: ignore[arg-type]
        **changes,  # type: ignore[arg-type]
    )


@pytest.fixture
async def target() -> AsyncIterator[HttpTargetServer]:
    async with http_target() as server:
        yield server


def probed(target: HttpTargetServer, check: str) -> int:
    return sum(1 for r in target.requests if r.path_qs == f"/ok?check={check}")


async def test_an_agent_with_no_checks_probes_the_collector_s_and_then_from_its_cache(
    tmp_path: Path, target: HttpTargetServer
) -> None:
    collector = Collector(collector_config(tmp_path, target))
    await collector.start()
    config = agent_config(tmp_path, [collector.url])
    agent = Agent(config, (), registry=CollectorRegistry(), central=True)
    try:
        await agent.start()
        await async_wait_until(lambda: probed(target, "a") >= 2 and probed(target, "b") >= 2)
        assert probed(target, "elsewhere") == 0
        cache = json.loads(config.checks_cache.read_text())
        assert [c["id"] for c in cache["checks"]] == ["central-a", "central-b"]
        stored = await async_wait_until(collector.store.seen_checks, timeout=15)
        assert {c.id for c in stored} >= {"central-a"}
    finally:
        await agent.stop()
        await collector.stop()
    # the collector is gone: a new agent process probes from the answer kept on disk
    before = probed(target, "a")
    again = Agent(config, (), registry=CollectorRegistry(), central=True)
    with capture_logs() as logs:
        await again.start()
        try:
            await async_wait_until(lambda: probed(target, "a") >= before + 2)
            assert {c.id for c in again.checks} == {"central-a", "central-b"}
        finally:
            await again.stop()
    assert any(e["event"] == "central_checks_cached" for e in logs)


async def test_the_file_s_check_wins_over_a_different_central_one_with_a_warning(
    tmp_path: Path, target: HttpTargetServer
) -> None:
    collector = Collector(collector_config(tmp_path, target))
    await collector.start()
    local: tuple[Check, ...] = (
        check_from(
            {"id": "central-a", "url": target.url("/ok?check=local"), "interval": "0.3s"}, "t"
        ),
        check_from({"id": "central-b", "url": target.url("/ok?check=b"), "interval": "0.3s"}, "t"),
    )
    agent = Agent(agent_config(tmp_path, [collector.url]), local, central=True)
    try:
        with capture_logs() as logs:
            await agent.start()
            await async_wait_until(lambda: agent.central and agent.central.answer)
        assert [e["check"] for e in logs if e["event"] == "check_conflict"] == ["central-a"]
        conflict = agent.registry.get_sample_value
        assert conflict("slawatch_check_conflict", {"check": "central-a"}) == 1
        assert conflict("slawatch_check_conflict", {"check": "central-b"}) is None
        await async_wait_until(lambda: probed(target, "local") >= 2)
        assert probed(target, "a") == 0, "the central definition does not run here"
        assert [c.id for c in agent.checks] == ["central-a", "central-b"]
    finally:
        await agent.stop()
        await collector.stop()


async def test_pushes_and_polls_fail_over_to_the_next_collector(
    tmp_path: Path, target: HttpTargetServer
) -> None:
    collector = Collector(collector_config(tmp_path, target))
    await collector.start()
    dead = f"http://127.0.0.1:{free_port()}"
    agent = Agent(agent_config(tmp_path, [dead, collector.url]), (), central=True)
    try:
        with capture_logs() as logs:
            await agent.start()
            await async_wait_until(lambda: probed(target, "a") >= 1)
            seen = await async_wait_until(collector.store.seen_checks, timeout=15)
        assert {c.id for c in seen} & {"central-a", "central-b"}
        assert any(e["event"] == "collector_failover" and e["to"] == collector.url for e in logs)
        assert agent.shipper.collector == collector.url
    finally:
        await agent.stop()
        await collector.stop()
