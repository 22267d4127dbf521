"""Fixtures of the shipper's tests: a stub collector on 127.0.0.1, a real spool file, metrics,
and shippers started with a fast pace (`start_shipper(**options)`), stopped at the end.

A test module imports the fixtures it uses by name (pytest finds them in its namespace).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from slawatch.agent.metrics import AgentMetrics
from slawatch.agent.pacing import Backoff, Pacing
from slawatch.agent.sample import ProbeResult, Sample
from slawatch.agent.shipper import Shipper
from slawatch.agent.spool import Spool
from tests.collector_stub import CollectorStub

NOW = time.time()
FAST_BACKOFF = Backoff(base=0.01, cap=0.05)


def sample(ts: float, check: str = "web", *, ok: bool = True, interval: float = 30.0) -> Sample:
    result = ProbeResult(ok=ok, latency_ms=5.0, status_code=200 if ok else 503)
    return Sample(check, ts, interval, "http", result)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> AgentMetrics:
    return AgentMetrics(registry)


@pytest.fixture
async def stub() -> AsyncIterator[CollectorStub]:
    async with CollectorStub() as stub:
        yield stub


@pytest.fixture
async def spool(tmp_path: Path, metrics: AgentMetrics) -> AsyncIterator[Spool]:
    spool = Spool(tmp_path / "spool.db", metrics=metrics, tick=0.005)
    await spool.open()
    yield spool
    await spool.close()


@pytest.fixture
async def start_shipper(
    spool: Spool, stub: CollectorStub, metrics: AgentMetrics
) -> AsyncIterator[Callable[..., asyncio.Future[Shipper]]]:
    shippers: list[Shipper] = []

    async def start(**options: object) -> Shipper:
        options.setdefault("pacing", Pacing(window=0.01, backoff=FAST_BACKOFF))
        options.setdefault("collector_url", stub.url)
        shipper = Shipper(
            spool,
            agent_id="eu-1",
            token=stub.token,
            labels={"region": "eu"},
            metrics=metrics,
            **options,  # type: ignore[arg-type]
        )
        await shipper.start()
        shippers.append(shipper)
        return shipper

    yield start  # type: ignore[misc]
    for shipper in shippers:
        await shipper.stop()


async def fill(spool: Spool, count: int, check: str = "web") -> list[float]:
    stamps = [NOW - 3600 + i * 0.5 for i in range(count)]
    await asyncio.gather(*(spool.add(sample(ts, check)) for ts in stamps))
    return stamps
