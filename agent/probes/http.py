"""The HTTP probe: one request on a fresh connection, timed phase by phase, judged by `expect`.

A small HTTP/1.1 client on asyncio streams and h11 rather than aiohttp: aiohttp's tracing cannot
time the TLS handshake apart from the TCP connect (DESIGN.md), and an uptime probe wants no pool.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urljoin, urlsplit

import h11

from slawatch.agent.probes.errors import ProbeFailure
from slawatch.agent.probes.expect import certificate_expiring, shorten, slower_than, text_lacks
from slawatch.agent.probes.net import open_stream
from slawatch.agent.probes.progress import Progress, timed
from slawatch.agent.probes.tls import TlsSettings
from slawatch.agent.sample import ProbeResult
from slawatch.config.contract import BODY_READ_LIMIT_BYTES
from slawatch.config.keys import Key, Table
from slawatch.config.registry import CheckTypeSpec
from slawatch.config.schema import DEFAULT_STATUS, Check, HttpExpect, HttpTarget
from slawatch.config.values import (
    BOOLEAN,
    HEADERS,
    HTTP_URL,
    METHOD,
    NUMBER,
    POSITIVE_DURATION,
    REGEX,
    STATUS,
    TEXT,
)

USER_AGENT = "slawatch/0.1"
MAX_REDIRECTS = 10
READ_SIZE = 65_536
MIN_STATUS, MAX_STATUS = 100, 599
"""What a status code may be (RFC 9110 §15); the collector refuses any other."""
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CROSS_ORIGIN_DROPPED = frozenset({"authorization", "cookie", "host"})
"""Request headers not carried to another origin on a redirect, as browsers do."""
_BODY_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class Url:
    tls: bool
    host: str
    port: int
    authority: str
    """The `Host` header: host and port as the URL spells them."""
    target: str
    """Path and query."""
    basic_auth: str | None


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    method: str
    headers: tuple[tuple[str, str], ...]
    """The check's own headers; the defaults are added when sending."""
    body: bytes | None


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    location: str | None
    body: bytes
    """At most BODY_READ_LIMIT_BYTES."""


@timed
async def probe(check: Check, progress: Progress) -> ProbeResult:
    target = check.target
    if not isinstance(target, HttpTarget):
        raise TypeError(f"check {check.id}: the http probe needs an HttpTarget")
    verify = not target.tls_skip_verify
    body = target.body.encode() if target.body is not None else None
    request = Request(target.url, target.method, tuple(target.headers.items()), body)
    response = await fetch(request, verify, progress)
    redirects = 0
    while target.follow_redirects and response.status_code in REDIRECT_STATUSES:
        if redirects == MAX_REDIRECTS:
            raise ProbeFailure(f"more than {MAX_REDIRECTS} redirects")
        request = redirected(request, response)
        response = await fetch(request, verify, progress)
        redirects += 1
    return progress.finish(problem(target.expect, response, progress))


async def fetch(request: Request, verify: bool, progress: Progress) -> Response:
    """One exchange on a connection of its own: status and certificate are the last hop's."""
    url = parse_url(request.url)
    tls = TlsSettings(verify, url.host, alpn=("http/1.1",)) if url.tls else None
    progress.status_code = progress.tls_expires = None
    connection = h11.Connection(h11.CLIENT)
    try:
        outgoing = encode_request(connection, request, url)
    except h11.LocalProtocolError as error:
        raise ProbeFailure(f"bad request: {error}") from None
    reader, writer = await open_stream(url.host, url.port, progress, tls)
    try:
        writer.write(outgoing)
        return await read_response(connection, reader, progress)
    except h11.RemoteProtocolError as error:
        raise ProbeFailure(f"bad response: {protocol_error_text(error)}") from None
    finally:
        writer.transport.abort()


def encode_request(connection: h11.Connection, request: Request, url: Url) -> bytes:
    data = connection.send(request_head(request, url))
    if request.body:
        data += connection.send(h11.Data(data=request.body))
    return data + connection.send(h11.EndOfMessage())


@functools.lru_cache(maxsize=4096)
def request_head(request: Request, url: Url) -> h11.Request:
    """The request's head, built and validated by h11 once per request and URL: h11's events
    are immutable, so each probe of a check sends the same one (a fifth of a probe's own CPU
    went to building it anew)."""
    headers = [*default_headers(request, url), *request.headers]
    return h11.Request(method=request.method, target=url.target, headers=headers)


