"""Speed of the operator's overview (`GET /`) with 1,000 checks x 3 agents.

    .venv/bin/python bench/pages.py [--quick]

1,000 checks, each probed by 3 agents every 60 s for the last 30 minutes (90,000 samples; one
check in 20 failing, one agent in 50 silent for 20 minutes, so stale), 100 SLAs of 10 checks for
10 customers, pushed through the ingest API of a real collector; then through its HTTP server
with the admin token:
- `/` warm (the overview model cached, as between the page's reloads: what a refresh costs),
  with filters; cold (the model computed: summaries, daily figures, check states); and stale
  (new samples arrived since: the last model answers while a newer one is computed behind it);
- `/checks/{id}` of one check;
- baseline in the same process: `GET /api/v1/checks`, the same 1,000 checks x 3 agents as JSON.
Times are medians of loopback round trips, so they include HTTP; the goal is `/` warm <= 150 ms.
`--quick`: 200 checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from slawatch.collector.main import Collector
from slawatch.collector.pages.overview import OVERVIEW_CACHE
from slawatch.config.loader import parse_config
from slawatch.logs import configure_logging

ADMIN = "bench-admin-token-0123456789"
AGENTS = {f"agent-{n}": f"bench-agent-token-{n}-0123456789" for n in range(3)}
NOW_S = 1_794_225_600.0  # 2026-11-10T12:00:00Z
STEP_S = 60
SAMPLES = 30


class Clock:
    def __init__(self) -> None:
        self.now = NOW_S

    def __call__(self) -> float:
        return self.now


def config_text(checks: int) -> str:
    slas = [
        {"id": f"sla-{n}", "customer": f"customer-{n % 10}", "objective": 99.9,
         "checks": [f"check-{c}" for c in range(n * 10, min(n * 10 + 10, checks))]}
        for n in range(checks // 10)
    ]  # fmt: skip
    return json.dumps({
        "collector": {
            "listen": "127.0.0.1:0", "database": "data/bench.db", "admin_token": ADMIN,
            "agents": [{"id": a, "token": t} for a, t in AGENTS.items()],
            "customers": [{"id": f"customer-{n}", "token": f"bench-customer-token-{n}-000000"}
                          for n in range(10)],
        },
        "slas": slas,
    })  # fmt: skip


def batch(agent: int, checks: int) -> list[dict[str, Any]]:
    found = []
    for check in range(checks):
        silent = agent == 2 and check % 50 == 0
        for step in range(SAMPLES):
            ts = NOW_S - (SAMPLES - step) * STEP_S
            if silent and ts > NOW_S - 20 * 60:
                continue
            ok = check % 20 != 7
            found.append({
                "check": f"check-{check}", "ts": ts, "ok": ok, "interval_s": STEP_S,
                "latency_ms": 50.0 + agent * 10 + check % 7, "type": "http",
                "error": None if ok else "HTTP 503",
            })  # fmt: skip
    return found


async def timed(run: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 checks (a smoke run)")
    checks = 200 if parser.parse_args().quick else 1000
    configure_logging("warning")
    with tempfile.TemporaryDirectory() as folder:
        config = parse_config(config_text(checks), base_dir=Path(folder), process="collector")
        clock = Clock()
        collector = Collector(config, clock=clock)
        await collector.start()
        try:
            await measure(collector, clock, checks)
        finally:
            await collector.stop()


async def measure(collector: Collector, clock: Clock, checks: int) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession() as session:
        for number, (agent, token) in enumerate(AGENTS.items()):
            samples = batch(number, checks)
            for start in range(0, len(samples), 10_000):
                async with session.post(
                    f"{collector.url}/api/v1/samples",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"agent": agent, "samples": samples[start : start + 10_000]},
                ) as response:
                    assert response.status == 200, await response.text()

        async def get(path: str) -> int:
            async with session.get(f"{collector.url}{path}", headers=headers) as response:
                body = await response.read()
                assert response.status == 200, body[:300]
                return len(body)

        async def cold() -> None:
            collector.app[OVERVIEW_CACHE].clear()
            await get("/")

        size = await get("/")
        baseline = await timed(lambda: get("/api/v1/checks"), 15)
        warm = await timed(lambda: get("/"), 15)
        filtered = await timed(lambda: get("/?customer=customer-3&state=down"), 15)
        computed = await timed(cold, 5)
        check = await timed(lambda: get("/checks/check-7"), 10)

        async def stale() -> None:
            """New samples and 3 s later: the last model answers, a newer one is computed."""
            clock.now += 3
            async with session.post(
                f"{collector.url}/api/v1/samples",
                headers={"Authorization": f"Bearer {AGENTS['agent-0']}"},
                json={"agent": "agent-0", "samples": [{
                    "check": "check-1", "ts": clock.now - 1, "ok": True, "interval_s": STEP_S,
                    "latency_ms": 50.0}]},
            ) as response:  # fmt: skip
                assert response.status == 200
            started = time.perf_counter()
            await get("/")
            stale_times.append(time.perf_counter() - started)
            refreshing = collector.app[OVERVIEW_CACHE].refreshing
            if refreshing is not None:
                await refreshing

        stale_times: list[float] = []
        for _ in range(5):
            await stale()
        behind = statistics.median(stale_times)
    print(f"{checks} checks x 3 agents, {checks // 10} SLAs; / is {size // 1024} KiB")
    print(f"baseline GET /api/v1/checks     {baseline * 1000:7.1f} ms  1.00x")
    for name, seconds in [("GET / warm", warm), ("GET / filtered, warm", filtered),
                          ("GET / cold (model computed)", computed),
                          ("GET / stale, newer one behind", behind),
                          ("GET /checks/check-7", check)]:  # fmt: skip
        print(f"{name:<32}{seconds * 1000:7.1f} ms  {seconds / baseline:5.2f}x")
    print(f"goal: / warm <= 150 ms: {'met' if warm <= 0.150 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
