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
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import MONTH, NOW_MS, SLA, build  # bench/report.py

from slawatch.collector.engine.periods import window_for_period
from slawatch.collector.evidence.bundle import write_bundle
from slawatch.collector.evidence.keys import SigningKey
from slawatch.collector.evidence.verify import verify
from slawatch.collector.store.sqlite import SqliteStore


async def measure(database: Path, out: Path) -> dict[str, float]:
    store = SqliteStore(database)
    await store.open()
    try:
        window = window_for_period(MONTH, SLA.timezone)
        started = time.perf_counter()
        rows = 0
        async for chunk in store.raw_samples(SLA.checks, window.from_ms, window.to_ms):
            rows += len(chunk)
        baseline = time.perf_counter() - started
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        with out.open("wb") as target:
            info = await write_bundle(
                store, SLA, window, NOW_MS, SigningKey.generate(), target=target, period=MONTH
            )
        seconds = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        await store.close()
    started = time.perf_counter()
    verify(out)
    verify_s = time.perf_counter() - started
    size = os.path.getsize(out)  # noqa: ASYNC240 - the bench's own file, once
    return {
        "samples": info.samples,
        "rows_read": rows,
        "baseline_s": baseline,
        "bundle_s": seconds,
        "peak_rss_before_mb": rss_before,
        "peak_rss_mb": rss,
        "bundle_mb": size / 1e6,
        "verify_s": verify_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--measure", nargs=2, metavar=("DATABASE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(Path(args.measure[0]), Path(args.measure[1])))))
        return
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.db"
        started = time.perf_counter()
        interval_s = 120 if args.quick else 30
        stored = asyncio.run(build(database, interval_s=interval_s, outage_count=200))
        print(f"ingested {stored} samples in {time.perf_counter() - started:.1f} s")
        result = subprocess.run(
            [sys.executable, __file__, "--measure", str(database), str(Path(folder) / "b.zip")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"bundle of {figures['samples']} samples: {figures['bundle_s']:.2f} s "
        f"({figures['bundle_s'] / figures['baseline_s']:.1f}x streaming the raw samples, "
        f"{figures['baseline_s']:.2f} s); peak RSS {figures['peak_rss_mb']:.0f} MB "
        f"(before the bundle {figures['peak_rss_before_mb']:.0f} MB); "
        f"ZIP {figures['bundle_mb']:.1f} MB; verify-evidence {figures['verify_s']:.2f} s"
    )
    goal = figures["bundle_s"] <= 5 and figures["peak_rss_mb"] <= 150
    print("goal (<= 5 s, <= 150 MB):", "met" if goal else "NOT met")


if __name__ == "__main__":
    main()
