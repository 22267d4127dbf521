"""What scrapes of `/metrics` with 5,000 checks cost pushes and `/healthz` (issue 15, item 3).

    .venv/bin/python bench/metrics.py [--checks 5000] [--scrapers 100] [--seconds 10]

1. Fills a database with `--checks` checks, each seen by 2 agents a moment ago (5,000
   `slawatch_check_up` series), and starts `slawatch collector` on it as a separate process.
2. Baseline: for `--seconds`, 4 pushers each push a batch of 20 samples as soon as the previous
   one is answered, and `/healthz` is asked every 20 ms: latency of both (p50, p99, max).
3. The same while `--scrapers` clients scrape `/metrics` in a loop (100 scrapes at once, all
   the time): the same latencies, their ratio to the baseline, and scrapes answered per second.

Before the scrapes were coalesced and their state cached, 100 concurrent scrapes of 5,000 checks
held `/healthz` 2.5 s (issue 15). The machine is shared: compare the ratios, not the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from slawatch.collector.samples import SampleRow
from slawatch.collector.store import create_store

ADMIN = "bench-admin-token-0123456789"
PUSHER = "bench-agent-token-0123456789"
PUSHERS = 4
PUSH_BATCH = 20
HEALTH_EVERY_S = 0.02
SEEN_INTERVAL_MS = 600_000
"""The seeded checks' interval: their state stays known for the whole bench."""


@dataclass(frozen=True, slots=True)
class Latencies:
    label: str
    seconds: list[float]

    def quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def row(self) -> str:
        p50, p99 = self.quantile(0.5), self.quantile(0.99)
        top = max(self.seconds, default=float("nan"))
        return (
            f"{self.label:<24} n={len(self.seconds):>6}  p50 {p50 * 1000:8.1f} ms"
            f"  p99 {p99 * 1000:8.1f} ms  max {top * 1000:8.1f} ms"
        )


async def seed(database: Path, checks: int) -> None:
    store = create_store(database)
    await store.open()
    now_ms = round(time.time() * 1000)
    try:
        for agent in ("seed-1", "seed-2"):
            rows = [
                SampleRow(now_ms - 5_000, i % 50 != 0, 12.0, SEEN_INTERVAL_MS, 200, None,
                          None, None, None, None, None, None, f"check-{i:05d}", "http")
                for i in range(checks)
            ]  # fmt: skip
            await store.ingest(agent, rows, labels=None, now_ms=now_ms)
    finally:
        await store.close()


def start_collector(folder: Path, port: int) -> subprocess.Popen[bytes]:
    config = folder / "collector.yaml"
    config.write_text(
        json.dumps(
            {
                "collector": {
                    "listen": f"127.0.0.1:{port}",
                    "database": str(folder / "bench.db"),
                    "admin_token": ADMIN,
                    "agents": [{"id": "pusher", "token": PUSHER}],
                }
            }
        ),
        encoding="utf-8",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "slawatch.cli", "--log-level", "warning", "collector",
         "--config", str(config)],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def wait_healthy(session: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the collector did not start")


class Pushes:
    """Distinct samples for every push: (pusher, sequence) → ts."""

    def __init__(self) -> None:
        self.sequence = 0
        self.base = time.time() - 3600

    def body(self) -> bytes:
        self.sequence += 1
        samples = [
            {"check": "pushed", "ts": round(self.base + self.sequence * 0.05 + i * 0.001, 3),
             "ok": True, "latency_ms": 10.0, "interval_s": 60}
            for i in range(PUSH_BATCH)
        ]  # fmt: skip
        return json.dumps({"agent": "pusher", "samples": samples}).encode()


async def phase(
    session: aiohttp.ClientSession, url: str, seconds: float, scrapers: int, pushes: Pushes
) -> tuple[Latencies, Latencies, int]:
    """Pushes and health checks for `seconds`, with `scrapers` scraping all along."""
    stop = asyncio.Event()
    push_s: list[float] = []
    health_s: list[float] = []
    scraped = 0
    headers = {"Authorization": f"Bearer {PUSHER}", "Content-Type": "application/json"}

    async def push_loop() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.post(
                f"{url}/api/v1/samples", data=pushes.body(), headers=headers
            ) as response:
                await response.read()
                assert response.status == 200, response.status
            push_s.append(time.perf_counter() - started)

    async def health_loop() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(f"{url}/healthz") as response:
                await response.read()
            health_s.append(time.perf_counter() - started)
            await asyncio.sleep(HEALTH_EVERY_S)

    async def scrape_loop() -> None:
        nonlocal scraped
        while not stop.is_set():
            async with session.get(f"{url}/metrics") as response:
                body = await response.read()
                assert response.status == 200 and b"slawatch_check_up" in body
            scraped += 1

    tasks = [asyncio.create_task(push_loop()) for _ in range(PUSHERS)]
    tasks.append(asyncio.create_task(health_loop()))
    tasks += [asyncio.create_task(scrape_loop()) for _ in range(scrapers)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    label = f"{scrapers} scrapers" if scrapers else "baseline"
    return Latencies(f"push, {label}", push_s), Latencies(f"/healthz, {label}", health_s), scraped


async def run(checks: int, scrapers: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        await seed(folder / "bench.db", checks)
        port = 18000 + (int(time.time()) % 2000)
        url = f"http://127.0.0.1:{port}"
        collector = start_collector(folder, port)
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                await wait_healthy(session, url)
                async with session.get(f"{url}/metrics") as response:
                    text = await response.text()
                series = text.count("\nslawatch_check_up{")
                print(f"{checks} checks, {series} slawatch_check_up series, {len(text)} bytes")
                pushes = Pushes()
                base_push, base_health, _ = await phase(session, url, seconds, 0, pushes)
                push, health, scraped = await phase(session, url, seconds, scrapers, pushes)
        finally:
            collector.terminate()
            collector.wait(timeout=30)
    for row in (base_push, push, base_health, health):
        print(row.row())
    for name, base, loaded in (("push", base_push, push), ("/healthz", base_health, health)):
        p50 = loaded.quantile(0.5) / base.quantile(0.5)
        p99 = loaded.quantile(0.99) / base.quantile(0.99)
        print(f"{name:<9} with scrapes / baseline:  p50 x{p50:.2f}  p99 x{p99:.2f}")
    print(f"scrapes answered: {scraped} in {seconds:g} s ({scraped / seconds:.1f}/s)")
    print(
        f"pushes answered: {len(base_push.seconds)} baseline, {len(push.seconds)} with scrapes"
        f" (x{len(push.seconds) / max(1, len(base_push.seconds)):.2f});"
        f" mean push {statistics.fmean(push.seconds) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--scrapers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if min(args.checks, args.scrapers) < 1 or args.seconds <= 0:
        parser.error("--checks and --scrapers must be at least 1, --seconds more than 0")
    asyncio.run(run(args.checks, args.scrapers, args.seconds))


if __name__ == "__main__":
    main()
