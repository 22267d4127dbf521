"""Speed of customer status pages: 90 daily bars of several SLAs on a month of data.

    .venv/bin/python bench/status.py [--quick]

A month (November 2026) of 3 checks x 3 agents probed every 30 s (~780,000 samples) with 200
outages (then 2,000, many more state changes), and one customer with 6 SLAs of varied checks,
quorum, require, min_downtime, unknown, timezone and maintenance, now the month's last minute.
Through a real collector HTTP server:
- the page uncached (every request computes: summaries, 90 days x 6 SLAs, 14 days of
  incidents, maintenance, HTML) and cached, and the JSON twin uncached;
- baseline in the same process: `GET /api/v1/slas` of the same 6 SLAs (their current periods,
  which the page shows too).
In-process: `reports.daily_reports` (the 540 day figures from one read and shared timelines)
against the straightforward way, 540 reports one by one through `compute_from_store`.
The data is bench/report.py's (its `build`). Goal: the page uncached well under a second.
`--quick` uses a 120 s interval (a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
from report import NOW_MS, build, timed  # bench/report.py: the same month of data and timer

from slawatch.collector.main import Collector
from slawatch.collector.reports.build import compute_from_store
from slawatch.collector.reports.shared import daily_reports, last_days
from slawatch.collector.status.cache import STATUS_CACHE
from slawatch.collector.store import create_store
from slawatch.config.loader import parse_config
from slawatch.config.schema import Config
from slawatch.logs import configure_logging

ADMIN = "bench-admin-token-0123456789"
SLAS = [
    {"id": "shop", "checks": ["web", "api", "db"], "objective": 99.9, "min_downtime": "1m",
     "timezone": "Europe/Paris",
     "maintenance": [{"every": "sunday", "at": "02:00", "duration": "1h", "reason": "patching"}]},
    {"id": "web", "checks": ["web"], "objective": 99.95, "quorum": "any"},
    {"id": "api", "checks": ["api"], "objective": 99.5, "quorum": 2, "unknown": "down",
     "timezone": "America/New_York"},
    {"id": "data", "checks": ["api", "db"], "objective": 99.0, "require": "any",
     "period": "week"},
    {"id": "db", "checks": ["db"], "objective": 99.9, "quorum": "all", "min_downtime": "5m",
     "timezone": "Asia/Tokyo"},
    {"id": "front", "checks": ["web", "db"], "objective": 99.9, "unknown": "up",
     "period": "day", "maintenance": [{"every": "day", "at": "03:00", "duration": "15m"}]},
]  # fmt: skip


def config_text(database: Path) -> str:
    return json.dumps(
        {
            "collector": {
                "listen": "127.0.0.1:0",
                "database": str(database),
                "admin_token": ADMIN,
                "customers": [{"id": "acme", "name": "ACME", "public_status": True}],
            },
            "slas": [{**sla, "customer": "acme"} for sla in SLAS],
        }
    )


# --------------------------------------------------------------------------------- measuring


async def over_http(config: Config, repeat: int) -> dict[str, float]:
    collector = Collector(config, clock=lambda: NOW_MS / 1000)
    await collector.start()
    cache = collector.app[STATUS_CACHE]
    headers = {"Authorization": f"Bearer {ADMIN}"}
    try:
        async with aiohttp.ClientSession() as session:

            async def get(path: str, *, fresh: bool) -> None:
                if fresh:
                    cache.clear()
                async with session.get(f"{collector.url}{path}", headers=headers) as response:
                    assert response.status == 200, await response.text()
                    await response.read()

            return {
                "page, uncached": await timed(lambda: get("/status/acme", fresh=True), repeat),
                "page, cached": await timed(lambda: get("/status/acme", fresh=False), repeat),
                "JSON, uncached": await timed(
                    lambda: get("/api/v1/status/acme", fresh=True), repeat
                ),
                "baseline GET /api/v1/slas": await timed(
                    lambda: get("/api/v1/slas", fresh=False), repeat
                ),
            }
    finally:
        await collector.stop()


async def in_process(config: Config, repeat: int) -> dict[str, float]:
    store = create_store(config.collector.database)  # type: ignore[union-attr]
    await store.open()
    slas = config.slas
    try:

        async def naive() -> None:
            for sla in slas:
                for day in last_days(sla.timezone, NOW_MS, 90):
                    await compute_from_store(store, sla, day, NOW_MS, declared=(), latency=False)

        return {
            "daily_reports, 90 days x 6 SLAs": await timed(
                lambda: daily_reports(store, slas, 90, NOW_MS), repeat
            ),
            "baseline: 540 reports one by one": await timed(naive, max(1, repeat // 3)),
        }
    finally:
        await store.close()


async def scenario(folder: Path, *, interval_s: int, outage_count: int, repeat: int) -> None:
    database = folder / f"month-{outage_count}.db"
    started = time.perf_counter()
    samples = await build(database, interval_s=interval_s, outage_count=outage_count)
    print(f"\n{outage_count} outages, {samples:,} samples (built in "
          f"{time.perf_counter() - started:.0f} s)")  # fmt: skip
    config = parse_config(config_text(database), base_dir=folder, process="collector")
    http = await over_http(config, repeat)
    local = await in_process(config, repeat)
    base = http["baseline GET /api/v1/slas"]
    for name, seconds in http.items():
        print(f"  {name:34} {seconds * 1000:8.1f} ms   {seconds / base:6.2f} x /api/v1/slas")
    naive = local["baseline: 540 reports one by one"]
    for name, seconds in local.items():
        print(f"  {name:34} {seconds * 1000:8.1f} ms   {seconds / naive:6.3f} x one by one")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="120 s interval: a smoke run")
    args = parser.parse_args()
    interval_s, repeat = (120, 3) if args.quick else (30, 7)
    with tempfile.TemporaryDirectory() as folder:
        for outage_count in (200, 2000):
            await scenario(
                Path(folder), interval_s=interval_s, outage_count=outage_count, repeat=repeat
            )


if __name__ == "__main__":
    configure_logging("warning")
    asyncio.run(main())
