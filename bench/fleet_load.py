"""Many agents on one collector: 1,000 agents x 20 checks every 10 s (2,000 samples/s).

    .venv/bin/python bench/fleet_load.py [--agents 1000] [--checks 20] [--interval 10]
        [--seconds 60] [--warmup 15] [--processes 4] [--changes 20] [--only new|baseline]
        [--no-alerts]

A run starts `slawatch collector` as a process on a new database (one token per agent, a webhook
channel to a receiver in this process, one rule: every check, `after: 0s`), then the agents in
`--processes` processes. Each agent is the agent's own `Scheduler` (with a probe that answers at
once) and `Shipper` with its `Pacing`, over a spool in memory (1,000 SQLite spools and their
threads on one machine would measure the machine, not the shipping), at a lower CPU priority
(`AGENTS_NICENESS`: they stand for other hosts). During `--seconds` after
`--warmup` it measures:
- every push as its agent sees it: send to answer (any answer), and the answer;
- `GET /healthz` ten times a second from this process, each on a new connection;
- the time from a state change to its notification: `--changes` checks go down at moments spread
  over the run, and the webhook's `down` says since when (`since`: the first failing sample);
- the samples acknowledged, and how old they were then.

Two runs under the same load. The baseline is the code before the change: agents that push each
sample 200 ms after it (the old linger: no state change sooner, no pace), to a collector that
admits every push (this launcher lifts its admission control). Then this tree as it is. It
prints both and the ratios. Goals (issue 15): push p99 <= 1 s, /healthz p99 <= 100 ms, state
change to `down` notification <= 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import logging
import math
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from slawatch.agent.pacing import Backoff, Pacing
from slawatch.agent.sample import ProbeResult, Sample
from slawatch.agent.scheduler import Scheduler
from slawatch.agent.shipper import Shipper
from slawatch.agent.spool import SpooledSample
from slawatch.config.schema import Check, HttpTarget

TOKEN_PREFIX = "fleet-bench-token-"
HOOK_SECRET = "fleet-bench-hook-secret"
OLD_LINGER_S = 0.2
HEALTH_EVERY_S = 0.1
AGENTS_NICENESS = 10
"""The simulated agents stand for other hosts: on this one they yield the CPU to the collector
(and to the /healthz prober in this process), as they would not compete with it there."""
GRACE_S = 20.0
"""After the measured window: time for the last notifications to arrive."""
WITHOUT_ADMISSION = (
    "import sys\n"
    "from slawatch.collector import app\n"
    "from slawatch.collector.ingest.admission import PushAdmission\n"
    "app.PushAdmission = lambda: PushAdmission(max_active=10**9, max_waiting=10**9, "
    "max_wait_s=10.0**9)\n"
    "from slawatch.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
"""The collector as it was before admission control: every push is admitted."""


# ---------------------------------------------------------------------------- the agents' side


class MemorySpool:
    """What the shipper needs of a spool, in memory."""

    def __init__(self) -> None:
        self.new_samples = asyncio.Event()
        self._rows: dict[int, SpooledSample] = {}
        self._next_id = 0

    @property
    def queued(self) -> int:
        return len(self._rows)

    async def add(self, sample: Sample) -> None:
        self._next_id += 1
        body = json.dumps(sample.to_json(), separators=(",", ":"))
        self._rows[self._next_id] = SpooledSample(self._next_id, sample.ts, body)
        self.new_samples.set()

    async def newest(self, limit: int) -> list[SpooledSample]:
        return heapq.nlargest(limit, self._rows.values(), key=lambda row: (row.ts, row.id))

    async def remove(self, ids: Iterable[int]) -> None:
        for sample_id in ids:
            self._rows.pop(sample_id, None)

    async def move_to_dead(self, reasons: Mapping[int, str]) -> int:
        await self.remove(reasons)
        return len(reasons)


class LingerPacing(Pacing):
    """The pace before this change: every sample goes `OLD_LINGER_S` after it is spooled, a
    state change no sooner, and the collector's answers change nothing but the backoff."""

    def __init__(self) -> None:
        super().__init__(window=OLD_LINGER_S, backoff=Backoff(base=0.5, cap=60.0))

    def _changes_state(self, sample: Sample) -> bool:
        return False

    def _slow_down(self) -> None:
        pass


@dataclass(slots=True)
class Pushes:
    """What the agents of one process saw, in the measured window."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    """HTTP status (0: no answer) → pushes."""
    samples: int = 0
    """Samples acknowledged."""
    ages: list[float] = field(default_factory=list)
    """Seconds from a sample's probe to its acknowledgement, one in ten samples."""
    cpu_s: float = 0.0
    """CPU time of the process, from the start of the measured window to its end."""


