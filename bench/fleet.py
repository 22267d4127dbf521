"""Central checks at fleet size: what polling costs the collector, and how soon a change runs.

    .venv/bin/python bench/fleet.py [--agents 50] [--checks 200] [--poll 5] [--seconds 30]
        [--changes 3]

1. `slawatch collector` runs as a process on a new database, its file with `--agents` agents and
   `--checks` central checks (every agent runs every check).
2. Polling: `--agents` pollers in this process each ask `GET /api/v1/agent/checks` every
   `--poll` seconds (spread over the period) for `--seconds`, twice: the baseline without
   `If-None-Match` (every poll a 200 with all the checks, as an agent without the ETag would),
   then as the agent polls, with the ETag of its last answer (304s). The collector's CPU is read
   from /proc/PID/stat: printed as µs per poll, and the 304 run's as a ratio of the baseline's.
3. Change to first probe: a real agent (scheduler, probes, spool, shipper, central checks every
   `--poll`) runs in this process against the collector, probing a local target. `--changes`
   times, a check is added to the collector's file and the collector gets SIGHUP; the time from
   the signal to the target's first request for the new check is printed (each, and the worst),
   with the bound the design gives: one poll, plus the new check's start (within
   `LIVE_SPREAD_S` of its arrival).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from slawatch.agent.main import Agent
from slawatch.agent.scheduler import LIVE_SPREAD_S
from slawatch.config.schema import AgentConfig, Secret
from slawatch.logs import configure_logging

CHECK_INTERVAL = "30s"


def token(agent: int) -> str:
    return f"bench-agent-{agent:04d}-token-0123456789"


def collector_file(port: int, target_port: int, agents: int, checks: int, extra: int) -> str:
    lines = [
        "collector:",
        f"  listen: 127.0.0.1:{port}",
        "  database: data/collector.db",
        "  agents:",
        *(f"    - {{id: a{n:04d}, token: {token(n)}}}" for n in range(agents)),
        "checks:",
    ]
    for n in range(checks + extra):
        name = f"new-{n - checks}" if n >= checks else f"c{n:04d}"
        lines.append(
            f'  - {{id: {name}, url: "http://127.0.0.1:{target_port}/{name}", '
            f"interval: {CHECK_INTERVAL}}}"
        )
    return "\n".join(lines) + "\n"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the collector exited")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the collector did not start")


# ------------------------------------------------------------------------------------- polling


async def poll_for(
    url: str, etags: dict[int, str], agents: int, period: float, seconds: float
) -> tuple[int, int, int]:
    """Every agent polls every `period` for `seconds`, with the ETag of its last answer if it
    has one; (polls, 304s, bytes received)."""
    counts = {"polls": 0, "not_modified": 0, "bytes": 0}
    stop_at = time.monotonic() + seconds

    async def one_agent(session: aiohttp.ClientSession, n: int) -> None:
        await asyncio.sleep(period * n / agents)
        last = etags.get(n)
        while time.monotonic() < stop_at:
            headers = {"Authorization": f"Bearer {token(n)}"}
            if last:
                headers["If-None-Match"] = last
            async with session.get(f"{url}/api/v1/agent/checks", headers=headers) as response:
                body = await response.read()
                counts["polls"] += 1
                counts["bytes"] += len(body)
                if response.status == 304:
                    counts["not_modified"] += 1
                elif response.status != 200:
                    raise SystemExit(f"poll answered {response.status}")
                if n in etags:
                    last = response.headers.get("ETag")
            await asyncio.sleep(period)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one_agent(session, n) for n in range(agents)))
    return counts["polls"], counts["not_modified"], counts["bytes"]


async def first_etags(url: str, agents: int) -> dict[int, str]:
    """Each agent's ETag, as an agent has it from its previous poll (or its cache)."""
    etags = {}
    async with aiohttp.ClientSession() as session:
        for n in range(agents):
            headers = {"Authorization": f"Bearer {token(n)}"}
            async with session.get(f"{url}/api/v1/agent/checks", headers=headers) as response:
                etags[n] = response.headers["ETag"]
    return etags


