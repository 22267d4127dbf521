"""How much an agent costs per probe, against Prometheus' blackbox_exporter in the same run.

    .venv/bin/python bench/agent_probes.py [--checks 200] [--interval 1] [--seconds 60]

1. A target process (aiohttp on 127.0.0.1, its own process so its CPU is not counted) serves
   `GET /ok` to probe and `POST /api/v1/samples` (acknowledging every sample) to stand in for
   the collector.
2. The whole agent runs in this process, on the event loop `slawatch agent` runs on (uvloop;
   `--asyncio`: asyncio's own), with its scheduler, real HTTP probes, spool on disk, shipper:
   `--checks` HTTP checks every `--interval` for `--seconds`. Measured after one interval of
   warm-up: probes/s, schedule lag (p50/p99/max), CPU-µs per probe (this process, /proc), RSS.
3. The baseline: `prometheus-blackbox-exporter` with an `http_2xx` module probes the same URL
   at the same rate through `/probe?target=…`, driven from here; its CPU is read from
   /proc/PID/stat. Printed: the agent's CPU-µs per probe as a ratio of blackbox_exporter's.
   Debian's package is installed when missing (as root).

Both pay a fresh connection per probe; the agent also pays for spooling and shipping each
sample, blackbox_exporter for answering each /probe request with Prometheus text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from slawatch.agent.main import Agent, freeze_long_lived_objects, run_loop
from slawatch.config.schema import AgentConfig, Check, HttpTarget, Secret
from slawatch.logs import configure_logging

BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
TOKEN = "bench-token"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------ target process


async def serve_target(port: int) -> None:
    # Imported here, in the target's process only: the agent's RSS must not count a server it
    # does not run.
    from aiohttp import web

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def samples(request: web.Request) -> web.Response:
        """Acknowledges every sample, as the collector does (the agent checks the count)."""
        body = await request.read()  # aiohttp has gunzipped it
        return web.json_response({"accepted": len(json.loads(body)["samples"]), "duplicates": 0})

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_post("/api/v1/samples", samples)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    await asyncio.Event().wait()


def start_target() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-target", str(port)])
    wait_for_port(port)
    return process, port


# ----------------------------------------------------------------------------------- measures


@dataclass(frozen=True, slots=True)
class Load:
    checks: int
    interval: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.checks / self.interval


@dataclass(frozen=True, slots=True)
class Figures:
    probes: int
    seconds: float
    cpu_s: float

    @property
    def probes_per_s(self) -> float:
        return self.probes / self.seconds

    @property
    def cpu_us_per_probe(self) -> float:
        return self.cpu_s / self.probes * 1e6 if self.probes else math.nan


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class LagRecorder:
    """Stands in for the schedule-lag histogram to keep every observation, in two arrays of
    floats (16 bytes each, where a list of tuples took 120: the agent's RSS is measured in the
    same process)."""

    def __init__(self) -> None:
        self.times = array("d")
        """Monotonic time of each observation."""
        self.lags = array("d")

    def observe(self, value: float) -> None:
        self.times.append(time.monotonic())
        self.lags.append(value)

    def since(self, start: float) -> list[float]:
        return [lag for at, lag in zip(self.times, self.lags, strict=True) if at >= start]


# ---------------------------------------------------------------------------------- the agent


async def bench_agent(folder: Path, target_port: int, load: Load) -> Figures:
    checks, interval, seconds = load.checks, load.interval, load.seconds
    url = f"http://127.0.0.1:{target_port}/ok"
    check_list = [
        Check(
            id=f"web-{i:04d}",
            type="http",
            target=HttpTarget(url=url),
            interval=interval,
            timeout=min(interval, 5.0),
        )
        for i in range(checks)
    ]
    config = AgentConfig(
        id="bench",
        collector=f"http://127.0.0.1:{target_port}",
        token=Secret(TOKEN),
        spool=folder / "spool.db",
        concurrency=256,
    )
    agent = Agent(config, check_list, registry=CollectorRegistry())
    recorder = LagRecorder()
    agent.metrics.schedule_lag = recorder  # type: ignore[assignment]
    await agent.start()
    freeze_long_lived_objects()  # as `slawatch agent` does
    try:
        await asyncio.sleep(interval)  # warm-up: every check has run once
        start, cpu_start, probes_start = time.monotonic(), self_cpu_s(), len(recorder.lags)
        await asyncio.sleep(seconds - interval)
        elapsed, cpu = time.monotonic() - start, self_cpu_s() - cpu_start
        probes = len(recorder.lags) - probes_start
        rss, peak = rss_mb()
    finally:
        await agent.stop()
    lags = recorder.since(start)
    figures = Figures(probes, elapsed, cpu)
    pushed = agent.registry.get_sample_value("slawatch_samples_pushed_total") or 0
    up = sum(
        agent.registry.get_sample_value("slawatch_probe_success", {"check": c.id}) or 0
        for c in check_list
    )
    print(f"agent: {checks} HTTP checks every {interval:g}s, measured {elapsed:.1f}s")
    print(f"  probes/s            {figures.probes_per_s:10.1f}  (expected {checks / interval:.1f})")
    print(
        f"  schedule lag ms     p50 {percentile(lags, 50) * 1e3:.2f}  "
        f"p99 {percentile(lags, 99) * 1e3:.2f}  max {max(lags) * 1e3:.2f}  (goal p99 < 50)"
    )
    print(f"  CPU-µs per probe    {figures.cpu_us_per_probe:10.0f}")
    print(f"  RSS MB              {rss:10.1f}  (peak {peak:.1f}; goal ≤ 50)")
    print(f"  samples pushed      {pushed:10.0f}  (spool left: {agent.spool.queued})")
    print(f"  checks up at end    {up:10.0f}  of {checks}")
    return figures


# ------------------------------------------------------------------------------ the baseline


def start_blackbox(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    config = folder / "blackbox.yml"
    config.write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
        "    http:\n      preferred_ip_protocol: ip4\n",
        encoding="utf-8",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            BLACKBOX,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return process, port


async def bench_blackbox(pid: int, port: int, target_port: int, load: Load) -> Figures:
    rate, interval, seconds = load.rate, load.interval, load.seconds
    probe_url = f"http://127.0.0.1:{port}/probe"
    params = {"target": f"http://127.0.0.1:{target_port}/ok", "module": "http_2xx"}
    failures = 0

    async def probe(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        async with session.get(probe_url, params=params) as response:
            if "probe_success 1" not in await response.text():
                failures += 1

    async def drive(session: aiohttp.ClientSession, duration: float) -> int:
        """`rate` probes per second, evenly spread, as the agent's schedule does."""
        tasks: set[asyncio.Task[None]] = set()
        begin, sent = time.monotonic(), 0
        while (now := time.monotonic()) < begin + duration:
            due = int((now - begin) * rate) + 1
            for _ in range(due - sent):
                task = asyncio.create_task(probe(session))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            sent = due
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
        return sent

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        await drive(session, interval)  # warm-up, as for the agent
        start, cpu_start = time.monotonic(), process_cpu_s(pid)
        probes = await drive(session, seconds - interval)
        elapsed, cpu = time.monotonic() - start, process_cpu_s(pid) - cpu_start
    rss, peak = rss_mb(pid)
    figures = Figures(probes, elapsed, cpu)
    print(f"blackbox_exporter: same target and rate through /probe, measured {elapsed:.1f}s")
    print(f"  probes/s            {figures.probes_per_s:10.1f}  (failed: {failures})")
    print(f"  CPU-µs per probe    {figures.cpu_us_per_probe:10.0f}")
    print(f"  RSS MB              {rss:10.1f}  (peak {peak:.1f})")
    return figures


