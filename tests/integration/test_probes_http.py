"""The HTTP probe against real local servers (tests/targets.py): expectations, redirects, bodies,
phases, failures."""

from __future__ import annotations

import pytest

from slawatch.agent.probes import run_probe
from slawatch.agent.sample import ProbeResult
from slawatch.config.contract import BODY_READ_LIMIT_BYTES
from slawatch.config.schema import HttpExpect, StatusRange
from tests.targets import (
    HttpTargetServer,
    closed_port,
    http_check,
    http_target_fixture,  # noqa: F401 - registers the fixture
    tcp_server,
)


def assert_phases_add_up(result: ProbeResult) -> None:
    """Phases are whole microseconds that sum to latency_ms exactly."""
    assert result.latency_ms is not None
    total_us = sum(round(ms * 1000) for ms in result.phases_ms.values())
    assert total_us == round(result.latency_ms * 1000)


async def test_up_with_every_phase_but_tls(http_target: HttpTargetServer) -> None:
    result = await run_probe(http_check(http_target.url("/ok")))
    assert result.ok, result.error
    assert result.status_code == 200
    assert result.error is None
    assert list(result.phases_ms) == ["dns", "connect", "ttfb", "transfer"]
    assert result.phases_ms["dns"] == 0.0  # an IP address needs no resolution
    assert result.tls_expires is None
    assert_phases_add_up(result)


async def test_a_hostname_is_resolved_and_timed(http_target: HttpTargetServer) -> None:
    url = f"http://localhost:{http_target.port}/ok"
    result = await run_probe(http_check(url))
    assert result.ok, result.error
    assert result.phases_ms["dns"] > 0
    assert_phases_add_up(result)
    assert http_target.requests[-1].headers["Host"] == f"localhost:{http_target.port}"


async def test_request_carries_method_headers_body_and_defaults(
    http_target: HttpTargetServer,
) -> None:
    check = http_check(
        http_target.url("/echo?a=1&b=two"),
        method="POST",
        headers={"X-Probe": "yes", "User-Agent": "custom/1"},
        body='{"ping": true}',
    )
    result = await run_probe(check)
    assert result.ok, result.error
    seen = http_target.requests[-1]
    assert seen.method == "POST"
    assert seen.path_qs == "/echo?a=1&b=two"
    assert seen.body == b'{"ping": true}'
    assert seen.headers["X-Probe"] == "yes"
    assert seen.headers["User-Agent"] == "custom/1"
    assert seen.headers["Content-Length"] == str(len(b'{"ping": true}'))
    assert seen.headers["Connection"] == "close"
    assert seen.headers["Accept-Encoding"] == "identity"
    assert seen.headers["Host"] == f"127.0.0.1:{http_target.port}"


async def test_default_user_agent(http_target: HttpTargetServer) -> None:
    await run_probe(http_check(http_target.url("/ok")))
    assert http_target.requests[-1].headers["User-Agent"] == "slawatch/0.1"


async def test_head_request_has_no_body_to_wait_for(http_target: HttpTargetServer) -> None:
    result = await run_probe(http_check(http_target.url("/bytes/5000"), method="HEAD"))
    assert result.ok, result.error
    assert http_target.requests[-1].method == "HEAD"


async def test_userinfo_in_the_url_becomes_basic_auth(http_target: HttpTargetServer) -> None:
    url = f"http://user:p%40ss@127.0.0.1:{http_target.port}/ok"
    result = await run_probe(http_check(url))
    assert result.ok, result.error
    assert http_target.requests[-1].headers["Authorization"] == "Basic dXNlcjpwQHNz"
    assert http_target.requests[-1].headers["Host"] == f"127.0.0.1:{http_target.port}"


# ----------------------------------------------------------------------------------- status


async def test_default_status_range_is_200_to_399(http_target: HttpTargetServer) -> None:
    for code, ok in [(200, True), (204, True), (302, True), (399, True), (404, False)]:
        result = await run_probe(http_check(http_target.url(f"/status/{code}")))
        assert result.ok is ok, (code, result)
        assert result.status_code == code


async def test_status_outside_the_expected_list_is_down(http_target: HttpTargetServer) -> None:
    expect = HttpExpect(status=(StatusRange(200, 200),))
    result = await run_probe(http_check(http_target.url("/status/503"), expect=expect))
    assert not result.ok
    assert result.error == "status 503 not in [200]"
    assert result.status_code == 503
    assert_phases_add_up(result)  # an answer that fails expectations is still fully timed


