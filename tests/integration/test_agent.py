"""The whole agent in-process: real probes of local targets, a real spool, the stub collector."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from slawatch.agent.main import Agent
from slawatch.agent.sample import ProbeResult, Sample
from slawatch.agent.spool import Spool
from slawatch.config.schema import AgentConfig, Check, HostPort, Secret
from tests.collector_stub import CollectorStub
from tests.support import async_wait_until, free_port
from tests.targets import closed_port, http_check, http_target, tcp_check

INTERVAL = 0.3


@pytest.fixture
async def stub() -> AsyncIterator[CollectorStub]:
    async with CollectorStub() as stub:
        yield stub


@pytest.fixture
async def checks() -> AsyncIterator[list[Check]]:
    async with http_target() as target, closed_port() as port:
        yield [
            dataclasses.replace(
                http_check(target.url("/ok"), check_id="web", timeout=INTERVAL),
                interval=INTERVAL,
            ),
            dataclasses.replace(
                http_check(target.url("/status/503"), check_id="broken", timeout=INTERVAL),
                interval=INTERVAL,
            ),
            dataclasses.replace(
                tcp_check(port, check_id="db", timeout=INTERVAL), interval=INTERVAL
            ),
        ]


def agent_config(tmp_path: Path, stub: CollectorStub, **changes: object) -> AgentConfig:
    config = AgentConfig(
        id="eu-1",
        collector=stub.url,
        token=Secret(stub.token),
        spool=tmp_path / "data" / "eu-1-spool.db",
        labels={"region": "eu"},
    )
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


async def get_metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_probes_of_real_targets_reach_the_collector_and_show_in_metrics(
    tmp_path: Path, stub: CollectorStub, checks: list[Check]
) -> None:
    port = free_port()
    config = agent_config(tmp_path, stub, metrics_listen=HostPort("127.0.0.1", port))
    agent = Agent(config, checks)
    started = time.time()
    await agent.start()
    try:
        await async_wait_until(
            lambda: {s["check"] for s in stub.samples} == {"web", "broken", "db"}, timeout=15
        )
        await async_wait_until(
            lambda: (agent.registry.get_sample_value("slawatch_samples_pushed_total") or 0) >= 3
        )
        by_check = {s["check"]: s for s in stub.samples}
        assert by_check["web"]["ok"] is True and by_check["web"]["status_code"] == 200
        assert by_check["broken"]["ok"] is False and "503" in by_check["broken"]["error"]
        assert by_check["db"]["ok"] is False and by_check["db"]["type"] == "tcp"
        assert all(s["interval_s"] == INTERVAL for s in stub.samples)
        assert all(started - 1 <= s["ts"] <= time.time() for s in stub.samples)
        assert stub.batches[0]["agent"] == "eu-1"

        metrics = await get_metrics(port)
        assert metrics[("slawatch_probe_success", (("check", "web"),))] == 1
        assert metrics[("slawatch_probe_success", (("check", "broken"),))] == 0
        assert metrics[("slawatch_probe_success", (("check", "db"),))] == 0
        assert metrics[("slawatch_probe_duration_seconds", (("check", "web"),))] > 0
        assert ("slawatch_spool_samples", ()) in metrics
        assert metrics[("slawatch_spool_dead_letter_samples", ())] == 0
        assert abs(metrics[("slawatch_clock_skew_seconds", ())]) < 2
        assert metrics[("slawatch_schedule_lag_seconds_count", ())] >= 3
        assert metrics[("slawatch_samples_pushed_total", ())] >= 3
    finally:
        await agent.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await get_metrics(port)


async def test_embedded_agent_uses_the_given_registry_token_and_collector(
    tmp_path: Path, stub: CollectorStub, checks: list[Check]
) -> None:
    port = free_port()
    config = agent_config(
        tmp_path,
        stub,
        collector="http://127.0.0.1:9",
        token=Secret("not-this-one"),
        metrics_listen=HostPort("127.0.0.1", port),
    )
    registry = CollectorRegistry()
    agent = Agent(config, checks[:1], registry=registry, token=stub.token, collector_url=stub.url)
    await agent.start()
    try:
        await async_wait_until(lambda: stub.samples, timeout=15)
        assert registry.get_sample_value("slawatch_probe_success", {"check": "web"}) == 1
        with pytest.raises(aiohttp.ClientConnectionError):
            await get_metrics(port)  # the embedding process serves /metrics, not the agent
    finally:
        await agent.stop()


async def test_start_with_replay_dead_resends_the_dead_letters(
    tmp_path: Path, stub: CollectorStub
) -> None:
    config = agent_config(tmp_path, stub)
    spool = Spool(config.spool)
    await spool.open()
    refused = Sample("web", time.time() - 60, 30.0, "http", ProbeResult(ok=True, latency_ms=3.0))
    await spool.add(refused)
    await spool.move_to_dead({row.id: "ts: in the future" for row in await spool.newest(10)})
    await spool.close()

    agent = Agent(config, [])
    await agent.start()
    try:
        assert agent.spool.dead == 1 and stub.samples == []
    finally:
        await agent.stop()

    agent = Agent(config, [])
    await agent.start(replay_dead=True)
    try:
        await async_wait_until(lambda: stub.samples == [refused.to_json()])
        assert agent.spool.dead == 0
    finally:
        await agent.stop()


async def test_an_agent_without_a_token_is_refused(tmp_path: Path, stub: CollectorStub) -> None:
    with pytest.raises(ValueError, match=r"agent\.token"):
        Agent(agent_config(tmp_path, stub, token=None), [])
