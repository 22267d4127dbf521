"""Local things to probe, all on 127.0.0.1: an HTTP(S) target, TLS certificates, TCP listeners.

Each server is an async context manager yielding where it listens, so any test can use one:

    async with http_target() as target:
        await run_probe(http_check(target.url("/status/503")))

The fixtures at the end wrap them; a test module registers one by importing it
(`from tests.targets import http_target_fixture  # noqa: F401`) and asks for it by its name
(`http_target`); a fixture using another needs that one imported too. The HTTP target's routes:

| path | answers |
|---|---|
| `/ok` | 200 `ok` |
| `/status/{code}` | that status, body `status {code}` |
| `/text?body=…` | 200 with that body |
| `/delay/{seconds}` | 200 `ok` after waiting (before any byte) |
| `/slow-body/{seconds}` | headers and `first,` at once, `then ok` after waiting |
| `/bytes/{n}` | n bytes of `a` with a Content-Length, in 64 KiB writes |
| `/chunked?parts=a,b,c` | the parts as separate chunks (Transfer-Encoding: chunked) |
| `/redirect/{n}` | 302 to `/redirect/{n-1}`, …, `/redirect/0` to `/ok` |
| `/redirect-to?location=…&status=302` | that redirect |
| `/echo` | JSON of the request: method, path, headers, body |

Every request is recorded in `HttpTargetServer.requests`.

Also here: `make_local_ca` (a trustme CA issuing certificates that expire when a test says),
`closed_port`, `tcp_server` (banner, replies, hang-up; TLS too), `silent_listener`,
`http_check` / `tcp_check` (a `Check` in one line), `client_sockets_to` (leak checks), and the
fixtures `http_target`, `local_ca` (trusted by nothing), `trusted_ca` (trusted through
SSL_CERT_FILE for the test's duration) and `https_target`.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from slawatch.config.schema import Check, HttpExpect, HttpTarget, TcpExpect, TcpTarget
from tests.support import async_wait_until

HOST = "127.0.0.1"
CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class HttpTargetServer:
    base: str
    """`http://127.0.0.1:PORT` or `https://…`, no trailing slash."""
    port: int
    requests: list[ReceivedRequest] = field(default_factory=list)

    def url(self, path: str = "/ok") -> str:
        return f"{self.base}{path}"


# -------------------------------------------------------------------------------------- http app


def target_app(requests: list[ReceivedRequest]) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler: Callable) -> web.StreamResponse:
        body = await request.read()
        requests.append(
            ReceivedRequest(request.method, request.path_qs, dict(request.headers), body)
        )
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.router.add_route("*", "/ok", _ok)
    app.router.add_route("*", "/status/{code:\\d+}", _status)
    app.router.add_route("*", "/text", _text)
    app.router.add_route("*", "/delay/{seconds}", _delay)
    app.router.add_route("*", "/slow-body/{seconds}", _slow_body)
    app.router.add_route("*", "/bytes/{n:\\d+}", _bytes)
    app.router.add_route("*", "/chunked", _chunked)
    app.router.add_route("*", "/redirect/{n:\\d+}", _redirect_chain)
    app.router.add_route("*", "/redirect-to", _redirect_to)
    app.router.add_route("*", "/echo", _echo)
    return app


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text=f"status {code}")


async def _text(request: web.Request) -> web.Response:
    return web.Response(text=request.query.get("body", ""))


async def _delay(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.match_info["seconds"]))
    return web.Response(text="ok")


async def _slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = len(b"first,then ok")
    await response.prepare(request)
    await response.write(b"first,")
    await asyncio.sleep(float(request.match_info["seconds"]))
    await response.write(b"then ok")
    await response.write_eof()
    return response


async def _bytes(request: web.Request) -> web.StreamResponse:
    size = int(request.match_info["n"])
    response = web.StreamResponse()
    response.content_length = size
    await response.prepare(request)
    sent = 0
    try:
        while sent < size:
            part = min(CHUNK, size - sent)
            await response.write(b"a" * part)
            sent += part
        await response.write_eof()
    except ConnectionError:
        pass  # the probe stops reading after its limit and hangs up
    return response


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for part in request.query.get("parts", "a,b,c").split(","):
        await response.write(part.encode())
        await asyncio.sleep(0)
    await response.write_eof()
    return response


async def _redirect_chain(request: web.Request) -> web.Response:
    n = int(request.match_info["n"])
    location = "/ok" if n == 0 else f"/redirect/{n - 1}"
    return web.Response(status=302, headers={"Location": location})


async def _redirect_to(request: web.Request) -> web.Response:
    status = int(request.query.get("status", "302"))
    return web.Response(status=status, headers={"Location": request.query["location"]})


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "method": request.method,
            "path": request.path_qs,
            "headers": dict(request.headers),
            "body": (await request.read()).decode("utf-8", "replace"),
        }
    )


@asynccontextmanager
async def http_target(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[HttpTargetServer]:
    """The HTTP target app on 127.0.0.1 (HTTPS with `ssl_context`), on a port of its own."""
    requests: list[ReceivedRequest] = []
    runner = web.AppRunner(target_app(requests), access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if ssl_context else "http"
    try:
        yield HttpTargetServer(f"{scheme}://{HOST}:{port}", port, requests)
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------------------- TLS


@dataclass(frozen=True, slots=True)
class LocalCa:
    """A trustme CA, its PEM file (for SSL_CERT_FILE) and certificates it issues."""

    ca: trustme.CA
    pem_file: Path

    def issue(self, *, expires_in: datetime.timedelta | None = None) -> trustme.LeafCert:
        """A certificate for localhost and 127.0.0.1, valid until now + `expires_in` (negative:
        already expired), or for trustme's default (centuries)."""
        not_after, not_before = None, None
        if expires_in is not None:
            now = datetime.datetime.now(datetime.UTC)
            not_after = now + expires_in
            not_before = min(now, not_after) - datetime.timedelta(days=30)
        return self.ca.issue_cert("localhost", HOST, not_before=not_before, not_after=not_after)

    def server_context(self, *, expires_in: datetime.timedelta | None = None) -> ssl.SSLContext:
        return server_context(self.issue(expires_in=expires_in))