async def test_status_ranges_and_classes(http_target: HttpTargetServer) -> None:
    expect = HttpExpect(status=(StatusRange(200, 299), StatusRange(404, 404)))
    ok = await run_probe(http_check(http_target.url("/status/404"), expect=expect))
    assert ok.ok, ok.error
    down = await run_probe(http_check(http_target.url("/status/500"), expect=expect))
    assert down.error == "status 500 not in [2xx, 404]"
    five = HttpExpect(status=(StatusRange(500, 503),))
    ok_5xx = await run_probe(http_check(http_target.url("/status/503"), expect=five))
    assert ok_5xx.ok, ok_5xx.error


# ------------------------------------------------------------------------------------- body


async def test_body_contains(http_target: HttpTargetServer) -> None:
    url = http_target.url("/text?body=all%20systems%20ok")
    assert (await run_probe(http_check(url, expect=HttpExpect(body_contains="ok")))).ok
    result = await run_probe(http_check(url, expect=HttpExpect(body_contains="healthy")))
    assert not result.ok
    assert result.error == "body lacks 'healthy'"
    assert result.status_code == 200


async def test_body_regex_is_a_search(http_target: HttpTargetServer) -> None:
    url = http_target.url("/text?body=version%3D1.42%20ok")
    good = await run_probe(http_check(url, expect=HttpExpect(body_regex=r"version=\d+\.\d+")))
    assert good.ok, good.error
    result = await run_probe(http_check(url, expect=HttpExpect(body_regex=r"^ok")))
    assert result.error == "body does not match /^ok/"


async def test_chunked_body_is_read_whole(http_target: HttpTargetServer) -> None:
    url = http_target.url("/chunked?parts=he,llo%20wo,rld")
    result = await run_probe(http_check(url, expect=HttpExpect(body_contains="hello world")))
    assert result.ok, result.error
    assert_phases_add_up(result)


async def test_only_the_first_mebibyte_of_a_body_is_read(http_target: HttpTargetServer) -> None:
    size = 3 * BODY_READ_LIMIT_BYTES
    url = http_target.url(f"/bytes/{size}")
    within = HttpExpect(body_regex=f"^a{{{BODY_READ_LIMIT_BYTES}}}$")
    result = await run_probe(http_check(url, expect=within))
    assert result.ok, result.error  # exactly 1 MiB seen, no more
    beyond = HttpExpect(body_regex=f"a{{{BODY_READ_LIMIT_BYTES + 1}}}")
    assert not (await run_probe(http_check(url, expect=beyond))).ok
    assert_phases_add_up(result)


async def test_json_body_from_echo(http_target: HttpTargetServer) -> None:
    result = await run_probe(
        http_check(http_target.url("/echo"), expect=HttpExpect(body_contains='"method": "GET"'))
    )
    assert result.ok, result.error


# -------------------------------------------------------------------------------- redirects


async def test_redirect_is_the_answer_unless_followed(http_target: HttpTargetServer) -> None:
    url = http_target.url("/redirect/3")
    only_200 = HttpExpect(status=(StatusRange(200, 200),))
    result = await run_probe(http_check(url, expect=only_200))
    assert result.status_code == 302
    assert result.error == "status 302 not in [200]"
    assert len(http_target.requests) == 1


async def test_followed_redirects_judge_the_final_response(http_target: HttpTargetServer) -> None:
    url = http_target.url("/redirect/3")
    expect = HttpExpect(status=(StatusRange(200, 200),), body_contains="ok")
    result = await run_probe(http_check(url, expect=expect, follow_redirects=True))
    assert result.ok, result.error
    assert result.status_code == 200
    assert [r.path_qs for r in http_target.requests] == [
        "/redirect/3",
        "/redirect/2",
        "/redirect/1",
        "/redirect/0",
        "/ok",
    ]
    assert_phases_add_up(result)  # phases of every hop add up, time between hops included


async def test_ten_redirects_are_followed_but_not_eleven(http_target: HttpTargetServer) -> None:
    ten = await run_probe(http_check(http_target.url("/redirect/9"), follow_redirects=True))
    assert ten.ok, ten.error
    eleven = await run_probe(http_check(http_target.url("/redirect/10"), follow_redirects=True))
    assert not eleven.ok
    assert eleven.error == "more than 10 redirects"


async def test_303_turns_a_post_into_a_get(http_target: HttpTargetServer) -> None:
    url = http_target.url("/redirect-to?status=303&location=/echo")
    result = await run_probe(http_check(url, method="POST", body="payload", follow_redirects=True))
    assert result.ok, result.error
    final = http_target.requests[-1]
    assert (final.method, final.body) == ("GET", b"")
    assert "Content-Length" not in final.headers


async def test_307_keeps_method_and_body(http_target: HttpTargetServer) -> None:
    url = http_target.url("/redirect-to?status=307&location=/echo")
    result = await run_probe(http_check(url, method="PUT", body="same", follow_redirects=True))
    assert result.ok, result.error
    final = http_target.requests[-1]
    assert (final.method, final.body) == ("PUT", b"same")


