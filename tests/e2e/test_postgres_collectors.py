"""Two `slawatch collector` processes on one PostgreSQL database (CONTRACT §6): the same shuffled
trace pushed through both at once, every batch to both at the same time (so the same series is
written by two collectors concurrently, duplicates included), gives exactly the runs, rollups and
samples that one collector (SQLite, in time order) makes of it."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import aiohttp

from slawatch.collector.store import Store, create_store
from tests.postgres_cluster import Cluster
from tests.support import free_port, running_collector

ADMIN = "admin-token-0123456789-secret"
AGENT = "agent-token-0123456789-secret"
INTERVAL_S = 10
FOREVER = 2**62


def write_config(folder: Path, name: str, database: str, port: int) -> Path:
    config = folder / f"{name}.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: "{database}"
  admin_token: {ADMIN}
  agents: [{{id: eu-1, token: {AGENT}}}]
""",
        encoding="utf-8",
    )
    return config


def trace(now: float) -> list[dict[str, Any]]:
    """Two checks seen by one agent over two hours: outages, latencies of every size."""
    start = int(now) - 2 * 3600
    samples = []
    for check in ("web", "db"):
        for k in range(2 * 3600 // INTERVAL_S - 60):
            ok = k % 37 not in (5, 6, 7) and k % 101 != 50
            samples.append({
                "check": check, "ts": start + k * INTERVAL_S + (k % 7) / 1000, "ok": ok,
                "latency_ms": (1 + (k * 7919) % 3000 / 10) if ok else None,
                "interval_s": INTERVAL_S, "error": None if ok else f"refused {k % 3}",
                "status_code": 200 if ok else 503,
            })  # fmt: skip
    return samples


async def push(session: aiohttp.ClientSession, url: str, samples: list[dict[str, Any]]) -> None:
    async with session.post(
        f"{url}/api/v1/samples",
        json={"agent": "eu-1", "samples": samples},
        headers={"Authorization": f"Bearer {AGENT}"},
    ) as response:
        assert response.status == 200, await response.text()


async def everything(store: Store) -> dict[str, Any]:
    """What a store holds of the trace, through the store's reads."""
    runs = await store.runs(["web", "db"], 0, FOREVER)
    counts = await store.hourly_counts(["web", "db"], 0, FOREVER)
    hours = sorted({hour for by_hour in counts.values() for hour in by_hour})
    histograms = {
        check: [await store.latency_histograms([check], h, h + 3_600_000) for h in hours]
        for check in ("web", "db")
    }
    return {
        "runs": runs,
        "counts": counts,
        "histograms": histograms,
        "samples": await store.sample_count(),
        "latencies": sorted(await store.latency_values(["web", "db"], 0, FOREVER)),
        "last": await store.last_samples(),
        "checks": [(c.id, c.type, c.interval_ms) for c in await store.seen_checks()],
    }


async def read_store(database: Path | str) -> dict[str, Any]:
    store = create_store(database)
    await store.open_readonly()
    try:
        return await everything(store)
    finally:
        await store.close()


async def test_two_collectors_pushed_the_same_shuffled_trace_at_once_store_what_one_would(
    tmp_path: Path, postgres_cluster: Cluster
) -> None:
    shared = postgres_cluster.new_database()
    ports = [free_port() for _ in range(3)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    configs = [
        write_config(tmp_path, "a", shared, ports[0]),
        write_config(tmp_path, "b", shared, ports[1]),
        write_config(tmp_path, "alone", "alone/collector.db", ports[2]),
    ]
    samples = trace(time.time())
    shuffled = random.Random(17).sample(samples, k=len(samples))
    batches = [shuffled[i : i + 40] for i in range(0, len(shuffled), 40)]
    with (
        running_collector(configs[0], urls[0]),
        running_collector(configs[1], urls[1]),
        running_collector(configs[2], urls[2]),
    ):
        async with aiohttp.ClientSession() as session:
            await push(session, urls[2], sorted(samples, key=lambda s: s["ts"]))
            in_flight = asyncio.Semaphore(6)

            async def both(batch: list[dict[str, Any]]) -> None:
                async with in_flight:  # the same batch through both collectors at the same time
                    await asyncio.gather(
                        push(session, urls[0], batch), push(session, urls[1], batch)
                    )

            await asyncio.gather(*(both(batch) for batch in batches))
        shared_view = await read_store(shared)
        alone_view = await read_store(tmp_path / "alone" / "collector.db")
    assert shared_view["samples"] == len(samples)
    assert [r.ok for r in shared_view["runs"]["web"]["eu-1"]].count(False) > 10
    for key in alone_view:
        assert shared_view[key] == alone_view[key], key