async def measure_polls(
    url: str, pid: int, agents: int, period: float, seconds: float, *, etag: bool
) -> float:
    etags = await first_etags(url, agents) if etag else {}
    before = cpu_seconds(pid)
    polls, not_modified, received = await poll_for(url, etags, agents, period, seconds)
    used = cpu_seconds(pid) - before
    per_poll = used / polls * 1e6
    label = "with ETag (304)" if etag else "baseline, no ETag"
    print(
        f"  {label:<18} {polls:>5} polls ({not_modified} answered 304), "
        f"{received / polls / 1024:8.1f} KiB/poll, collector CPU {used:6.2f} s = "
        f"{per_poll:8.0f} µs/poll"
    )
    return per_poll


# ----------------------------------------------------------------------------- change latency


class Target:
    """Answers every GET with 200 and notes when each path was first asked."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.first_hit: dict[str, float] = {}
        self.hit = asyncio.Event()
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def hit(request: web.Request) -> web.Response:
            self.first_hit.setdefault(request.path.lstrip("/"), time.monotonic())
            self.hit.set()
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/{name}", hit)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def first(self, name: str) -> float:
        while name not in self.first_hit:
            self.hit.clear()
            await self.hit.wait()
        return self.first_hit[name]


async def change_latencies(
    *,
    folder: Path,
    config: Path,
    url: str,
    process: subprocess.Popen[bytes],
    target: Target,
    args: argparse.Namespace,
) -> list[float]:
    agent = Agent(
        AgentConfig(
            id="a0000",
            collector=url,
            token=Secret(token(0)),
            spool=folder / "agent" / "a0000-spool.db",
            checks_poll=args.poll,
        ),
        (),
        registry=CollectorRegistry(),
        central=True,
    )
    await agent.start()
    assert agent.central is not None
    latencies = []
    try:
        await agent.central.poll()  # the agent has its checks: changes start from here
        for change in range(args.changes):
            port = int(url.rsplit(":", 1)[1])
            text = collector_file(port, target.port, args.agents, args.checks, change + 1)
            await asyncio.to_thread(config.write_text, text, encoding="utf-8")
            sent = time.monotonic()
            process.send_signal(signal.SIGHUP)
            name = f"new-{change}"
            latency = await target.first(name) - sent
            latencies.append(latency)
            print(f"  change {change + 1}: first probe of {name} {latency:6.2f} s after SIGHUP")
            await asyncio.sleep(args.poll * 0.37)  # the next change lands elsewhere in a poll
    finally:
        await agent.stop()
    return latencies


# ---------------------------------------------------------------------------------------- main


def main(args: argparse.Namespace) -> None:
    configure_logging(level="warning", log_format="console")
    with tempfile.TemporaryDirectory(prefix="slawatch-fleet-bench-") as temporary:
        folder = Path(temporary)
        port, target_port = _free_port(), _free_port()
        url = f"http://127.0.0.1:{port}"
        config = folder / "collector.yaml"
        config.write_text(
            collector_file(port, target_port, args.agents, args.checks, 0), encoding="utf-8"
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "slawatch.cli", "--log-level", "warning", "collector",
             "--config", str(config)],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_healthy(url, process)
            asyncio.run(
                measure(
                    folder=folder,
                    config=config,
                    url=url,
                    process=process,
                    target=Target(target_port),
                    args=args,
                )
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


async def measure(
    *,
    folder: Path,
    config: Path,
    url: str,
    process: subprocess.Popen[bytes],
    target: Target,
    args: argparse.Namespace,
) -> None:
    await target.start()
    try:
        print(
            f"{args.agents} agents x {args.checks} central checks, polling every "
            f"{args.poll:g} s for {args.seconds:g} s:"
        )
        baseline = await measure_polls(
            url, process.pid, args.agents, args.poll, args.seconds, etag=False
        )
        with_etag = await measure_polls(
            url, process.pid, args.agents, args.poll, args.seconds, etag=True
        )
        print(f"  collector CPU per poll with 304s: {with_etag / baseline:.2f} x baseline")
        print(f"change to first probe (agent polling every {args.poll:g} s):")
        latencies = await change_latencies(
            folder=folder, config=config, url=url, process=process, target=target, args=args
        )
        bound = args.poll + LIVE_SPREAD_S
        print(
            f"  median {statistics.median(latencies):.2f} s, worst {max(latencies):.2f} s "
            f"(expected: one poll + the spread of a check added live = {bound:g} s at most, "
            "plus the reload)"
        )
    finally:
        assert target.runner is not None
        await target.runner.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--changes", type=int, default=3)
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_args())
