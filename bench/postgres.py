"""The PostgreSQL store (issue 17), each figure against a baseline measured in the same run.

    .venv/bin/python bench/postgres.py [--samples 200000] [--kills 10] [--quick]
                                       [--parts ingest,report,failover]

Starts a throwaway PostgreSQL cluster (as the tests do, `tests/postgres_cluster.py`: fsync off,
so the figures are of slawatch and PostgreSQL's work, not of this machine's disk), then:
1. Ingest through HTTP: 4 agents, 1,000-sample batches, all at once, into `slawatch collector`
   on PostgreSQL, samples in time order, then shuffled within each batch, then shuffled within
   each day (every batch late for every series: set aside, merged in bulk); baseline: COPY of
   the very same rows into a bare table of the same columns, one transaction per batch, 4
   connections at once (the raw ceiling). Goal >= 0.5 of it. Each rate counts until a read
   after the last push has returned (a read waits for the late samples to be merged).
2. The same pushes (time order) split over two collectors on the same database, against one.
3. The month report over ~780,000 samples (bench/report.py's month: 3 checks x 3 agents every
   30 s), warm, read from PostgreSQL; baseline: the same report from SQLite. Goal <= 100 ms.
4. Leader failover: two collectors, the leader killed with SIGKILL `--kills` times; the time
   until the other says `slawatch_alert_leader 1` (median). Goal well under 15 s.

Figures (2026-12-08, past midnight; 800,000 samples; big gzip batches judged in a worker by
their inflated size, alert passes reading ahead of merges), 3 runs: COPY ceiling 249k, 344k,
285k/s; time order 54.9k, 56.4k, 43.5k/s = 0.22, 0.16, 0.15 of it; shuffled within each batch
0.96, 1.03, 0.96x time order; a day shuffled 21.0k, 21.4k, 19.4k/s = 0.38, 0.38, 0.45 (the
same tree in a scratch copy of this script, time order and a day only: 0.48, against 0.46 for
the tree before both changes and 0.45 before this day's evening, in one sitting); two
collectors 0.90, 1.11, 1.12x one (one collector now has a worker process on the machine's
second core, which the second collector used to show).

Figures (2026-12-07, late evening, load average 1.3-2; 800,000 samples; after late samples
were set aside and merged in bulk on PostgreSQL too), 3 runs: COPY ceiling 252k, 329k, 418k/s;
HTTP ingest in time order 49.9k, 55.6k, 45.7k/s = 0.20, 0.17, 0.11 of it (goal 0.5: not met);
shuffled within each batch 1.19, 1.00, 1.06x time order; shuffled over each day 22.7k, 24.9k,
25.3k/s = 0.46, 0.45, 0.55 of time order (median 0.46; goal 0.5: met in one run of three);
two collectors 1.22, 1.42, 1.59x one. Three more runs after late samples were looked up in
`samples` only: COPY 389k, 353k, 382k/s; time order 46.9k, 59.8k, 56.3k/s; a day shuffled
22.4k, 24.5k, 22.6k/s = 0.48, 0.41, 0.40 of time order; two collectors 1.39, 1.42, 1.28x (over
the 6 runs: a day shuffled median 0.46, time order median 53k/s, two collectors median 1.40x).
The tree before it (bench/against), 800,000 samples:
a day shuffled 14.4k/s = 0.31 of time order (46.0k/s), the collector's CPU 52.5 us a late-order
sample and the server's 69.7 (after: 24-28 and 31; in time order 18 and 10).

Figures (2026-12-07, evening, load average 1.2-1.5; 200,000 samples; after merge_late was made
one pass): COPY ceiling 367k/s; HTTP ingest in time order 45.3k/s = 0.12 of it (goal 0.5: not
met), shuffled within each batch 0.97x time order, shuffled over each day 13.9k/s = 0.31 of
time order (6.6k/s before; goal 0.5: not met: late samples are still merged with their batch
here, SQLite sets them aside and merges them in bulk); two collectors 74.8k/s = 1.65x one
(goal 1.6x: met in this run, 0.77x-1.9x in earlier ones on this shared machine).

Figures (2026-12-07, later: 2 cores shared with four other sessions' work, load average 4-7;
200,000 samples; the tree before this session's ingest changes run with this script through
bench/against, then this tree, one after the other):
- COPY ceiling 160k/s then 249k/s (the machine's speed drifts); HTTP ingest in time order
  25.9k/s -> 40.0k/s = 0.16 of it both times (goal 0.5: not met), shuffled within each batch
  1.1x time order (no cliff), shuffled over each day (every batch late for every series) 3.7k/s
  -> 6.6k/s = 0.14 -> 0.16 of time order (goal 0.5: not met). In process, 4 agents, the day
  shuffled: 4.9k -> 8.3k/s, in time order 38k -> 91k/s (the store's CPU 9.5 -> 5.5 us a sample,
  the server's 11.4 -> 7.1). What limits: the collector's own work per sample (HTTP, validation
  in its worker, the store's Python) on the two cores the server also needs; a late sample
  also rewrites its run and its hour's rollup (the server: ~50 us a sample, ~7 in time order).
- month report over 777,600 samples, warm: PostgreSQL 50.2 ms, SQLite 60.4 ms in the same run
  (in process, 30 s interval: 34-35 ms against 31-36 ms, with or without ANALYZE; with a cold
  latency cache 0.36-0.42 s, 0.9-1.6 s without statistics before the series were looked up
  first).
- leader failover after SIGKILL, 10 kills (an earlier run): median 1.90 s (1.66 to 1.97): the
  next try of the lock (every 2 s) after the server dropped the dead connection.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import importlib.util
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slawatch.collector.store import create_store  # noqa: E402
from tests.postgres_cluster import Cluster, running_cluster  # noqa: E402
from tests.support import free_port  # noqa: E402

AGENTS = 4
BATCH = 1000
CHECKS_PER_AGENT = 50
TOKEN = "bench-agent-token-"
ADMIN = "bench-admin-token-0123456789"
PARTS = ("ingest", "report", "failover")
COLUMNS = ("series", "ts_ms", "ok", "latency_ms", "interval_ms", "status_code", "error", "dns_us",
           "connect_us", "tls_us", "ttfb_us", "transfer_us", "tls_expires")  # fmt: skip


def agent_samples(agent: int, count: int, start: float) -> list[dict[str, Any]]:
    rows = []
    for k in range(count):
        check, step = k % CHECKS_PER_AGENT, k // CHECKS_PER_AGENT
        ok = (k * 7919) % 97 != 0
        rows.append({
            "check": f"a{agent}-check-{check}", "ts": round(start + step * 60 + check * 0.01, 3),
            "ok": ok, "latency_ms": 20 + (k * 31) % 400 if ok else None, "interval_s": 60,
            "status_code": 200 if ok else 503, "error": None if ok else "HTTP 503",
            "phases_ms": {"dns": 1.0, "connect": 2.0, "ttfb": 15.0, "transfer": 0.5},
        })  # fmt: skip
    return rows


def batches(samples: list[dict[str, Any]], shuffle: bool, seed: int) -> list[list[dict[str, Any]]]:
    found = [samples[i : i + BATCH] for i in range(0, len(samples), BATCH)]
    if shuffle:
        rng = random.Random(seed)
        found = [rng.sample(batch, k=len(batch)) for batch in found]
    return found


def day_shuffled(samples: list[dict[str, Any]], seed: int) -> list[list[dict[str, Any]]]:
    """`samples` (in time order) shuffled within each day of the trace, then cut into batches:
    every batch late for every series (a history import, a foreign client), as
    bench/ingest.py's `shuffled` order."""
    rng = random.Random(seed)
    per_day = CHECKS_PER_AGENT * 1440
    mixed: list[dict[str, Any]] = []
    for first in range(0, len(samples), per_day):
        mixed += rng.sample(
            samples[first : first + per_day], k=len(samples[first : first + per_day])
        )
    return batches(mixed, False, seed)