def server_context(certificate: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    return context


def make_local_ca(folder: Path) -> LocalCa:
    ca = trustme.CA()
    pem_file = folder / "test-ca.pem"
    ca.cert_pem.write_to_path(str(pem_file))
    return LocalCa(ca, pem_file)


# ---------------------------------------------------------------------------------------- TCP


@asynccontextmanager
async def closed_port() -> AsyncIterator[int]:
    """A port bound but not listening: connecting to it is refused, and nobody else gets it."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]


@dataclass(slots=True)
class TcpServer:
    port: int
    connections: int = 0
    """Connections accepted so far."""
    open_connections: int = 0
    """Connections the peer has not yet closed."""
    received: bytearray = field(default_factory=bytearray)


@asynccontextmanager
async def tcp_server(
    banner: bytes | None = None,
    *,
    reply: Callable[[bytes], bytes | None] | None = None,
    hang_up: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[TcpServer]:
    """A TCP listener on 127.0.0.1: writes `banner` on connect (None: says nothing, ever), then
    answers each chunk it receives with `reply(chunk)` when that is not None. With `hang_up`
    it closes the connection after its first answer (the banner when there is no `reply`)."""
    writers: set[asyncio.StreamWriter] = set()
    state = TcpServer(port=0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        state.connections += 1
        state.open_connections += 1
        try:
            if banner is not None:
                writer.write(banner)
                await writer.drain()
                if hang_up and reply is None:
                    return
            while data := await reader.read(CHUNK):
                state.received += data
                answer = reply(data) if reply else None
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
                    if hang_up:
                        return
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            state.open_connections -= 1
            writer.close()
            writers.discard(writer)

    server = await asyncio.start_server(serve, HOST, 0, ssl=ssl_context)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for writer in list(writers):
            writer.transport.abort()  # its handler then reads EOF and ends
        await async_wait_until(lambda: not writers, timeout=5.0)
        await server.wait_closed()


def silent_listener() -> AbstractAsyncContextManager[TcpServer]:
    """Accepts connections and never sends a byte."""
    return tcp_server(None)


# ------------------------------------------------------------------------------------- checks


def http_check(
    url: str,
    *,
    timeout: float = 5.0,
    check_id: str = "target",
    expect: HttpExpect | None = None,
    **target: object,
) -> Check:
    return Check(
        id=check_id,
        type="http",
        target=HttpTarget(url=url, expect=expect or HttpExpect(), **target),  # type: ignore[arg-type]
        interval=max(60.0, timeout),
        timeout=timeout,
    )


def tcp_check(
    port: int,
    *,
    host: str = HOST,
    timeout: float = 5.0,
    check_id: str = "target",
    expect: TcpExpect | None = None,
    **target: object,
) -> Check:
    return Check(
        id=check_id,
        type="tcp",
        target=TcpTarget(host=host, port=port, expect=expect or TcpExpect(), **target),  # type: ignore[arg-type]
        interval=max(60.0, timeout),
        timeout=timeout,
    )


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(name="http_target")
async def http_target_fixture() -> AsyncIterator[HttpTargetServer]:
    async with http_target() as server:
        yield server


@pytest.fixture(name="local_ca")
def local_ca_fixture(tmp_path: Path) -> LocalCa:
    """A fresh CA that nothing trusts."""
    return make_local_ca(tmp_path)


@pytest.fixture(name="trusted_ca")
def trusted_ca_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalCa:
    """A fresh CA, the only trust of this process's probes while the test runs (through
    SSL_CERT_FILE, which subprocesses inherit too)."""
    ca = make_local_ca(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.pem_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    return ca


@pytest.fixture(name="https_target")
async def https_target_fixture(trusted_ca: LocalCa) -> AsyncIterator[HttpTargetServer]:
    """The HTTP target over TLS with a certificate of the trusted CA; import
    `trusted_ca_fixture` too."""
    async with http_target(trusted_ca.server_context()) as server:
        yield server


# ------------------------------------------------------------------------------------- sockets


def client_sockets_to(port: int) -> int:
    """How many sockets of this process are connected to `port` on loopback (Linux /proc):
    a probe that closes what it opens leaves none behind."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            ours.add(link[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[9] in ours:
                count += 1
    return count
