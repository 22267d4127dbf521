"""The HTTP probe's pure parts: URLs, default headers, the bytes on the wire, redirects, verdicts."""

from __future__ import annotations

import time

import h11
import pytest

from slawatch.agent.probes.errors import ProbeFailure
from slawatch.agent.probes.http import (
    Request,
    Response,
    default_headers,
    encode_request,
    parse_url,
    problem,
    redirected,
)
from slawatch.agent.probes.progress import Progress
from slawatch.config.schema import HttpExpect, StatusRange


def test_parse_url() -> None:
    url = parse_url("https://Example.COM:8443/a/b?x=1&y=2#frag")
    assert (url.tls, url.host, url.port) == (True, "example.com", 8443)
    assert url.authority == "Example.COM:8443"
    assert url.target == "/a/b?x=1&y=2"
    assert url.basic_auth is None


def test_parse_url_defaults_and_ipv6() -> None:
    assert parse_url("http://h").port == 80
    assert parse_url("http://h").target == "/"
    assert parse_url("https://h?q").target == "/?q"
    v6 = parse_url("http://[::1]:8080/x")
    assert (v6.host, v6.port, v6.authority) == ("::1", 8080, "[::1]:8080")


def test_parse_url_credentials_become_basic_auth_not_host() -> None:
    url = parse_url("http://al%20ice:s3cr%3At@h:81/")
    assert url.authority == "h:81"
    assert url.basic_auth == "YWwgaWNlOnMzY3I6dA=="  # "al ice:s3cr:t"


@pytest.mark.parametrize("bad", ["ftp://h/", "http:///path", "http://h:99999/"])
def test_parse_url_refuses(bad: str) -> None:
    with pytest.raises(ProbeFailure, match="bad URL"):
        parse_url(bad)


def request(method: str = "GET", body: bytes | None = None, **headers: str) -> Request:
    return Request("http://h:8080/p", method, tuple(headers.items()), body)


def test_default_headers() -> None:
    headers = dict(default_headers(request(), parse_url("http://h:8080/p")))
    assert headers == {
        "Host": "h:8080",
        "User-Agent": "slawatch/0.1",
        "Accept-Encoding": "identity",
        "Connection": "close",
    }


def test_check_headers_replace_defaults_case_insensitively() -> None:
    given = request(**{"user-agent": "mine", "HOST": "virtual.test"})
    names = [name for name, _ in default_headers(given, parse_url(given.url))]
    assert names == ["Accept-Encoding", "Connection"]


def test_bodies_and_posts_get_a_content_length() -> None:
    url = parse_url("http://h/")
    assert ("Content-Length", "5") in default_headers(request("PUT", b"hello"), url)
    assert ("Content-Length", "0") in default_headers(request("POST"), url)
    assert all(name != "Content-Length" for name, _ in default_headers(request("GET"), url))


def test_encoded_request_is_http_1_1_with_the_body() -> None:
    given = request("POST", b'{"a":1}', **{"Content-Type": "application/json"})
    wire = encode_request(h11.Connection(h11.CLIENT), given, parse_url(given.url))
    head, _, body = wire.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /p HTTP/1.1"
    assert b"host: h:8080" in [line.lower() for line in lines]
    assert b"content-type: application/json" in [line.lower() for line in lines]
    assert body == b'{"a":1}'


def test_header_injection_is_refused_before_connecting() -> None:
    given = request(**{"X-Evil": "a\r\nInjected: yes"})
    with pytest.raises(h11.LocalProtocolError):
        encode_request(h11.Connection(h11.CLIENT), given, parse_url(given.url))


def response(status: int, location: str | None = None, body: bytes = b"") -> Response:
    return Response(status, location, body)


def test_redirect_resolves_relative_locations() -> None:
    assert redirected(request(), response(302, "/q?x=1")).url == "http://h:8080/q?x=1"
    assert redirected(request(), response(301, "next")).url == "http://h:8080/next"
    assert redirected(request(), response(308, "https://o/")).url == "https://o/"


@pytest.mark.parametrize(
    ("status", "method", "after"),
    [
        (301, "POST", "GET"),
        (302, "POST", "GET"),
        (303, "PUT", "GET"),
        (303, "HEAD", "HEAD"),
        (307, "POST", "POST"),
        (308, "PUT", "PUT"),
        (302, "DELETE", "DELETE"),
    ],
)
def test_redirect_method(status: int, method: str, after: str) -> None:
    given = request(method, b"x" if method != "HEAD" else None, **{"Content-Type": "text/plain"})
    following = redirected(given, response(status, "/next"))
    assert following.method == after
    if after == "GET" and method != "GET":
        assert following.body is None
        assert following.headers == ()


def test_redirect_to_another_origin_drops_credentials_and_host() -> None:
    given = request(Authorization="Bearer t", Cookie="s=1", Host="v.test", Accept="*/*")
    same = redirected(given, response(302, "/other"))
    assert len(same.headers) == 4
    elsewhere = redirected(given, response(302, "http://h:9090/"))  # another port
    assert elsewhere.headers == (("Accept", "*/*"),)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        (None, "status 302 redirect without a Location"),
        ("ftp://files/x", "redirect to a non-HTTP URL: ftp://files/x"),
    ],
)
def test_unfollowable_redirects(location: str | None, message: str) -> None:
    with pytest.raises(ProbeFailure, match=message):
        redirected(request(), response(302, location))


def finished_progress(latency_us: int = 1000, tls_expires: float | None = None) -> Progress:
    progress = Progress()
    progress.mark_us = latency_us
    progress.tls_expires = tls_expires
    return progress


def test_problem_order_is_status_then_body_then_certificate_then_latency() -> None:
    expect = HttpExpect(
        status=(StatusRange(200, 200),), body_contains="ok", tls_min_days=10, max_latency=0.5
    )
    soon = time.time() + 2 * 86_400 + 3600
    slow = 600_000
    assert problem(expect, response(500, body=b"x"), finished_progress(slow, soon)) == (
        "status 500 not in [200]"
    )
    assert problem(expect, response(200, body=b"x"), finished_progress(slow, soon)) == (
        "body lacks 'ok'"
    )
    assert problem(expect, response(200, body=b"ok"), finished_progress(slow, soon)) == (
        "certificate expires in 2 days"
    )
    assert problem(expect, response(200, body=b"ok"), finished_progress(slow)) == (
        "slower than 500ms (0.600s)"
    )
    assert problem(expect, response(200, body=b"ok"), finished_progress(400_000)) is None


def test_body_is_read_as_utf8_with_replacement() -> None:
    expect = HttpExpect(body_contains="café")
    assert problem(expect, response(200, body="le café".encode()), finished_progress()) is None
    latin1 = HttpExpect(body_regex="caf.$")
    assert problem(latin1, response(200, body=b"caf\xe9"), finished_progress()) is None


def test_long_expectations_are_shortened_in_messages() -> None:
    needle = "x" * 200
    message = problem(HttpExpect(body_contains=needle), response(200), finished_progress())
    assert message is not None
    assert message.startswith("body lacks 'xxx")
    assert len(message) < 80