async def test_redirect_to_another_origin_drops_credentials(
    http_target: HttpTargetServer,
) -> None:
    other = f"http://localhost:{http_target.port}/echo"
    url = http_target.url(f"/redirect-to?location={other}")
    headers = {"Authorization": "Bearer secret", "X-Keep": "1"}
    result = await run_probe(http_check(url, headers=headers, follow_redirects=True))
    assert result.ok, result.error
    first, final = http_target.requests[-2], http_target.requests[-1]
    assert first.headers["Authorization"] == "Bearer secret"
    assert "Authorization" not in final.headers
    assert final.headers["X-Keep"] == "1"
    assert final.headers["Host"] == f"localhost:{http_target.port}"


async def test_a_failing_hop_reports_its_own_failure(http_target: HttpTargetServer) -> None:
    async with closed_port() as port:
        url = http_target.url(f"/redirect-to?location=http://127.0.0.1:{port}/")
        result = await run_probe(http_check(url, follow_redirects=True))
    assert result.error == "connection refused"
    assert result.status_code is None  # not the 302 of the first hop


async def test_redirect_without_location_is_down(http_target: HttpTargetServer) -> None:
    async with tcp_server(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n") as server:
        check = http_check(f"http://127.0.0.1:{server.port}/", follow_redirects=True)
        result = await run_probe(check)
    assert result.error == "status 302 redirect without a Location"


async def test_redirect_to_a_malformed_url_is_down(http_target: HttpTargetServer) -> None:
    url = http_target.url("/redirect-to?location=http://%5B::1/x")
    result = await run_probe(http_check(url, follow_redirects=True))
    assert not result.ok
    assert result.error == "redirect to a bad URL: http://[::1/x"


async def test_a_malformed_url_is_down_not_a_crash() -> None:
    result = await run_probe(http_check("http://[::1/"))
    assert not result.ok
    assert result.error == "bad URL: http://[::1/"


# ---------------------------------------------------------------------------------- latency


async def test_max_latency(http_target: HttpTargetServer) -> None:
    fast = await run_probe(http_check(http_target.url("/ok"), expect=HttpExpect(max_latency=5)))
    assert fast.ok, fast.error
    slow = await run_probe(
        http_check(http_target.url("/delay/0.3"), expect=HttpExpect(max_latency=0.1))
    )
    assert not slow.ok
    assert slow.error is not None
    assert slow.error.startswith("slower than 100ms (0.3")
    assert slow.status_code == 200
    assert slow.latency_ms is not None and slow.latency_ms >= 300


# ---------------------------------------------------------------------------------- failures


async def test_closed_port_is_connection_refused() -> None:
    async with closed_port() as port:
        result = await run_probe(http_check(f"http://127.0.0.1:{port}/"))
    assert not result.ok
    assert result.error == "connection refused"
    assert result.status_code is None
    assert list(result.phases_ms) == ["dns"]  # only completed phases
    assert result.latency_ms is not None and result.latency_ms >= 0


async def test_an_ipv6_literal_needs_no_dns() -> None:
    result = await run_probe(http_check("http://[::1]:1/"))  # nothing listens there
    assert not result.ok
    assert result.phases_ms == {"dns": 0.0}
    assert result.error is not None


async def test_unknown_name_is_a_dns_failure() -> None:
    result = await run_probe(http_check("http://no-such-host.invalid/"))
    assert not result.ok
    assert result.error == "dns: name not found"
    assert result.phases_ms == {}


async def test_garbage_answer_is_a_bad_response() -> None:
    async with tcp_server(b"SSH-2.0-OpenSSH_9.6\r\n\r\n") as server:
        result = await run_probe(http_check(f"http://127.0.0.1:{server.port}/"))
    assert not result.ok
    assert result.error is not None and result.error.startswith("bad response:"), result
    assert "ttfb" in result.phases_ms and "transfer" not in result.phases_ms


@pytest.mark.parametrize(
    ("status_line", "shown"),
    [
        (b"HTTP/1.1 2OO it's ok", '"HTTP/1.1 2OO it\'s ok"'),
        (b"HTTP/1.1 2OO plain", '"HTTP/1.1 2OO plain"'),
        (
            b"HTTP/1.1 2OO \"both\" 'quotes' \x01 caf\xc3\xa9",
            '"HTTP/1.1 2OO "both" \'quotes\' \\x01 caf\u00e9"',
        ),
    ],
    ids=["apostrophe", "plain", "both-quotes-and-control"],
)
async def test_a_bad_status_line_is_shown_as_text(status_line: bytes, shown: str) -> None:
    """h11 quotes it as `bytearray(b"…")` (double quotes when it holds a `'`): show the text."""
    async with tcp_server(None, reply=lambda _: status_line + b"\r\n\r\n") as server:
        result = await run_probe(http_check(f"http://127.0.0.1:{server.port}/"))
    assert result.error == f"bad response: illegal status line: {shown}"


async def test_closing_without_an_answer() -> None:
    async with tcp_server(None, reply=lambda _: b"", hang_up=True) as server:
        result = await run_probe(http_check(f"http://127.0.0.1:{server.port}/"))
    assert not result.ok
    assert result.error == "connection closed without a response"
    assert set(result.phases_ms) == {"dns", "connect"}


async def test_body_cut_short_by_the_server_is_down() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
    async with tcp_server(None, reply=lambda _: answer, hang_up=True) as server:
        result = await run_probe(http_check(f"http://127.0.0.1:{server.port}/"))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("bad response: peer closed connection without sending complete")
    assert result.status_code == 200


async def test_body_that_never_ends_times_out_with_the_status_known() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
    async with tcp_server(None, reply=lambda _: answer) as server:
        result = await run_probe(http_check(f"http://127.0.0.1:{server.port}/", timeout=0.5))
    assert not result.ok
    assert result.error == "timeout after 500ms"
    assert result.status_code == 200
    assert list(result.phases_ms) == ["dns", "connect", "ttfb"]


async def test_close_delimited_body() -> None:
    """An HTTP/1.0-style answer without a length: the body ends when the server closes."""
    answer = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nstill ok"
    async with tcp_server(None, reply=lambda _: answer, hang_up=True) as server:
        check = http_check(
            f"http://127.0.0.1:{server.port}/", expect=HttpExpect(body_contains="ok")
        )
        result = await run_probe(check)
    assert result.ok, result.error
    assert_phases_add_up(result)


# ------------------------------------------------------------------- protocol switches, odd codes

SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
WEBSOCKET_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


@pytest.mark.timeout(15)  # before the fix the loop spun forever: only this timeout could end it
async def test_a_websocket_upgrade_answered_101_is_the_end_of_the_response() -> None:
    """After a 101 the connection speaks another protocol: the probe judges the 101 and stops
    reading (the server keeps the connection open, as a websocket server does)."""
    async with tcp_server(None, reply=lambda _: SWITCHING + b"\x81\x02hi") as server:
        check = http_check(
            f"http://127.0.0.1:{server.port}/socket",
            timeout=2.0,
            headers=WEBSOCKET_HEADERS,
            expect=HttpExpect(status=(StatusRange(101, 101),)),
        )
        result = await run_probe(check)
    assert result.ok, result.error
    assert result.status_code == 101
    assert list(result.phases_ms) == ["dns", "connect", "ttfb", "transfer"]
    assert_phases_add_up(result)


@pytest.mark.timeout(15)
async def test_a_101_the_check_does_not_expect_is_down_with_its_status() -> None:
    async with tcp_server(None, reply=lambda _: SWITCHING) as server:
        check = http_check(
            f"http://127.0.0.1:{server.port}/socket", timeout=2.0, headers=WEBSOCKET_HEADERS
        )
        result = await run_probe(check)
    assert not result.ok
    assert result.status_code == 101
    assert result.error == "status 101 not in [200-399]"


@pytest.mark.timeout(15)
async def test_a_connect_answered_200_ends_at_the_headers() -> None:
    """A 2xx to CONNECT turns the connection into a tunnel that never ends: the probe must
    still return (the config refuses CONNECT; the probe must not depend on it)."""
    answer = b"HTTP/1.1 200 Connection established\r\n\r\n"
    async with tcp_server(None, reply=lambda _: answer) as server:
        check = http_check(f"http://127.0.0.1:{server.port}/", timeout=2.0, method="CONNECT")
        result = await run_probe(check)
    assert result.status_code == 200
    assert result.latency_ms is not None and result.latency_ms < 2000, "returned before timeout"


@pytest.mark.parametrize(
    ("status_line", "code"), [(b"600 Weird", 600), (b"999 X", 999), (b"099 Low", 99)]
)
async def test_a_status_outside_100_to_599_is_a_bad_response(status_line: bytes, code: int) -> None:
    """The collector refuses such a status_code: the sample says DOWN without one."""
    answer = b"HTTP/1.1 " + status_line + b"\r\nContent-Length: 2\r\n\r\nok"
    async with tcp_server(None, reply=lambda _: answer, hang_up=True) as server:
        result = await run_probe(http_check(f"http://127.0.0.1:{server.port}/"))
    assert not result.ok
    assert result.status_code is None
    if code >= 600:
        assert result.error == f"bad response: status {code}"
    else:  # h11 itself refuses a status under 100
        assert result.error is not None and result.error.startswith("bad response:"), result
        assert "99" in result.error