def bodies(agent: int, found: list[list[dict[str, Any]]]) -> list[bytes]:
    return [gzip.compress(json.dumps({"agent": f"a{agent}", "samples": b}).encode(), 1)
            for b in found]  # fmt: skip


# ------------------------------------------------------------------------------ the baseline


async def copy_ceiling(cluster: Cluster, per_agent: list[list[list[dict[str, Any]]]]) -> float:
    """Samples/s of COPY of the same rows into a bare table, a transaction per batch, one
    connection per agent, all at once."""
    url = cluster.new_database()
    setup = await asyncpg.connect(url)
    await setup.execute(
        "CREATE TABLE bare (series INT, ts_ms BIGINT, ok BOOLEAN, latency_ms FLOAT8,"
        " interval_ms BIGINT, status_code INT, error TEXT, dns_us FLOAT8, connect_us FLOAT8,"
        " tls_us FLOAT8, ttfb_us FLOAT8, transfer_us FLOAT8, tls_expires FLOAT8,"
        " PRIMARY KEY (series, ts_ms))"
    )
    await setup.close()

    def records(agent: int, batch: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(agent * 1000 + int(s["check"].rsplit("-", 1)[1]), round(s["ts"] * 1000), s["ok"],
                 s["latency_ms"], 60_000, s["status_code"], s["error"], 1000.0, 2000.0, None,
                 15000.0, 500.0, None) for s in batch]  # fmt: skip

    prepared = [[records(a, b) for b in agent_batches] for a, agent_batches in enumerate(per_agent)]

    async def one(rows_of: list[list[tuple[Any, ...]]]) -> None:
        db = await asyncpg.connect(url)
        try:
            for rows in rows_of:
                async with db.transaction():
                    await db.copy_records_to_table("bare", records=rows, columns=COLUMNS)
        finally:
            await db.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(p) for p in prepared))
    took = time.perf_counter() - started
    return sum(len(b) for p in prepared for b in p) / took