class MeasuredShipper(Shipper):
    """The agent's shipper, timing each push (a bench's look at its private `_push`)."""

    def __init__(self, *args: object, pushes: Pushes, window: tuple[float, float], **options):
        super().__init__(*args, **options)  # type: ignore[arg-type]
        self.pushes = pushes
        self.window = window

    async def _push(self, batch: Sequence[SpooledSample], *, state_change: bool):  # type: ignore[override]
        sent_at = time.time()
        started = time.perf_counter()
        result = await super()._push(batch, state_change=state_change)
        answered_at = time.time()
        if self.window[0] <= sent_at < self.window[1]:
            status = result.status or 0
            self.pushes.latencies.append(time.perf_counter() - started)
            self.pushes.statuses[status] = self.pushes.statuses.get(status, 0) + 1
            if status == 200:
                self.pushes.samples += len(batch)
                self.pushes.ages.extend(answered_at - row.ts for row in batch[::10])
        return result


@dataclass(frozen=True, slots=True)
class AgentsSpec:
    url: str
    agents: tuple[int, ...]
    checks: int
    interval: float
    baseline: bool
    measure_from: float
    measure_to: float
    downs: Mapping[tuple[int, int], float]
    """(agent, check) → wall time from which its probes fail."""


def check_id(agent: int, check: int) -> str:
    return f"a{agent:04d}-c{check:02d}"


def run_agents(spec: AgentsSpec) -> Pushes:
    os.nice(AGENTS_NICENESS)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    return asyncio.run(_run_agents(spec))


async def _run_agents(spec: AgentsSpec) -> Pushes:
    pushes = Pushes()
    running: list[tuple[Scheduler, Shipper]] = []
    for agent in spec.agents:
        spool = MemorySpool()
        shipper = MeasuredShipper(
            spool,
            agent_id=f"agent-{agent:04d}",
            collector_url=spec.url,
            token=f"{TOKEN_PREFIX}{agent:04d}",
            pacing=LingerPacing() if spec.baseline else Pacing(),
            pushes=pushes,
            window=(spec.measure_from, spec.measure_to),
        )
        checks = [
            Check(
                id=check_id(agent, number),
                type="http",
                target=HttpTarget(url="http://127.0.0.1:1/"),
                interval=spec.interval,
                timeout=1.0,
            )
            for number in range(spec.checks)
        ]
        downs = {check_id(a, c): at for (a, c), at in spec.downs.items() if a == agent}

        async def keep(sample: Sample, spool: MemorySpool = spool, shipper: Shipper = shipper):
            await spool.add(sample)
            shipper.spooled(sample)

        scheduler = Scheduler(checks, keep, probe=_probe(downs), concurrency=64)
        running.append((scheduler, shipper))
    for scheduler, shipper in running:
        await shipper.start()
        await scheduler.start()
    await asyncio.sleep(spec.measure_from - time.time())
    cpu_before = time.process_time()
    await asyncio.sleep(spec.measure_to - time.time())
    pushes.cpu_s = time.process_time() - cpu_before
    for scheduler, shipper in running:
        await scheduler.stop()
        await shipper.stop()
    return pushes


def _probe(downs: Mapping[str, float]):
    async def probe(check: Check) -> ProbeResult:
        down_at = downs.get(check.id)
        if down_at is not None and time.time() >= down_at:
            return ProbeResult(ok=False, latency_ms=2.0, status_code=503, error="status 503")
        return ProbeResult(ok=True, latency_ms=2.0, status_code=200, phases_ms={"connect": 2.0})

    return probe


# ------------------------------------------------------------------------ the collector's side


