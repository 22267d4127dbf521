"""Hard timeouts, cancellation, and no socket or task left behind, whatever stops a probe."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from dataclasses import replace

import pytest

from slawatch.agent import probes
from slawatch.agent.probes import run_probe
from slawatch.agent.sample import ProbeResult
from slawatch.config.schema import Check, TcpExpect
from tests.support import async_wait_until
from tests.targets import (
    HOST,
    client_sockets_to,
    closed_port,
    http_check,
    http_target,
    silent_listener,
    tcp_check,
)

TIMEOUT = 0.3
SLACK_MS = 250
"""How far past its timeout a result may say it ended: generous, for a loaded 2-core machine.
The overshoot itself is measured in bench/probe_cpu.py, not asserted here."""


def assert_timed_out(result: ProbeResult, phases: list[str]) -> None:
    assert not result.ok
    assert result.error == "timeout after 300ms"
    assert result.latency_ms is not None
    assert TIMEOUT * 1000 <= result.latency_ms < TIMEOUT * 1000 + SLACK_MS
    assert list(result.phases_ms) == phases


def leftover_probe_tasks() -> list[asyncio.Task[object]]:
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks()
        if task is not current and "agent/probes" in task.get_coro().cr_code.co_filename  # type: ignore[union-attr]
    ]


async def assert_nothing_left(port: int) -> None:
    await async_wait_until(lambda: client_sockets_to(port) == 0, timeout=2.0)
    assert leftover_probe_tasks() == []


@pytest.fixture(autouse=True)
def no_unclosed_transports() -> Iterator[None]:
    """A transport dropped without being closed is closed by the garbage collector, which hides
    the leak from a socket count, but it warns first: every test here fails on that warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []


async def test_waiting_for_the_response_times_out_after_connect() -> None:
    async with http_target() as target:
        result = await run_probe(http_check(target.url("/delay/5"), timeout=TIMEOUT))
        await assert_nothing_left(target.port)
    assert_timed_out(result, ["dns", "connect"])


async def test_a_slow_body_times_out_after_the_first_byte() -> None:
    async with http_target() as target:
        result = await run_probe(http_check(target.url("/slow-body/5"), timeout=TIMEOUT))
        await assert_nothing_left(target.port)
    assert_timed_out(result, ["dns", "connect", "ttfb"])
    assert result.status_code == 200


async def test_a_slow_body_within_the_timeout_is_up() -> None:
    async with http_target() as target:
        result = await run_probe(http_check(target.url("/slow-body/0.1"), timeout=2))
    assert result.ok, result.error
    # The body's second part comes 100 ms after the first byte; the probe may see that first
    # byte a little late on a busy loop, so the transfer it measures may be a little shorter.
    assert result.phases_ms["transfer"] >= 50


async def test_a_silent_listener_times_out_tcp_banner_and_http() -> None:
    async with silent_listener() as server:
        expect = TcpExpect(banner_contains="hello")
        tcp = await run_probe(tcp_check(server.port, timeout=TIMEOUT, expect=expect))
        http = await run_probe(http_check(f"http://{HOST}:{server.port}/", timeout=TIMEOUT))
        tls = await run_probe(http_check(f"https://{HOST}:{server.port}/", timeout=TIMEOUT))
        await assert_nothing_left(server.port)
        await async_wait_until(lambda: server.open_connections == 0, timeout=2.0)
    for result in (tcp, http, tls):
        assert_timed_out(result, ["dns", "connect"])
    assert server.connections == 3


async def test_many_probes_timing_out_at_once_leave_nothing() -> None:
    async with silent_listener() as server:
        checks = [
            http_check(f"http://{HOST}:{server.port}/", timeout=TIMEOUT, check_id=f"c{i}")
            for i in range(40)
        ]
        results = await asyncio.gather(*(run_probe(check) for check in checks))
        await assert_nothing_left(server.port)
    assert {result.error for result in results} == {"timeout after 300ms"}


async def test_failures_leave_no_socket() -> None:
    async with http_target() as target:
        for path in ("/status/500", "/bytes/3000000", "/redirect/20"):
            await run_probe(http_check(target.url(path), follow_redirects=True))
        await assert_nothing_left(target.port)
    async with closed_port() as port:
        await run_probe(tcp_check(port))
        await assert_nothing_left(port)


async def test_cancelling_a_probe_propagates_and_closes_its_socket() -> None:
    async with silent_listener() as server:
        task = asyncio.create_task(run_probe(http_check(f"http://{HOST}:{server.port}/")))
        await async_wait_until(lambda: server.connections == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await assert_nothing_left(server.port)


async def test_unknown_type_is_down_not_an_exception() -> None:
    check = Check(id="x", type="gopher", target=http_check("http://127.0.0.1/").target)
    result = await run_probe(check)
    assert not result.ok
    assert result.error == "unknown check type 'gopher'"


async def test_a_probe_bug_is_a_down_result(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(check: Check) -> ProbeResult:
        raise KeyError("bug")

    monkeypatch.setitem(
        probes.CHECK_TYPES, "http", replace(probes.CHECK_TYPES["http"], probe=broken)
    )
    result = await run_probe(http_check("http://127.0.0.1/"))
    assert not result.ok
    assert result.error == "probe error: KeyError"
