"""The collector's connection limits in-process, on a real server on loopback, over raw sockets:
request head timeout, eviction of idle connections to make room, 503 when every connection is
busy, a body that does not arrive (issue 15, 1; `slawatch.collector.connections`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from slawatch.collector import bodies
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.support import async_wait_until

ADMIN = "admin-token-conn-0123456789"
AGENT = "agent-token-conn-0123456789"
CAP = 16
HALF_A_HEAD = b"GET /healthz HTTP/1.1\r\nHost: collector\r\n"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: collector\r\n\r\n"


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[Collector]:
    config = parse_config(
        f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  max_connections: {CAP}
  agents:
    - {{id: eu-1, token: {AGENT}}}
""",
        base_dir=tmp_path,
        process="collector",
    )
    collector = Collector(config)
    await collector.start()
    yield collector
    await collector.stop()


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(collector: Collector, send: bytes = b"") -> Connection:
    host, port = collector.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    if send:
        writer.write(send)
        await writer.drain()
    return reader, writer


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 response with a Content-Length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if line)
    body = await reader.readexactly(int(headers["Content-Length"]))
    return int(status_line.split()[1]), headers, body


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 10) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except ConnectionResetError:
        return True


def busy_push() -> bytes:
    """The head of a push whose body never comes: its connection is busy with a request."""
    return (
        "POST /api/v1/samples HTTP/1.1\r\nHost: collector\r\n"
        f"Authorization: Bearer {AGENT}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()


def closed_count(collector: Collector, reason: str) -> float | None:
    return collector.registry.get_sample_value(
        "slawatch_http_connections_closed_total", {"reason": reason}
    )


async def test_a_connection_without_a_whole_request_head_is_closed_but_a_kept_alive_one_waits(
    collector: Collector,
) -> None:
    collector.connections.head_timeout_s = 0.5
    kept_reader, kept_writer = await connect(collector, HEALTHZ)
    assert (await answer(kept_reader))[0] == 200
    silent, silent_writer = await connect(collector)
    half, half_writer = await connect(collector, HALF_A_HEAD)
    assert await closed_by_server(silent)
    assert await closed_by_server(half)
    silent_writer.close()
    half_writer.close()
    assert closed_count(collector, "head_timeout") == 2
    # Idle longer than the head timeout (it answered before the others opened), yet open:
    # between requests a connection may wait `KEEPALIVE_TIMEOUT_S`; it serves the next one.
    kept_writer.write(HEALTHZ)
    assert (await answer(kept_reader))[0] == 200
    # Half of its next request head, and it too is closed.
    kept_writer.write(HALF_A_HEAD)
    assert await closed_by_server(kept_reader)


async def test_at_the_cap_the_connection_idle_the_longest_makes_room(
    collector: Collector,
) -> None:
    idle = [await connect(collector) for _ in range(CAP)]
    await async_wait_until(lambda: collector.connections.open == CAP)
    reader, writer = await connect(collector, HEALTHZ)
    assert (await answer(reader))[0] == 200
    assert await closed_by_server(idle[0][0])  # the oldest one
    writer.close()
    assert closed_count(collector, "evicted") == 1
    assert collector.connections.open == CAP
    for _, writer in idle:
        writer.close()


async def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503_and_retry_after(
    collector: Collector,
) -> None:
    busy = [await connect(collector, busy_push()) for _ in range(CAP)]
    await async_wait_until(lambda: collector.connections.busy == CAP)
    assert collector.registry.get_sample_value("slawatch_http_connections") == CAP
    reader, writer = await connect(collector, HEALTHZ)
    status, headers, body = await answer(reader)
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert json.loads(body)["error"].startswith("too many connections")
    assert await closed_by_server(reader)
    writer.close()
    assert closed_count(collector, "refused") == 1
    for _, writer in busy:  # the pushes' bodies come (not JSON: 400) and the requests end
        writer.write(b"x" * 100)
    for busy_reader, _ in busy:
        assert (await answer(busy_reader))[0] == 400

    async def healthy() -> bool:
        reader, writer = await connect(collector, HEALTHZ)
        status = (await answer(reader))[0]
        writer.close()
        return status == 200

    await async_wait_until(healthy, timeout=10, interval=0.2)


async def test_a_body_that_does_not_arrive_in_time_is_refused_with_408(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bodies, "BODY_TIMEOUT_S", 0.5)
    reader, writer = await connect(collector, busy_push() + b'{"agent": "eu-1", ')
    status, _, body = await answer(reader)
    assert status == 408
    assert json.loads(body)["error"] == "the body did not arrive within 0.5 s"
    assert (
        collector.registry.get_sample_value("slawatch_ingest_errors_total", {"reason": "timeout"})
        == 1
    )
    writer.close()
