"""`GET /metrics` under many scrapes at once, and behind `collector.metrics_token` (issue 15, 3),
on a real server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from slawatch.collector.app import METRICS_REFRESHERS
from slawatch.collector.main import Collector
from slawatch.collector.metrics import CONCURRENT_SCRAPES
from slawatch.config.loader import parse_config
from tests.support import async_wait_until, auth

ADMIN = "admin-token-scrape-0123456789"
AGENT = "agent-token-scrape-0123456789"
METRICS_TOKEN = "metrics-token-scrape-0123456789"


def make(tmp_path: Path, extra: str = "") -> Collector:
    config = parse_config(
        f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {AGENT}}}
{extra}
""",
        base_dir=tmp_path,
        process="collector",
    )
    return Collector(config)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        yield client


async def test_many_scrapes_at_once_refresh_one_at_a_time_and_share_refreshes(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    collector = make(tmp_path)
    release = asyncio.Event()
    refreshing = 0
    peak = 0
    calls = 0

    async def slow_refresher(app: web.Application) -> None:
        """A gauge of state that takes long to compute, the first time."""
        nonlocal refreshing, peak, calls
        calls += 1
        refreshing += 1
        peak = max(peak, refreshing)
        await release.wait()
        refreshing -= 1

    collector.app[METRICS_REFRESHERS].append(slow_refresher)
    await collector.start()
    try:
        scrapes = [asyncio.create_task(session.get(f"{collector.url}/metrics")) for _ in range(100)]
        await async_wait_until(lambda: collector.connections.busy == 100 and calls >= 1)
        assert calls == 1  # the scrapes being answered wait for that one refresh
        release.set()
        answers = await asyncio.gather(*scrapes)
        assert [answer.status for answer in answers] == [200] * 100
        bodies = {await answer.read() for answer in answers}
        assert all(b"slawatch_http_requests_total" in body for body in bodies)
    finally:
        await collector.stop()
    assert peak == 1  # never two refreshes at once (before: 100, one per scrape)
    assert calls <= 100 - CONCURRENT_SCRAPES + 1  # those answered together shared one


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("wrong-token-0123456789", 401), (AGENT, 403), (METRICS_TOKEN, 200),
     (ADMIN, 200)],
    ids=["none", "unknown", "agent", "metrics", "admin"],
)  # fmt: skip
async def test_a_metrics_token_closes_metrics_to_all_but_it_and_the_admin(
    tmp_path: Path, session: aiohttp.ClientSession, token: str | None, status: int
) -> None:
    collector = make(tmp_path, f"  metrics_token: {METRICS_TOKEN}")
    await collector.start()
    try:
        headers = auth(token) if token else {}
        async with session.get(f"{collector.url}/metrics", headers=headers) as response:
            assert response.status == status
            if status == 401:
                assert response.headers["WWW-Authenticate"] == 'Bearer realm="slawatch"'
        # The metrics token opens nothing else.
        async with session.get(
            f"{collector.url}/api/v1/checks", headers=auth(METRICS_TOKEN)
        ) as response:
            assert response.status == 403
    finally:
        await collector.stop()


async def test_without_a_metrics_token_metrics_stay_open(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    collector = make(tmp_path)
    await collector.start()
    try:
        async with session.get(f"{collector.url}/metrics") as response:
            assert response.status == 200
            assert "slawatch_http_connections_limit" in await response.text()
    finally:
        await collector.stop()