# ------------------------------------------------------------------------------------ helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def install_blackbox() -> None:
    """Debian's prometheus-blackbox-exporter, when missing and this runs as root."""
    if Path(BLACKBOX).exists() or os.geteuid() != 0:
        return
    print("installing prometheus-blackbox-exporter (Debian package) for the baseline")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
         "prometheus-blackbox-exporter"],
        check=False, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def main(args: argparse.Namespace) -> None:
    configure_logging("error")  # a loaded machine makes the scheduler warn of skipped runs
    load = Load(args.checks, args.interval, args.seconds)
    install_blackbox()
    target, target_port = start_target()
    folder = Path(tempfile.mkdtemp(prefix="slawatch-bench-"))
    try:
        run = asyncio.run if args.asyncio else run_loop
        agent = run(bench_agent(folder, target_port, load))
        if not Path(BLACKBOX).exists():
            print(f"{BLACKBOX} not installed: no baseline")
            return
        blackbox, port = start_blackbox(folder)
        try:
            baseline = asyncio.run(bench_blackbox(blackbox.pid, port, target_port, load))
        finally:
            blackbox.terminate()
            blackbox.wait(10)
    finally:
        target.terminate()
        target.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    ratio = agent.cpu_us_per_probe / baseline.cpu_us_per_probe
    print(f"ratio agent / blackbox_exporter CPU-µs per probe: {ratio:.2f}x  (goal ≤ 0.75x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--asyncio", action="store_true", help="asyncio's own loop, not uvloop")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--serve-target", type=int, metavar="PORT", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve_target:
        asyncio.run(serve_target(arguments.serve_target))
    else:
        main(arguments)
