"""Ingest speed of `slawatch collector`, against the raw ceiling of SQLite on the same rows.

    .venv/bin/python bench/ingest.py [--samples 2000000] [--agents 4] [--batch 1000]
                                     [--checks 100] [--order in-order,newest-first,shuffled]
                                     [--shuffle-span 1440] [--runs 1] [--against DIR]
                                     [--read-every 0]

1. Pre-encodes gzip bodies of `--batch` samples for each of `--agents` agents (`--checks` checks
   each, one sample a minute), in each `--order` asked:
   - `in-order`: samples in time order, as agents send them live;
   - `newest-first`: the same batches, each agent's newest batch first (a shipper back-filling
     an outage);
   - `shuffled`: each agent's samples shuffled within every `--shuffle-span` minutes of its trace
     (default one day), then cut into batches: every batch holds samples from all over the day,
     late for every series (a history import, a foreign client, many agents' late samples).
   Each order runs on a new database, and the rates of the orders are compared in the same run.
2. Baseline, in this process: sqlite3 `executemany` of the very rows the collector stores, in a
   table of the same schema and PRAGMAs, one commit per batch: the ceiling of the disk and SQLite
   (binding None and bools as fast as the store does, with its adapters for them).
3. Starts `slawatch collector` as a separate process and pushes every body over HTTP, one
   connection per agent, all agents at once; reports samples/s, the ratio to the ceiling, and
   the RSS at the end of the collector and of the worker processes it judges big batches in.
   The time counted runs from the first push to the collector's exit after the last answer:
   late samples are set aside and merged in batches, the last ones when it stops.
   `--read-every S` reads `GET /api/v1/checks` every S seconds meanwhile and says how long the
   reads took (on SQLite each waits for the late samples set aside to be merged).
4. `--runs N` repeats 2 and 3 (a new database each time) and gives the medians: the machine's
   speed drifts by ±15 % within minutes, so a single run says little. `--against DIR` runs the
   collector of another source tree (a `git worktree` or `git archive` of another commit, say) in
   turn with this one's, run for run, and gives the ratio of the medians: only runs alternated so
   compare. The other tree runs with this venv's interpreter and packages, its own code mapped in
   by `bench/against/sitecustomize.py` (an editable install would map slawatch's packages to this
   tree whatever PYTHONPATH says), in the collector and in its worker processes alike.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from slawatch.collector.ingest.batch import phase_microseconds
from slawatch.collector.store.sqlite.connections import bind_none_and_bool_directly
from slawatch.collector.store.sqlite.migrations import MIGRATIONS
from slawatch.config.contract import PHASES

TOKEN_PREFIX = "bench-agent-token-"
ADMIN_TOKEN = "bench-admin-token-0123456789"
INTERVAL_S = 60
ORDERS = ("in-order", "newest-first", "shuffled")


def make_samples(agent: int, samples: int, checks: int, start: float) -> list[dict]:
    """`samples` of one agent, in time order: `checks` checks, one sample each a minute."""
    rows = []
    for k in range(samples):
        check, step = k % checks, k // checks
        ok = (k * 7919) % 97 != 0
        rows.append(
            {
                "check": f"a{agent}-check-{check}",
                "ts": round(start + step * INTERVAL_S + check * 0.01, 3),
                "ok": ok,
                "latency_ms": 20.0 + (k * 31) % 400 / 3 if ok else 5000.0,
                "interval_s": INTERVAL_S,
                "type": "http",
                "status_code": 200 if ok else 503,
                "error": None if ok else "status 503",
                "phases_ms": {"dns": 0.4, "connect": 1.1, "ttfb": 15.2, "transfer": 0.3},
            }
        )
    return rows


def in_order(rows: list[dict], order: str, checks: int, span: int, batch: int) -> list[list[dict]]:
    """`rows` (in time order) as the batches of `order`; `span`: minutes shuffled together."""
    if order == "shuffled":
        shuffler = random.Random(20261207)
        rows = list(rows)
        per_span = checks * span
        for first in range(0, len(rows), per_span):
            part = rows[first : first + per_span]
            shuffler.shuffle(part)
            rows[first : first + per_span] = part
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    return batches[::-1] if order == "newest-first" else batches


def encode(agent: int, batch: list[dict]) -> bytes:
    body = {"agent": f"agent-{agent}", "labels": {"bench": "yes"}, "samples": batch}
    return gzip.compress(json.dumps(body).encode(), compresslevel=5)


def raw_ceiling(batches: list[list[dict]], folder: Path) -> float:
    """Samples/s of sqlite3 executemany of the stored rows, committed per batch."""
    bind_none_and_bool_directly()
    db = sqlite3.connect(folder / "ceiling.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    for statement in MIGRATIONS[0].split(";"):
        if "CREATE TABLE samples" in statement:
            db.execute(statement)
    series: dict[str, int] = {}
    prepared = []
    for batch in batches:  # in the collector's order: by series, then time
        prepared.append(
            sorted(
                (
                    series.setdefault(s["check"], len(series)),
                    round(s["ts"] * 1000),
                    s["ok"],
                    s["latency_ms"],
                    s["interval_s"] * 1000,
                    s["status_code"],
                    s["error"],
                    *(phase_microseconds(s["phases_ms"].get(p)) for p in PHASES),
                    None,
                )
                for s in batch
            )
        )
    started = time.perf_counter()
    for rows in prepared:
        db.execute("BEGIN")
        db.executemany(f"INSERT INTO samples VALUES ({', '.join('?' * 13)})", rows)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return sum(len(rows) for rows in prepared) / elapsed


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_collector(
    folder: Path, agents: int, source: Path | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    tokens = "\n".join(
        f"    - {{id: agent-{a}, token: {TOKEN_PREFIX}{a:04d}}}" for a in range(agents)
    )
    config = folder / "collector.yaml"
    config.write_text(
        f"collector:\n  listen: 127.0.0.1:{port}\n  database: {folder / 'bench.db'}\n"
        f"  admin_token: {ADMIN_TOKEN}\n  agents:\n{tokens}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "slawatch.cli", "--log-level", "warning", "collector",
         "--config", str(config)],
        stdout=subprocess.DEVNULL,
        cwd=source,
        env=_running_tree(source),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return process, url
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the collector did not start") from None
            time.sleep(0.05)


AGAINST = Path(__file__).resolve().parent / "against"
"""The folder of the `sitecustomize` that runs another tree's slawatch."""