def default_headers(request: Request, url: Url) -> list[tuple[str, str]]:
    """What a request carries unless the check's headers say otherwise."""
    given = {name.lower() for name, _ in request.headers}
    defaults = [
        ("Host", url.authority),
        ("User-Agent", USER_AGENT),
        ("Accept-Encoding", "identity"),
        ("Connection", "close"),
    ]
    if url.basic_auth:
        defaults.append(("Authorization", f"Basic {url.basic_auth}"))
    sends_body = request.body is not None or request.method in ("POST", "PUT", "PATCH")
    if sends_body and "transfer-encoding" not in given:
        defaults.append(("Content-Length", str(len(request.body or b""))))
    return [(name, value) for name, value in defaults if name.lower() not in given]


async def read_response(
    connection: h11.Connection, reader: asyncio.StreamReader, progress: Progress
) -> Response:
    """Read up to the end of the body, its first BODY_READ_LIMIT_BYTES, or a switch of protocol,
    lapping `ttfb` at the first byte and `transfer` at the last.

    Every turn waits for bytes once, then takes every event they complete; an end of file that
    leaves the response unfinished fails it. So no turn can come round without waiting on the
    peer, and the probe's timeout always gets its chance.
    """
    answer = _Answer()
    data = await reader.read(READ_SIZE)
    if not data:
        raise ProbeFailure("connection closed without a response")
    progress.lap("ttfb")
    while True:
        connection.receive_data(data)
        if _take_events(connection, answer, progress):
            break
        if not data:
            raise ProbeFailure("connection closed before the end of the response")
        data = await reader.read(READ_SIZE)
    progress.lap("transfer")
    return Response(answer.status_code, answer.location, bytes(answer.body))


@dataclass(slots=True)
class _Answer:
    status_code: int = 0
    location: str | None = None
    body: bytearray = field(default_factory=bytearray)


def _take_events(connection: h11.Connection, answer: _Answer, progress: Progress) -> bool:
    """Take the events the bytes received so far complete; True once the response is read.

    After a `101 Switching Protocols` (an `InformationalResponse`, not a `Response`) or a 2xx to
    CONNECT, what follows is not HTTP: h11 says PAUSED, which ends the response here.
    """
    while (event := connection.next_event()) is not h11.NEED_DATA:
        if isinstance(event, h11.InformationalResponse):
            if event.status_code == 101:
                answer.status_code = progress.status_code = 101
                return True
        elif isinstance(event, h11.Response):
            if not MIN_STATUS <= event.status_code <= MAX_STATUS:
                raise ProbeFailure(f"bad response: status {event.status_code}")
            answer.status_code = progress.status_code = event.status_code
            if event.status_code in REDIRECT_STATUSES:  # only a redirect's is ever read
                answer.location = header(event.headers, b"location")
        elif isinstance(event, h11.Data):
            answer.body += event.data[: BODY_READ_LIMIT_BYTES - len(answer.body)]
            if len(answer.body) >= BODY_READ_LIMIT_BYTES:
                return True
        elif isinstance(event, h11.ConnectionClosed):
            raise ProbeFailure("connection closed before the end of the response")
        else:  # EndOfMessage, PAUSED
            return True
    return False


_BYTEARRAY_REPR = re.compile(r"""bytearray\((b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*")\)""")
"""How h11 quotes what it received: `bytearray(b'…')`, or `bytearray(b"…")` when it has a `'`."""


def protocol_error_text(error: h11.ProtocolError) -> str:
    """h11's message, with each `bytearray(b'…')` it quotes shown as the text in double quotes
    (characters that do not print escaped as `\\xNN`)."""
    return shorten(_BYTEARRAY_REPR.sub(_quoted_text, str(error)), 200)


def _quoted_text(match: re.Match[str]) -> str:
    data: bytes = ast.literal_eval(match.group(1))
    text = data.decode("utf-8", "backslashreplace")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return f'"{shown}"'


def header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    """h11 gives names lowercased."""
    return next((value.decode("latin-1") for key, value in headers if key == name), None)


def redirected(request: Request, response: Response) -> Request:
    """The request a browser would send next, per RFC 9110 §15.4."""
    if not response.location:
        raise ProbeFailure(f"status {response.status_code} redirect without a Location")
    try:
        url = urljoin(request.url, response.location)
    except ValueError:  # `http://[::1`: a bracket left open
        raise ProbeFailure(f"redirect to a bad URL: {response.location[:100]}") from None
    if urlsplit(url).scheme not in ("http", "https"):
        raise ProbeFailure(f"redirect to a non-HTTP URL: {url[:100]}")
    method, body, headers = request.method, request.body, request.headers
    if (response.status_code == 303 and method != "HEAD") or (
        response.status_code in (301, 302) and method == "POST"
    ):
        method, body = "GET", None
        headers = tuple(h for h in headers if h[0].lower() not in _BODY_HEADERS)
    if origin(url) != origin(request.url):
        headers = tuple(h for h in headers if h[0].lower() not in _CROSS_ORIGIN_DROPPED)
    return replace(request, url=url, method=method, headers=headers, body=body)


