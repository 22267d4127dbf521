"""The TCP probe against real local listeners: connect, send, banners, failures."""

from __future__ import annotations

from slawatch.agent.probes import run_probe
from slawatch.agent.sample import ProbeResult
from slawatch.config.schema import TcpExpect
from tests.support import async_wait_until
from tests.targets import closed_port, http_target, silent_listener, tcp_check, tcp_server


def phases_sum_us(result: ProbeResult) -> int:
    return sum(round(ms * 1000) for ms in result.phases_ms.values())


async def test_connect_only() -> None:
    async with silent_listener() as server:
        result = await run_probe(tcp_check(server.port))
    assert result.ok, result.error
    assert list(result.phases_ms) == ["dns", "connect"]
    assert result.status_code is None
    assert result.latency_ms is not None
    assert phases_sum_us(result) == round(result.latency_ms * 1000)


async def test_connect_by_name_times_dns() -> None:
    async with silent_listener() as server:
        result = await run_probe(tcp_check(server.port, host="localhost"))
    assert result.ok, result.error
    assert result.phases_ms["dns"] > 0


async def test_closed_port_is_refused() -> None:
    async with closed_port() as port:
        result = await run_probe(tcp_check(port))
    assert not result.ok
    assert result.error == "connection refused"
    assert list(result.phases_ms) == ["dns"]


async def test_banner_contains_and_regex() -> None:
    async with tcp_server(b"SSH-2.0-OpenSSH_9.6 Debian\r\n") as server:
        contains = await run_probe(
            tcp_check(server.port, expect=TcpExpect(banner_contains="OpenSSH"))
        )
        regex = await run_probe(
            tcp_check(server.port, expect=TcpExpect(banner_regex=r"^SSH-2\.0-"))
        )
    for result in (contains, regex):
        assert result.ok, result.error
        assert list(result.phases_ms) == ["dns", "connect", "ttfb", "transfer"]
        assert result.latency_ms is not None
        assert phases_sum_us(result) == round(result.latency_ms * 1000)


async def test_banner_mismatch_when_the_server_closes() -> None:
    async with tcp_server(b"220 smtp ready\r\n", hang_up=True) as server:
        result = await run_probe(tcp_check(server.port, expect=TcpExpect(banner_regex="^SSH-")))
    assert not result.ok
    assert result.error == "banner does not match /^SSH-/ (connection closed)"


async def test_banner_mismatch_while_the_server_stays_is_a_timeout() -> None:
    async with tcp_server(b"220 smtp ready\r\n") as server:
        check = tcp_check(server.port, timeout=0.3, expect=TcpExpect(banner_contains="SSH"))
        result = await run_probe(check)
    assert result.error == "timeout after 300ms"
    assert list(result.phases_ms) == ["dns", "connect", "ttfb"]


async def test_banner_arriving_in_pieces() -> None:
    """The match may need several reads: the server answers each request line separately."""
    async with tcp_server(b"+OK part one", reply=lambda data: b" and " + data) as server:
        check = tcp_check(
            server.port,
            send="part two\n",
            expect=TcpExpect(banner_regex=r"part one and part two"),
        )
        result = await run_probe(check)
    assert result.ok, result.error


async def test_send_then_expect_the_reply() -> None:
    async with tcp_server(
        None, reply=lambda data: b"PONG\r\n" if b"PING" in data else None
    ) as server:
        result = await run_probe(
            tcp_check(server.port, send="PING\r\n", expect=TcpExpect(banner_contains="PONG"))
        )
        assert bytes(server.received) == b"PING\r\n"
    assert result.ok, result.error


async def test_send_without_expectation_is_written() -> None:
    async with tcp_server(None) as server:
        result = await run_probe(tcp_check(server.port, send="QUIT\r\n"))
        assert result.ok, result.error
        assert list(result.phases_ms) == ["dns", "connect"]
        await async_wait_until(lambda: bytes(server.received) == b"QUIT\r\n")


async def test_unicode_send_is_utf8() -> None:
    async with tcp_server(None, reply=lambda data: data) as server:
        result = await run_probe(
            tcp_check(server.port, send="héllo\n", expect=TcpExpect(banner_contains="héllo"))
        )
    assert result.ok, result.error


async def test_max_latency_on_tcp() -> None:
    async with http_target() as target:
        request = "GET /delay/0.2 HTTP/1.0\r\n\r\n"
        fast = await run_probe(
            tcp_check(target.port, send=request, expect=TcpExpect(banner_contains="HTTP/1"))
        )
        slow = await run_probe(
            tcp_check(
                target.port,
                send=request,
                expect=TcpExpect(banner_contains="HTTP/1", max_latency=0.1),
            )
        )
    assert fast.ok, fast.error
    assert not slow.ok
    assert slow.error is not None and slow.error.startswith("slower than 100ms (0.2"), slow.error
