"""Speed and memory of an evidence bundle (issue 20): a month of 3 checks x 3 agents at 30 s.

    .venv/bin/python bench/evidence.py [--quick]

The month of `bench/report.py` (November 2026, 777,600 samples, 200 outages) is ingested
through the store; then, in a fresh process (so that its peak RSS is the bundle's, not the
ingest's), the bundle of the month is written to a file as the evidence route makes it
(`slawatch.collector.evidence.bundle.write_bundle`), and verified
(`slawatch verify-evidence`'s `verify`). Baseline in that same process, first: streaming the
month's raw samples out of the store (`SampleStore.raw_samples`), the least a bundle can do.
Goal: the bundle in <= 5 s and <= 150 MB peak RSS (of the whole process, Python included).
`--quick` uses a 120 s interval (a smoke run, not the figures).

Figures (2026-12-07, 2 cores shared with seven other sessions, load average 13 to 17):
- first version (reads overlapped with writes, csv.writer): 32.6 s, 7.8x streaming the raw
  samples (4.15 s); peak RSS 123 MB;
- now (one thread at a time, CSV lines by hand): 12.4 s, 2.8x streaming (4.47 s); peak RSS
  122 MB (108 MB before the bundle: Python, the libraries and the store); ZIP 11.3 MB;
  verify-evidence 22.9 s.
The memory goal is met. The time goal is not on this loaded machine; what a bundle costs beyond
reading the samples is formatting them as CSV (repr of each latency) and deflating it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from report import AGENTS, MONTH, NOW_MS, SLA, agent_batches, outages  # bench/report.py

from slawatch.collector.engine.periods import window_for_period
from slawatch.collector.evidence.bundle import write_bundle
from slawatch.collector.evidence.keys import SigningKey
from slawatch.collector.evidence.verify import verify
from slawatch.collector.store import create_store

ROOT = Path(__file__).resolve().parent.parent


async def fill(database: Path | str, interval_s: int) -> int:
    """bench/report.py's month (`build`) into the store at `database`, SQLite or PostgreSQL."""
    store = create_store(database)
    await store.open()
    down = outages(200, 1)
    streams = [(name, agent_batches(a, interval_s, down, 1)) for a, name in enumerate(AGENTS)]
    total = 0
    try:
        while streams:
            for name, stream in list(streams):
                rows = next(stream, None)
                if rows is None:
                    streams.remove((name, stream))
                    continue
                total += (await store.ingest(name, rows, labels=None, now_ms=NOW_MS)).accepted
    finally:
        await store.close()
    if isinstance(database, str):  # statistics, as autovacuum gives a database in use
        import asyncpg

        db = await asyncpg.connect(database)
        await db.execute("ANALYZE")
        await db.close()
    return total


@contextlib.contextmanager
def database_of(backend: str, folder: Path) -> Iterator[Path | str]:
    """An empty database: an SQLite file, or a database of a throwaway PostgreSQL cluster (as
    the tests start it, `tests/postgres_cluster.py`: fsync off)."""
    if backend == "sqlite":
        yield folder / "bench.db"
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres_cluster import running_cluster

    with running_cluster() as cluster:
        yield cluster.new_database()


async def measure(database: Path | str, out: Path) -> dict[str, float]:
    store = create_store(database)
    await store.open()
    try:
        window = window_for_period(MONTH, SLA.timezone)
        started, cpu = time.perf_counter(), time.process_time()
        rows = 0
        async for chunk in store.raw_samples(SLA.checks, window.from_ms, window.to_ms):
            rows += len(chunk)
        baseline, baseline_cpu = time.perf_counter() - started, time.process_time() - cpu
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started, cpu = time.perf_counter(), time.process_time()
        with out.open("wb") as target:
            info = await write_bundle(
                store, SLA, window, NOW_MS, SigningKey.generate(), target=target, period=MONTH
            )
        seconds, seconds_cpu = time.perf_counter() - started, time.process_time() - cpu
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        await store.close()
    started, cpu = time.perf_counter(), time.process_time()
    verify(out)
    verify_s, verify_cpu = time.perf_counter() - started, time.process_time() - cpu
    size = os.path.getsize(out)  # noqa: ASYNC240 - the bench's own file, once
    return {
        "samples": info.samples,
        "rows_read": rows,
        "baseline_s": baseline,
        "bundle_s": seconds,
        "baseline_cpu_s": baseline_cpu,
        "bundle_cpu_s": seconds_cpu,
        "verify_cpu_s": verify_cpu,
        "peak_rss_before_mb": rss_before,
        "peak_rss_mb": rss,
        "bundle_mb": size / 1e6,
        "verify_s": verify_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--measure", nargs=2, metavar=("DATABASE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        database = args.measure[0]
        at: Path | str = database if "://" in database else Path(database)
        print(json.dumps(asyncio.run(measure(at, Path(args.measure[1])))))
        return
    with (
        tempfile.TemporaryDirectory() as folder,
        database_of(args.backend, Path(folder)) as database,
    ):
        started = time.perf_counter()
        stored = asyncio.run(fill(database, 120 if args.quick else 30))
        print(
            f"ingested {stored} samples in {time.perf_counter() - started:.1f} s ({args.backend})"
        )
        result = subprocess.run(
            [sys.executable, __file__, "--measure", str(database), str(Path(folder) / "b.zip")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"{args.backend}: bundle of {figures['samples']} samples: {figures['bundle_s']:.2f} s, "
        f"{figures['bundle_cpu_s']:.2f} s of CPU "
        f"({figures['bundle_s'] / figures['baseline_s']:.1f}x streaming the raw samples, "
        f"{figures['baseline_s']:.2f} s, {figures['baseline_cpu_s']:.2f} s of CPU); "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB "
        f"(before the bundle {figures['peak_rss_before_mb']:.0f} MB); "
        f"ZIP {figures['bundle_mb']:.1f} MB; verify-evidence {figures['verify_s']:.2f} s, "
        f"{figures['verify_cpu_s']:.2f} s of CPU; load average {os.getloadavg()[0]:.1f}"
    )
    goal = figures["bundle_s"] <= 5 and figures["peak_rss_mb"] <= 150
    print("goal (<= 5 s, <= 150 MB):", "met" if goal else "NOT met")


if __name__ == "__main__":
    main()