# ------------------------------------------------------------------------------- collectors


def collector_config(folder: Path, name: str, port: int, database: str) -> Path:
    agents = "\n".join(f"    - {{id: a{a}, token: {TOKEN}{a}-0123456789}}" for a in range(AGENTS))
    config = folder / f"{name}.yaml"
    config.write_text(
        f'collector:\n  listen: 127.0.0.1:{port}\n  database: "{database}"\n'
        f"  admin_token: {ADMIN}\n  max_sample_age: 400d\n  agents:\n{agents}\n"
        "alerts:\n  channels:\n    - {id: hook, type: webhook, url: 'http://127.0.0.1:9/x',"
        " secret: bench-secret-0123456789}\n"
        "  rules:\n    - {checks: ['*'], channels: [hook]}\n",
        encoding="utf-8",
    )
    return config


def start_collector(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "slawatch.cli", "--log-level", "error", "collector",
         "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def wait_healthy(session: aiohttp.ClientSession, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


async def push_all(urls: list[str], per_agent: list[list[bytes]]) -> float:
    """Samples/s of every agent's bodies pushed at once, agent i to urls[i % len(urls)]."""
    async with aiohttp.ClientSession() as session:

        async def agent(index: int, found: list[bytes]) -> None:
            url = urls[index % len(urls)]
            headers = {"Authorization": f"Bearer {TOKEN}{index}-0123456789",
                       "Content-Encoding": "gzip", "Content-Type": "application/json"}  # fmt: skip
            for body in found:
                while True:
                    async with session.post(
                        f"{url}/api/v1/samples", data=body, headers=headers
                    ) as r:
                        if r.status == 200:
                            break
                        if r.status not in (429, 503):
                            raise RuntimeError(f"push refused: {r.status} {await r.text()}")
                    await asyncio.sleep(0.05)

        started = time.perf_counter()
        await asyncio.gather(*(agent(i, b) for i, b in enumerate(per_agent)))
        return time.perf_counter() - started


async def read_checks(url: str) -> float:
    """Seconds `GET /api/v1/checks` takes: a read waits for the late samples set aside to be
    merged, so the rates count the whole of the work."""
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.get(
            f"{url}/api/v1/checks", headers={"Authorization": f"Bearer {ADMIN}"}
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"read refused: {response.status} {await response.text()}")
            await response.read()
        return time.perf_counter() - started


async def ingest_rate(cluster: Cluster, folder: Path, per_agent: list[list[bytes]],
                      collectors: int, total: int) -> float:  # fmt: skip
    database = cluster.new_database()
    ports = [free_port() for _ in range(collectors)]
    configs = [collector_config(folder, f"c{i}-{time.monotonic_ns()}", port, database)
               for i, port in enumerate(ports)]  # fmt: skip
    processes = [start_collector(config) for config in configs]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        async with aiohttp.ClientSession() as session:
            for url in urls:
                await wait_healthy(session, url)
        took = await push_all(urls, per_agent)
        took += await read_checks(urls[0])
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
    return total / took


# ---------------------------------------------------------------------------------- reports


def bench_report_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def fill(report: Any, database: Path | str, interval_s: int) -> int:
    """bench/report.py's month (`build`) into the store at `database`, SQLite or PostgreSQL."""
    return int(await report.build(database, interval_s=interval_s, outage_count=200))


async def month_report_ms(report: Any, database: Path | str) -> float:
    store = create_store(database)
    await store.open()
    try:
        window = report.window_for_period(report.MONTH, "UTC")
        cache = report.LatencyCache()
        seconds = await report.timed(
            lambda: report.sla_report(
                store, report.SLA, window, report.NOW_MS, latency_cache=cache
            ),
            7,
        )
    finally:
        await store.close()
    return seconds * 1000


# --------------------------------------------------------------------------------- failover


async def leader_of(session: aiohttp.ClientSession, url: str) -> float | None:
    try:
        async with session.get(f"{url}/metrics") as response:
            for line in (await response.text()).splitlines():
                if line.startswith("slawatch_alert_leader "):
                    return float(line.split()[1])
    except aiohttp.ClientError:
        return None
    return None


async def failover_times(cluster: Cluster, folder: Path, kills: int) -> list[float]:
    database = cluster.new_database()
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    configs = [collector_config(folder, f"f{i}", p, database) for i, p in enumerate(ports)]
    processes = [start_collector(c) for c in configs]
    times = []
    try:
        async with aiohttp.ClientSession() as session:
            for url in urls:
                await wait_healthy(session, url)
            for _ in range(kills):
                while True:
                    marks = [await leader_of(session, u) for u in urls]
                    if sorted(marks, key=str) == [0.0, 1.0]:
                        break
                    await asyncio.sleep(0.05)
                leader = marks.index(1.0)
                processes[leader].kill()
                killed = time.perf_counter()
                processes[leader].wait()
                while await leader_of(session, urls[1 - leader]) != 1.0:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)  # another process: polled, no event to wait on
                times.append(time.perf_counter() - killed)
                processes[leader] = start_collector(configs[leader])
                await wait_healthy(session, urls[leader])
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    return times


