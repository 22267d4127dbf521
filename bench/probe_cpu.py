"""CPU per HTTP probe: ours against baselines measured in the same run, as ratios.

    .venv/bin/python bench/probe_cpu.py [--probes 2000] [--concurrency 50] [--tls]

A local aiohttp target runs in another process (its CPU is not counted). Measured, each after
a warm-up, on the same target:
- ours: `slawatch.agent.probes.run_probe` on an http check (fresh connection per probe), CPU of this
  process (`time.process_time`) / probes;
- aiohttp: a ClientSession with a fresh connector per request, the same way;
- blackbox_exporter (when /usr/bin/prometheus-blackbox-exporter exists): `/probe` requests with
  an http_2xx module, its CPU from /proc/PID/stat / probes. It pays for serving `/probe` too,
  as it does in production.
Then how far past its timeout a probe of a silent listener ends (hard timeouts).
Goal (issue 2): ours ≤ 2× blackbox_exporter's CPU per probe.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import trustme

from slawatch.agent.probes import run_probe
from slawatch.agent.sample import ProbeResult
from slawatch.config.schema import Check, HttpTarget

BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
TARGET_SERVER = """
import ssl, sys
from aiohttp import web
async def ok(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/ok", ok)
context = None
if len(sys.argv) > 2:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[2])
web.run_app(
    app, host="127.0.0.1", port=int(sys.argv[1]), ssl_context=context, access_log=None, print=None
)
"""
BLACKBOX_CONFIG = """
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config: {{ca_file: "{ca_file}"}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_many(probe: Callable[[], Awaitable[bool]], count: int, concurrency: int) -> int:
    """Run `probe` `count` times, at most `concurrency` at once; how many succeeded."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> bool:
        async with semaphore:
            return await probe()

    return sum(await asyncio.gather(*(one() for _ in range(count))))


async def measure_in_process(
    name: str, probe: Callable[[], Awaitable[bool]], count: int, concurrency: int
) -> float:
    await run_many(probe, max(100, count // 10), concurrency)
    cpu, wall = time.process_time(), time.perf_counter()
    succeeded = await run_many(probe, count, concurrency)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_probe_us = cpu / count * 1e6
    print(
        f"{name:<18}{per_probe_us:>9.0f} CPU-µs/probe  {count / wall:>7.0f} probes/s"
        f"  ({succeeded}/{count} up)"
    )
    return per_probe_us


def start_blackbox(folder: Path, ca_file: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    if not Path(BLACKBOX).exists():
        return None
    config = folder / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG.format(ca_file=ca_file))
    port = free_port()
    exporter = subprocess.Popen(
        [
            BLACKBOX,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, exporter)
    return exporter, port


async def measure_blackbox(
    exporter: subprocess.Popen[bytes], port: int, url: str, count: int, concurrency: int
) -> float:
    probe_url = f"http://127.0.0.1:{port}/probe"
    params = {"target": url, "module": "http_2xx"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def probe() -> bool:
            async with session.get(probe_url, params=params) as response:
                return "\nprobe_success 1" in await response.text()

        await run_many(probe, max(100, count // 10), concurrency)
        cpu, wall = process_cpu_seconds(exporter.pid), time.perf_counter()
        succeeded = await run_many(probe, count, concurrency)
        cpu = process_cpu_seconds(exporter.pid) - cpu
        wall = time.perf_counter() - wall
    per_probe_us = cpu / count * 1e6
    print(
        f"{'blackbox_exporter':<18}{per_probe_us:>9.0f} CPU-µs/probe  {count / wall:>7.0f}"
        f" probes/s  ({succeeded}/{count} up)"
    )
    return per_probe_us


async def timeout_overshoot(count: int, timeout: float, spacing: float) -> None:
    """Probes of a listener that never answers, started `spacing` apart: how long past `timeout`
    each result says it ended. At 0 spacing they all start in one loop iteration, so the first
    deadlines pass while the last probes are still being started: that measures a saturated
    loop; 5 ms apart is 1,000 checks every 5 s, as the scheduler spreads them."""
    accepted: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0, backlog=count)
    port = server.sockets[0].getsockname()[1]
    check = Check(
        id="silent",
        type="http",
        target=HttpTarget(url=f"http://127.0.0.1:{port}/"),
        timeout=timeout,
    )

    async def one(index: int) -> ProbeResult:
        await asyncio.sleep(index * spacing)
        return await run_probe(check)

    results = await asyncio.gather(*(one(i) for i in range(count)))
    overshoot = sorted((r.latency_ms or 0) - timeout * 1000 for r in results)
    for writer in accepted:
        writer.transport.abort()
    server.close()
    await server.wait_closed()
    p50, p99 = overshoot[len(overshoot) // 2], overshoot[int(len(overshoot) * 0.99)]
    print(
        f"timeout overshoot, {count} probes {spacing * 1000:.0f} ms apart, timeout"
        f" {timeout * 1000:.0f} ms:"
        f" p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {overshoot[-1]:.1f} ms"
    )


async def compare(
    url: str,
    count: int,
    concurrency: int,
    blackbox: tuple[subprocess.Popen[bytes], int] | None,
    ca_file: Path,
) -> None:
    check = Check(id="bench", type="http", target=HttpTarget(url=url), timeout=5.0)
    aiohttp_tls = ssl.create_default_context(cafile=str(ca_file))

    async def ours() -> bool:
        return (await run_probe(check)).ok

    async def with_aiohttp() -> bool:
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url, ssl=aiohttp_tls) as response,
        ):
            await response.read()
            return response.status == 200

    print(f"{count} HTTP probes of {url}, {concurrency} at once, {os.cpu_count()} CPUs\n")
    ours_us = await measure_in_process("slawatch", ours, count, concurrency)
    aiohttp_us = await measure_in_process("aiohttp (fresh)", with_aiohttp, count, concurrency)
    blackbox_us = None
    if blackbox:
        blackbox_us = await measure_blackbox(*blackbox, url, count, concurrency)
    else:
        print(f"{'blackbox_exporter':<18}  not installed ({BLACKBOX})")
    print()
    print(f"slawatch / aiohttp fresh connector: {ours_us / aiohttp_us:.2f}x")
    if blackbox_us:
        verdict = "met" if ours_us <= 2 * blackbox_us else "NOT met"
        print(f"slawatch / blackbox_exporter: {ours_us / blackbox_us:.2f}x (goal ≤ 2x: {verdict})")
    print()
    for spacing_ms in (0, 5):
        await timeout_overshoot(min(count, 500), 0.2, spacing_ms / 1000)


def main(count: int, concurrency: int, tls: bool) -> None:
    """With `tls`, the target is HTTPS with a certificate of a local CA that every prober trusts
    (ours through SSL_CERT_FILE)."""
    folder = Path(tempfile.mkdtemp(prefix="probe-bench-"))
    ca = trustme.CA()
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_pem = folder / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    os.environ["SSL_CERT_FILE"] = str(ca_file)
    port = free_port()
    tls_args = [str(server_pem)] if tls else []
    target = subprocess.Popen([sys.executable, "-c", TARGET_SERVER, str(port), *tls_args])
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/ok"
    blackbox = None
    try:
        wait_for_port(port, target)
        blackbox = start_blackbox(folder, ca_file)
        asyncio.run(compare(url, count, concurrency, blackbox, ca_file))
    finally:
        for process in (target, blackbox[0] if blackbox else None):
            if process is not None:
                process.terminate()
                process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--tls", action="store_true", help="probe an HTTPS target")
    args = parser.parse_args()
    main(args.probes, args.concurrency, args.tls)