def start_collector(
    folder: Path, agents: int, hook_url: str | None, baseline: bool
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    tokens = "\n".join(
        f"    - {{id: agent-{a:04d}, token: {TOKEN_PREFIX}{a:04d}}}" for a in range(agents)
    )
    config = folder / "collector.yaml"
    alerts = (
        f"alerts:\n  channels:\n    - {{id: hook, type: webhook, url: '{hook_url}', "
        f"secret: {HOOK_SECRET}}}\n"
        "  rules:\n    - {checks: ['*'], channels: [hook], after: 0s, repeat: 0s}\n"
        if hook_url
        else ""
    )
    config.write_text(
        f"collector:\n  listen: 127.0.0.1:{port}\n  database: {folder / 'fleet.db'}\n"
        f"  agents:\n{tokens}\n{alerts}",
        encoding="utf-8",
    )
    command = ["--log-level", "warning", "collector", "--config", str(config)]
    launcher = ["-c", WITHOUT_ADMISSION] if baseline else ["-m", "slawatch.cli"]
    process = subprocess.Popen([sys.executable, *launcher, *command], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return process, url
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the collector did not start") from None
            time.sleep(0.1)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HookReceiver:
    """The webhook channel's receiver: when each `down` arrived, and since when it was down."""

    def __init__(self) -> None:
        self.downs: dict[str, tuple[float, float]] = {}
        """Check → (arrival, since)."""
        self.no_data: list[float] = []
        """When each `no_data` arrived (the agents stop at the end: every check goes silent)."""
        self._down_arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def wait_for_downs(self, checks: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not checks <= set(self.downs) and (left := deadline - time.monotonic()) > 0:
            self._down_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._down_arrived.wait(), left)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.json()
        if body["event"] == "no_data":
            self.no_data.append(arrived)
        if body["event"] == "down" and body["check"] not in self.downs:
            since = datetime.fromisoformat(body["since"].replace("Z", "+00:00")).timestamp()
            self.downs[body["check"]] = (arrived, since)
            self._down_arrived.set()
        return web.json_response({"ok": True})


async def probe_health(url: str, until: float, latencies: list[float]) -> None:
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while time.time() < until:
            started = time.perf_counter()
            try:
                async with session.get(f"{url}/healthz") as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError):
                pass
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(max(0.0, HEALTH_EVERY_S - (time.perf_counter() - started)))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------- one run


@dataclass(frozen=True, slots=True)
class Figures:
    pushes: int
    push_p50: float
    push_p99: float
    push_max: float
    shed: int
    failed: int
    samples_per_s: float
    age_p50: float
    age_p99: float
    health_p50: float
    health_p99: float
    health_max: float
    notify_p50: float | None
    notify_max: float | None
    notified: int
    changes: int
    no_data: int
    collector_cpu: float
    agents_cpu: float


async def run(args: argparse.Namespace, baseline: bool) -> Figures:
    receiver = HookReceiver()
    await receiver.start()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as name:
        hook = None if args.no_alerts else receiver.url
        process, url = start_collector(Path(name), args.agents, hook, baseline)
        try:
            return await measure(args, baseline, url, process, receiver)
        finally:
            process.terminate()
            process.wait(timeout=30)
            await receiver.stop()


async def measure(
    args: argparse.Namespace,
    baseline: bool,
    url: str,
    process: subprocess.Popen[bytes],
    receiver: HookReceiver,
) -> Figures:
    start = time.time() + 2.0
    measure_from, measure_to = start + args.warmup, start + args.warmup + args.seconds
    step = (args.seconds - 2 * args.interval) / args.changes  # each probed failing in time
    downs = {
        ((k * 389) % args.agents, k % args.checks): measure_from + k * step
        for k in range(args.changes)
    }
    groups = [tuple(range(p, args.agents, args.processes)) for p in range(args.processes)]
    specs = [
        AgentsSpec(url, agents, args.checks, args.interval, baseline, measure_from, measure_to,
                   {key: at for key, at in downs.items() if key[0] in agents})
        for agents in groups
    ]  # fmt: skip
    loop = asyncio.get_running_loop()
    health: list[float] = []
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.processes, mp_context=spawn) as pool:
        results = [loop.run_in_executor(pool, run_agents, spec) for spec in specs]
        await asyncio.sleep(measure_from - time.time())
        cpu_before = cpu_seconds(process.pid)
        await probe_health(url, measure_to, health)
        collector_cpu = cpu_seconds(process.pid) - cpu_before
        pushes = await asyncio.gather(*results)
    wanted = set() if args.no_alerts else {check_id(*key) for key in downs}
    await receiver.wait_for_downs(wanted, GRACE_S)
    return figures(
        pushes,
        health,
        receiver,
        wanted=wanted,
        seconds=args.seconds,
        collector_cpu=collector_cpu,
        until=measure_to,
    )


