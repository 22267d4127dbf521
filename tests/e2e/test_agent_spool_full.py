"""`slawatch agent` whose spool cannot be written (its file may not grow: `ulimit -f`, as on a
full disk): every sample lost is counted in `slawatch_spool_dropped_samples_total{reason=
"write_failed"}` and logged at error level, and the agent keeps running.

A folder made read-only would not do: the tests may run as root, whom permissions do not stop.
The file-size limit (RLIMIT_FSIZE) stops root too; Python ignores the SIGXFSZ it raises, so
SQLite's write fails with an error, as it does on a full disk.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import async_wait_until, free_port, read_stderr
from tests.targets import HttpTargetServer, http_target

TOKEN = "e2e-agent-token-5d0e"
FILE_SIZE_LIMIT_BYTES = 160 * 1024
"""Room for the spool's schema and a few commits in its WAL file, not for many."""
LIMITED_AGENT = (
    "import os, resource, sys; "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1]))); "
    "os.execv(sys.executable, [sys.executable, '-m', 'slawatch.cli', *sys.argv[2:]])"
)


@pytest.fixture
async def target() -> AsyncIterator[HttpTargetServer]:
    async with http_target() as server:
        yield server


def write_config(folder: Path, target: HttpTargetServer, metrics_port: int) -> Path:
    path = folder / "agent.yaml"
    path.write_text(
        f"""
agent:
  id: eu-1
  collector: http://127.0.0.1:{free_port()}
  token: ${{SLAWATCH_E2E_TOKEN}}
  spool: data/spool.db
  metrics_listen: 127.0.0.1:{metrics_port}
checks:
  - id: web
    url: {target.url("/ok")}
    interval: 50ms
""",
        encoding="utf-8",
    )
    return path


def start_agent_with_file_size_limit(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LIMITED_AGENT, str(FILE_SIZE_LIMIT_BYTES),
         "agent", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "SLAWATCH_E2E_TOKEN": TOKEN},
    )  # fmt: skip


async def write_failures(port: int) -> float:
    """`slawatch_spool_dropped_samples_total{reason="write_failed"}` of the agent's /metrics."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            text = await response.text()
    except aiohttp.ClientError:
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "slawatch_spool_dropped_samples_total"
        and sample.labels == {"reason": "write_failed"}
    )


async def test_samples_a_full_spool_cannot_keep_are_counted(
    tmp_path: Path, target: HttpTargetServer
) -> None:
    metrics_port = free_port()
    config = write_config(tmp_path, target, metrics_port)
    agent = start_agent_with_file_size_limit(config)
    lines, reader = read_stderr(agent)  # a full pipe would block the agent's logging and loop
    try:
        counted = await async_wait_until(lambda: write_failures(metrics_port), timeout=30)
        assert agent.poll() is None, "the agent keeps running"
    finally:
        agent.terminate()
        try:
            code = await asyncio.to_thread(agent.wait, 15)
        finally:
            agent.kill()  # a no-op once it has exited
            await asyncio.to_thread(reader.join, 10)
    log = "".join(lines)
    assert code == 0, log
    events = [json.loads(line) for line in lines if line.startswith("{")]
    failed = [e for e in events if e["event"] == "spool_write_failed"]
    assert failed and all(e["level"] == "error" for e in failed)
    assert all("spool.db" in e["spool"] for e in failed)
    assert sum(e["samples_lost"] for e in failed) >= counted >= 1
    assert (tmp_path / "data" / "spool.db").stat().st_size <= FILE_SIZE_LIMIT_BYTES
    assert "Traceback" not in log