async def main(samples: int, kills: int, quick: bool, parts: set[str]) -> None:
    start = time.time() - 3 * 86400
    per_agent_rows = [agent_samples(a, samples // AGENTS, start) for a in range(AGENTS)]
    total = sum(len(r) for r in per_agent_rows)
    ordered = [batches(r, False, a) for a, r in enumerate(per_agent_rows)]
    shuffled = [batches(r, True, a) for a, r in enumerate(per_agent_rows)]
    late = [day_shuffled(r, a) for a, r in enumerate(per_agent_rows)]
    with running_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "ingest" in parts:
            await ingest_figures(
                cluster, folder, ordered=ordered, shuffled=shuffled, late=late, total=total
            )
        if "report" in parts:
            await report_figures(folder, cluster, quick)
        if "failover" in parts:
            times = await failover_times(cluster, folder, kills)
            median = statistics.median(times)
            print(f"leader failover after SIGKILL, {kills} kills: median {median:.2f} s"
                  f" (min {min(times):.2f}, max {max(times):.2f})")  # fmt: skip


async def ingest_figures(
    cluster: Cluster,
    folder: Path,
    *,
    ordered: list[list[list[dict[str, Any]]]],
    shuffled: list[list[list[dict[str, Any]]]],
    late: list[list[list[dict[str, Any]]]],
    total: int,
) -> None:
    print(f"samples {total}, {AGENTS} agents, batches of {BATCH}")
    ceiling = await copy_ceiling(cluster, ordered)
    print(f"COPY ceiling (bare table, a transaction per batch): {ceiling:,.0f}/s")
    ordered_bodies = [bodies(a, b) for a, b in enumerate(ordered)]
    shuffled_bodies = [bodies(a, b) for a, b in enumerate(shuffled)]
    one = await ingest_rate(cluster, folder, ordered_bodies, 1, total)
    print(f"HTTP ingest, time order, 1 collector: {one:,.0f}/s = {one / ceiling:.2f} of COPY")
    mixed = await ingest_rate(cluster, folder, shuffled_bodies, 1, total)
    print(f"HTTP ingest, shuffled in each batch: {mixed:,.0f}/s = {mixed / ceiling:.2f} of COPY"
          f" ({mixed / one:.2f} of time order)")  # fmt: skip
    late_bodies = [bodies(a, b) for a, b in enumerate(late)]
    day = await ingest_rate(cluster, folder, late_bodies, 1, total)
    print(f"HTTP ingest, shuffled over each day: {day:,.0f}/s = {day / ceiling:.2f} of COPY"
          f" ({day / one:.2f} of time order; goal >= 0.5)")  # fmt: skip
    two = await ingest_rate(cluster, folder, ordered_bodies, 2, total)
    print(f"HTTP ingest, time order, 2 collectors: {two:,.0f}/s = {two / one:.2f}x one")


async def report_figures(folder: Path, cluster: Cluster, quick: bool) -> None:
    report = bench_report_module()
    interval = 120 if quick else 30
    pg = cluster.new_database()
    stored = await fill(report, pg, interval)
    sqlite = folder / "month.db"
    await fill(report, sqlite, interval)
    pg_ms = await month_report_ms(report, pg)
    sqlite_ms = await month_report_ms(report, sqlite)
    print(f"month report over {stored:,} samples, warm: PostgreSQL {pg_ms:.1f} ms,"
          f" SQLite {sqlite_ms:.1f} ms ({pg_ms / sqlite_ms:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a smaller month: a smoke run")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="which figures, comma-separated: " + ", ".join(PARTS),
    )
    args = parser.parse_args()
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if not parts or parts - set(PARTS):
        raise SystemExit(f"--parts {args.parts}: some of {', '.join(PARTS)}, separated by commas")
    asyncio.run(main(args.samples, args.kills, args.quick, parts))