def figures(
    results: Sequence[Pushes],
    health: list[float],
    receiver: HookReceiver,
    *,
    wanted: set[str],
    seconds: float,
    collector_cpu: float,
    until: float,
) -> Figures:
    latencies = sorted(x for r in results for x in r.latencies)
    ages = sorted(x for r in results for x in r.ages)
    statuses: dict[int, int] = {}
    for r in results:
        for status, count in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    notify = sorted(arrived - since for check, (arrived, since) in receiver.downs.items()
                    if check in wanted)  # fmt: skip
    health = sorted(health)
    return Figures(
        pushes=len(latencies),
        push_p50=percentile(latencies, 50),
        push_p99=percentile(latencies, 99),
        push_max=latencies[-1] if latencies else float("nan"),
        shed=statuses.get(429, 0) + statuses.get(503, 0),
        failed=sum(c for s, c in statuses.items() if s not in (200, 429, 503)),
        samples_per_s=sum(r.samples for r in results) / seconds,
        age_p50=percentile(ages, 50),
        age_p99=percentile(ages, 99),
        health_p50=percentile(health, 50),
        health_p99=percentile(health, 99),
        health_max=health[-1] if health else float("nan"),
        notify_p50=statistics.median(notify) if notify else None,
        notify_max=notify[-1] if notify else None,
        notified=len(notify),
        changes=len(wanted),
        no_data=sum(1 for at in receiver.no_data if at < until),
        collector_cpu=collector_cpu / seconds,
        agents_cpu=sum(r.cpu_s for r in results) / seconds,
    )


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank; NaN of nothing."""
    if not values:
        return float("nan")
    return values[max(0, math.ceil(len(values) * p / 100) - 1)]


def report(label: str, f: Figures, seconds: float) -> None:
    notify = (
        f"p50 {f.notify_p50:.2f} s, max {f.notify_max:.2f} s ({f.notified}/{f.changes})"
        if f.notify_max is not None
        else f"none of {f.changes} arrived"
        if f.changes
        else "not measured (--no-alerts)"
    )
    print(f"-- {label}")
    print(f"   pushes: {f.pushes / seconds:,.0f}/s; latency p50 {f.push_p50 * 1000:,.0f} ms, "
          f"p99 {f.push_p99 * 1000:,.0f} ms, max {f.push_max * 1000:,.0f} ms; "
          f"shed (429/503) {f.shed}, other failures {f.failed}")  # fmt: skip
    print(f"   samples acknowledged: {f.samples_per_s:,.0f}/s; their age then: "
          f"p50 {f.age_p50:.2f} s, p99 {f.age_p99:.2f} s")  # fmt: skip
    print(f"   /healthz: p50 {f.health_p50 * 1000:.1f} ms, p99 {f.health_p99 * 1000:.1f} ms, "
          f"max {f.health_max * 1000:.1f} ms")  # fmt: skip
    print(f"   state change to its `down` notification: {notify}; no_data events: {f.no_data}")
    print(f"   CPU: collector {f.collector_cpu:.0%} of a core, the simulated agents "
          f"{f.agents_cpu:.0%}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip


def ratios(new: Figures, old: Figures) -> None:
    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a is not None and b else "n/a"

    print("-- this tree / baseline")
    print(f"   pushes/s {ratio(new.pushes, old.pushes)}, push p99 "
          f"{ratio(new.push_p99, old.push_p99)}, /healthz p99 "
          f"{ratio(new.health_p99, old.health_p99)}, notification max "
          f"{ratio(new.notify_max, old.notify_max)}, samples/s "
          f"{ratio(new.samples_per_s, old.samples_per_s)}, collector CPU "
          f"{ratio(new.collector_cpu, old.collector_cpu)}")  # fmt: skip
    goals = [
        ("push p99 <= 1 s", new.push_p99 <= 1.0),
        ("/healthz p99 <= 100 ms", new.health_p99 <= 0.1),
    ]
    if new.changes:
        goals.append(("down notified <= 5 s", new.notify_max is not None
                      and new.notify_max <= 5.0 and new.notified == new.changes))  # fmt: skip
    print("   goals: " + "; ".join(f"{goal}: {'met' if ok else 'MISSED'}" for goal, ok in goals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=20, help="checks per agent")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured, per run")
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--processes", type=int, default=4, help="processes of agents")
    parser.add_argument("--changes", type=int, default=20, help="checks that go down")
    parser.add_argument("--only", choices=("new", "baseline"))
    parser.add_argument(
        "--no-alerts",
        action="store_true",
        help="no alert rule: the ingest path alone (no notification times then)",
    )
    args = parser.parse_args()
    if args.seconds <= 2 * args.interval:
        raise SystemExit("--seconds must be more than two intervals (checks go down in it)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the collector on the way out
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one connection per agent
    print(f"{args.agents} agents x {args.checks} checks every {args.interval:g} s = "
          f"{args.agents * args.checks / args.interval:,.0f} samples/s; {args.seconds:g} s "
          f"measured after {args.warmup:g} s, {args.processes} processes of agents")  # fmt: skip
    measured: dict[str, Figures] = {}
    for label, baseline in (("baseline: 200 ms linger, every push admitted", True),
                            ("this tree: batching, pace, admission control", False)):  # fmt: skip
        if args.only and (args.only == "baseline") != baseline:
            continue
        measured[label] = asyncio.run(run(args, baseline))
        report(label, measured[label], args.seconds)
    if len(measured) == 2:
        old, new = measured.values()
        ratios(new, old)


if __name__ == "__main__":
    main()