def origin(url: str) -> tuple[bool, str, int]:
    parsed = parse_url(url)
    return parsed.tls, parsed.host, parsed.port


@functools.lru_cache(maxsize=4096)
def parse_url(url: str) -> Url:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ProbeFailure(f"bad URL: {url[:100]}") from None
    try:
        port = parts.port
    except ValueError:
        raise ProbeFailure(f"bad URL: invalid port in {url[:100]}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeFailure(f"bad URL: {url[:100]}")
    tls = parts.scheme == "https"
    userinfo, _, authority = parts.netloc.rpartition("@")
    basic_auth = None
    if userinfo:
        user, _, password = userinfo.partition(":")
        credentials = f"{unquote(user)}:{unquote(password)}".encode()
        basic_auth = base64.b64encode(credentials).decode("ascii")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Url(tls, parts.hostname, port or (443 if tls else 80), authority, target, basic_auth)


def problem(expect: HttpExpect, response: Response, progress: Progress) -> str | None:
    """The first expectation the response fails, in the words of the sample's `error`."""
    if not any(response.status_code in allowed for allowed in expect.status):
        allowed_text = ", ".join(str(allowed) for allowed in expect.status)
        return f"status {response.status_code} not in [{allowed_text}]"
    if expect.body_contains is not None or expect.body_regex is not None:
        text = response.body.decode("utf-8", "replace")
        lacking = text_lacks(text, expect.body_contains, expect.body_regex, "body")
        if lacking:
            return lacking
    return certificate_expiring(expect.tls_min_days, progress.tls_expires) or slower_than(
        expect.max_latency, progress.mark_us
    )


CHECK_TYPE = CheckTypeSpec(
    name="http",
    doc="One HTTP/1.1 request on a fresh connection, timed phase by phase (`dns`, `connect`, "
    "`tls`, `ttfb`, `transfer`); UP when the response meets `expect`.",
    keys=Table(
        (
            Key(
                "url",
                HTTP_URL,
                "What is requested; `user:password@` in it becomes Basic authentication.",
                required=True,
                example="https://acme.example/health",
            ),
            Key("method", METHOD, "The request method.", default="GET", example="POST"),
            Key(
                "headers",
                HEADERS,
                "Request headers. Their values may carry credentials: never printed, and "
                "taken out of errors shown on status pages.",
                default={},
                secret=True,
                example='{Authorization: "Bearer ${HEALTH_TOKEN}"}',
            ),
            Key("body", TEXT, "The request body, for POST checks.", example="'{\"ping\": true}'"),
            Key(
                "follow_redirects",
                BOOLEAN,
                f"`false`: a 3xx is the answer judged; `true`: follow up to {MAX_REDIRECTS} "
                "redirects and judge the final response.",
                default=False,
            ),
            Key(
                "tls_skip_verify",
                BOOLEAN,
                "Accept a certificate that fails verification (its expiry is still read).",
                default=False,
            ),
        )
    ),
    expect=Table(
        (
            Key(
                "status",
                STATUS,
                "Status codes that count as UP.",
                default=str(DEFAULT_STATUS[0]),
                example="[200, 204]",
            ),
            Key(
                "body_contains",
                TEXT,
                "Text the body must contain (its first 1 MiB is read).",
                example="ok",
            ),
            Key(
                "body_regex",
                REGEX,
                "A Python regular expression searched in the body (its first 1 MiB is read).",
                example='"version=\\\\d+"',
            ),
            Key(
                "max_latency",
                POSITIVE_DURATION,
                "Slower counts as DOWN (a failure, not a latency measurement).",
                example="2s",
            ),
            Key(
                "tls_min_days",
                NUMBER,
                "DOWN when the certificate expires in fewer days than this.",
                example="14",
            ),
        )
    ),
    target=HttpTarget,
    expect_target=HttpExpect,
    probe=probe,
    schemes=("http", "https"),
    example="""\
- id: acme-web
  url: https://acme.example/health
  interval: 30s
  expect: {status: [200, 204], body_contains: ok, max_latency: 2s, tls_min_days: 14}
- id: acme-api-login
  type: http
  url: https://api.acme.example/login
  method: POST
  headers: {Content-Type: application/json, Authorization: "Bearer ${LOGIN_CHECK_TOKEN}"}
  body: '{"user": "probe"}'
  follow_redirects: true
  expect: {status: "2xx", body_regex: '"token": "\\\\w+"'}""",
)