def _running_tree(source: Path | None) -> dict[str, str] | None:
    """The environment that runs the slawatch of `source` (None: this tree's, as installed)."""
    if source is None:
        return None
    return {**os.environ, "PYTHONPATH": str(AGAINST), "SLAWATCH_SOURCE_TREE": str(source)}


async def push_all(
    url: str, bodies: dict[int, list[bytes]], read_every: float, reads: list[float]
) -> float:
    """Seconds to push every body; meanwhile, every `read_every` s (0: never), the time
    `GET /api/v1/checks` takes (it reads every check's runs and last sample) goes to `reads`."""

    async def one_agent(agent: int) -> None:
        headers = {
            "Authorization": f"Bearer {TOKEN_PREFIX}{agent:04d}",
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        }
        async with aiohttp.ClientSession(headers=headers) as session:
            for body in bodies[agent]:
                async with session.post(f"{url}/api/v1/samples", data=body) as response:
                    if response.status != 200:
                        raise SystemExit(f"push refused: {response.status} {await response.text()}")
                    await response.read()

    async def reader() -> None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                await asyncio.sleep(read_every)
                asked = time.perf_counter()
                async with session.get(f"{url}/api/v1/checks") as response:
                    await response.read()
                reads.append(time.perf_counter() - asked)

    started = time.perf_counter()
    reading = asyncio.ensure_future(reader() if read_every > 0 else asyncio.sleep(0))
    await asyncio.gather(*(one_agent(agent) for agent in bodies))
    reading.cancel()
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of `pid`, by thread id."""
    result = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        result[task.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return result


def children(pid: int) -> list[int]:
    """The processes `pid` started (the collector's workers that judge big batches)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


@dataclass(frozen=True)
class Measured:
    ceiling: float
    samples: int
    elapsed: float
    threads: dict[str, float]
    workers: int
    workers_cpu: float
    client_cpu: float
    rss: float
    peak: float
    workers_rss: float
    reads: list[float]
    """Seconds each `--read-every` read took while the samples were pushed."""

    @property
    def rate(self) -> float:
        return self.samples / self.elapsed

    @property
    def cpu_per_sample_us(self) -> float:
        """CPU time of the collector's own threads per sample (its workers apart): what the
        order of the samples costs it, whatever else the machine is busy with."""
        return sum(self.threads.values()) / self.samples * 1e6


def measure(
    batches: list[list[dict]],
    bodies: dict[int, list[bytes]],
    source: Path | None,
    read_every: float,
) -> Measured:
    """The raw ceiling, then the collector of `source` (None: this tree), each on a new database."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as name:
        folder = Path(name).resolve()
        ceiling = raw_ceiling(batches, folder)
        process, url = start_collector(folder, len(bodies), source)
        try:
            cpu_before = cpu_seconds(process.pid)
            client_before = time.process_time()
            reads: list[float] = []
            elapsed = asyncio.run(push_all(url, bodies, read_every, reads))
            client = time.process_time() - client_before
            cpu_after = cpu_seconds(process.pid)
            threads = {t: cpu_after[t] - cpu_before.get(t, 0.0) for t in cpu_after}
            workers = children(process.pid)
            workers_cpu = sum(sum(cpu_seconds(worker).values()) for worker in workers)
            rss, peak = rss_mb(process.pid)
            workers_rss = sum(rss_mb(worker)[0] for worker in workers)
        finally:
            stopping = time.perf_counter()
            process.terminate()  # it merges the late samples it set aside before it exits
            process.wait(timeout=120)
            stopped = time.perf_counter() - stopping
    total = sum(len(b) for b in batches)
    return Measured(ceiling, total, elapsed + stopped, threads, len(workers), workers_cpu,
                    client, rss, peak, workers_rss, reads)  # fmt: skip


def report(m: Measured, agents: int, order: str) -> None:
    print(f"raw ceiling (sqlite3 executemany, commit per batch): {m.ceiling:,.0f} samples/s")
    print(f"through HTTP ({agents} agents at once, gzip, {order}): {m.rate:,.0f} samples/s "
          f"({m.samples} samples in {m.elapsed:.1f} s)")  # fmt: skip
    busiest = sorted(m.threads.values(), reverse=True)[:3]
    print(f"collector CPU: {sum(m.threads.values()):.1f} s in {m.elapsed:.1f} s; busiest threads: "
          + ", ".join(f"{seconds / m.elapsed:.0%}" for seconds in busiest)
          + f"; its {m.workers} child processes (batch workers, their resource tracker): "
          + f"{m.workers_cpu:.1f} s"
          + f"; the pushing client: {m.client_cpu / m.elapsed:.0%}")  # fmt: skip
    print(f"ratio to the raw ceiling: {m.rate / m.ceiling:.2f}  (goal >= 0.25, stretch 0.5)")
    if m.reads:
        median, longest = statistics.median(m.reads) * 1000, max(m.reads) * 1000
        print(f"GET /api/v1/checks meanwhile: {len(m.reads)} reads, median {median:.0f} ms, "
              f"max {longest:.0f} ms")  # fmt: skip
    print(f"collector RSS after {m.samples} samples: {m.rss + m.workers_rss:.0f} MB with its "
          f"workers ({m.rss:.0f} MB, peak {m.peak:.0f} MB, + {m.workers_rss:.0f} MB); "
          "goal < 200")  # fmt: skip


def medians(runs: list[Measured]) -> tuple[float, float]:
    """The median rate and the median ratio to the ceiling of `runs`."""
    return (statistics.median(m.rate for m in runs),
            statistics.median(m.rate / m.ceiling for m in runs))  # fmt: skip


def compare_orders(runs: dict[tuple[str, str], list[Measured]], orders: list[str]) -> None:
    """Each order's median rate against in-order's, per tree: the goal is shuffled within 2x.
    Beside it, the collector's CPU time per sample, which the machine's load changes less."""
    if "in-order" not in orders or len(orders) < 2:
        return
    for label in dict.fromkeys(label for label, _ in runs):
        base = medians(runs[(label, "in-order")])[0]
        base_cpu = statistics.median(m.cpu_per_sample_us for m in runs[(label, "in-order")])
        print(f"orders ({label}), median rates against in-order in the same run:")
        for order in orders:
            rate, ratio = medians(runs[(label, order)])
            cpu = statistics.median(m.cpu_per_sample_us for m in runs[(label, order)])
            print(f"  {order:>12}: {rate:9,.0f} samples/s  ratio to in-order {rate / base:.2f}"
                  f"  to the raw ceiling {ratio:.2f}"
                  + ("  (goal >= 0.5)" if order == "shuffled" else "")
                  + f"; collector CPU {cpu:.1f} us/sample, x{cpu / base_cpu:.2f}")  # fmt: skip


def parse_orders(text: str) -> list[str]:
    orders = [order.strip() for order in text.split(",") if order.strip()]
    unknown = [order for order in orders if order not in ORDERS]
    if unknown or not orders:
        raise SystemExit(f"--order {text}: each of {', '.join(ORDERS)}, separated by commas")
    return list(dict.fromkeys(orders))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2_000_000)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=100, help="checks of each agent")
    parser.add_argument(
        "--order",
        default="in-order",
        help="orders to push the samples in, comma-separated: " + ", ".join(ORDERS),
    )
    parser.add_argument(
        "--shuffle-span",
        type=int,
        default=1440,
        help="minutes of each agent's trace shuffled together (--order shuffled)",
    )
    parser.add_argument(
        "--newest-first", action="store_true", help="the same as --order newest-first"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each collector (medians)")
    parser.add_argument(
        "--read-every",
        type=float,
        default=0.0,
        help="seconds between reads of GET /api/v1/checks while pushing (0: none); SQLite "
        "merges the late samples it set aside before each",
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="another source tree, whose collector runs in turn with this one's",
    )
    args = parser.parse_args()
    orders = ["newest-first"] if args.newest_first else parse_orders(args.order)
    if args.runs < 1:
        raise SystemExit(f"--runs {args.runs}: at least 1")
    if args.checks < 1 or args.shuffle_span < 1:
        raise SystemExit("--checks and --shuffle-span: at least 1")
    if args.against and not (
        (args.against / "slawatch" / "cli.py").is_file() and (args.against / "collector").is_dir()
    ):
        raise SystemExit(f"--against {args.against}: not a slawatch source tree")
    per_agent = args.samples // args.agents
    start = time.time() - (per_agent // args.checks + 10) * INTERVAL_S
    print(f"encoding {args.samples} samples: {args.agents} agents of {args.checks} checks, "
          f"batches of {args.batch}, orders {', '.join(orders)}")  # fmt: skip
    samples = {a: make_samples(a, per_agent, args.checks, start) for a in range(args.agents)}
    traces = {
        order: {
            a: in_order(rows, order, args.checks, args.shuffle_span, args.batch)
            for a, rows in samples.items()
        }
        for order in orders
    }
    bodies = {
        order: {a: [encode(a, b) for b in batches] for a, batches in trace.items()}
        for order, trace in traces.items()
    }
    sources: dict[str, Path | None] = {"this tree": None}
    if args.against:
        sources[str(args.against)] = args.against.resolve()
    runs: dict[tuple[str, str], list[Measured]] = {
        (label, order): [] for label in sources for order in orders
    }
    several = len(sources) > 1 or args.runs > 1 or len(orders) > 1
    for number in range(1, args.runs + 1):
        for order in orders:
            flat = [b for agent in traces[order].values() for b in agent]
            for label, source in sources.items():
                if several:
                    print(f"-- run {number} of {args.runs}: {label}, {order}")
                runs[(label, order)].append(measure(flat, bodies[order], source, args.read_every))
                report(runs[(label, order)][-1], args.agents, order)
    if len(sources) > 1 or args.runs > 1:
        for (label, order), measured in runs.items():
            rate, ratio = medians(measured)
            print(f"median of {len(measured)} ({label}, {order}): {rate:,.0f} samples/s, "
                  f"ratio {ratio:.2f}")  # fmt: skip
    compare_orders(runs, orders)
    if args.against:
        for order in orders:
            this, other = (medians(runs[(label, order)])[0] for label in sources)
            print(f"{order}: this tree / {args.against}: {this / other:.3f} "
                  "(medians of runs alternated)")  # fmt: skip


if __name__ == "__main__":
    main()
