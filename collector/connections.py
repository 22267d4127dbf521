"""Connection limits of the collector's HTTP server: idle sockets cannot take it down.

CONTRACT §3: "Connections that complete no request within a few seconds are closed." Measured
before these rules: 1,100 sockets opened and left idle, under the usual 1,024 open-file limit,
made every push and `/healthz` time out, and asyncio logged a traceback per failed accept.

- **Request head timeout.** A connection must present a whole request head within
  `HEAD_TIMEOUT_S` of opening, or of the first byte of its next request, else it is closed.
  Between requests a kept-alive connection may stay idle `KEEPALIVE_TIMEOUT_S` (aiohttp's own
  `keepalive_timeout`, longer than clients' pools keep theirs, so that a client does not send
  on a connection the server is closing).
- **A cap.** At most `cap` connections are open. One more makes room by closing the connection
  idle the longest: first one that has sent no request yet, else one kept alive between
  requests. Idle sockets can then never lock an agent or a health check out; only when every
  connection is busy with a request is the newcomer answered `503` with `Retry-After` (the
  agents back off and keep their spool) and closed.
- **Descriptors.** The soft open-file limit is raised to the hard one at start
  (`raise_open_file_limit`) and the cap stays below it (`connection_cap`), leaving descriptors
  for the store, worker processes, alert deliveries, a burst of accepts and refusals. Should
  accept() still fail for lack of them (another leak), `AcceptFailureLog` logs one line a minute
  with a count instead of asyncio's traceback per failure.

`GuardedSite` is the aiohttp site that puts a `_Guarded` protocol in front of each of aiohttp's;
`ConnectionGuard.middleware` sees each request start and end.
"""

from __future__ import annotations

import asyncio
import errno
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from slawatch.collector.log_throttle import LogThrottle
from slawatch.collector.metrics import CollectorMetrics

log = structlog.get_logger()

HEAD_TIMEOUT_S = 5.0
KEEPALIVE_TIMEOUT_S = 75.0
"""nginx's default; aiohttp's client keeps idle connections 15 s, Go's 90 s (it retries a GET
the server closed meanwhile)."""
IDLE_GRACE_S = 1.0
"""A connection that has just answered is not closed to make room: its response may still be
on its way out (the middleware sees a request end before aiohttp writes the response)."""
RETRY_AFTER_S = 1
REFUSAL_LINGER_S = 2.0
"""A refused connection reads and drops what the client sends for this long after the 503, so
that closing it does not reset the connection before the client has read the answer."""
MAX_REFUSING = 64
"""Refusals lingering at once; past this, a refused connection is closed at once."""
ACCEPT_BACKLOG = 128
"""The listen backlog, which is also how many connections asyncio accepts in one go, before
this module sees any of them."""
OTHER_FILES = 64
"""Descriptors kept for everything but connections: the store's files, worker processes,
alert deliveries, logs."""
DEFAULT_MAX_CONNECTIONS = 10_000
MIN_CAP = 16
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

_REFUSAL_BODY = orjson.dumps(
    {"error": "too many connections: the collector is busy, try again shortly", "details": []}
)
REFUSAL_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    b"Retry-After: " + str(RETRY_AFTER_S).encode() + b"\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one (systemd leaves 1,024 soft unless
    `LimitNOFILE` says more); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard not in (resource.RLIM_INFINITY, soft):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:
            log.warning("open_file_limit_not_raised", soft=soft, hard=hard, error=str(error))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(configured: int | None, open_files: int) -> int:
    """The connections the server keeps open at most: `collector.max_connections` (default
    `DEFAULT_MAX_CONNECTIONS`), lowered to what the open-file limit leaves room for."""
    wanted = configured if configured is not None else DEFAULT_MAX_CONNECTIONS
    if open_files == resource.RLIM_INFINITY:
        return wanted
    return max(MIN_CAP, min(wanted, open_files - OTHER_FILES - ACCEPT_BACKLOG - MAX_REFUSING))


@dataclass(eq=False, slots=True)
class _Connection:
    transport: asyncio.Transport
    idle_since: float
    """Since when no request is in progress (the opening for a connection without any yet)."""
    requests: int = 0
    in_progress: int = 0
    head_timer: asyncio.TimerHandle | None = None
    open: bool = True


class ConnectionGuard:
    """Counts, times out and caps the server's connections (see the module's story)."""

    def __init__(
        self, metrics: CollectorMetrics, *, cap: int = DEFAULT_MAX_CONNECTIONS,
        head_timeout_s: float = HEAD_TIMEOUT_S,
    ) -> None:  # fmt: skip
        self.cap = cap
        self.head_timeout_s = head_timeout_s
        self._metrics = metrics
        self._connections: dict[asyncio.BaseTransport, _Connection] = {}
        self._unused: dict[_Connection, None] = {}
        """Connections that have not started a request yet, oldest first."""
        self._idle: dict[_Connection, None] = {}
        """Connections kept alive between requests, idle the longest first."""
        self.refusing = 0
        metrics.connections_open.set_function(lambda: len(self._connections))
        metrics.connections_limit.set_function(lambda: self.cap)

    @property
    def open(self) -> int:
        return len(self._connections)

    @property
    def busy(self) -> int:
        """Connections with a request in progress."""
        return len(self._connections) - len(self._unused) - len(self._idle)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """The protocol factory to serve with, in front of aiohttp's `factory`."""
        return lambda: _Guarded(self, factory)

    @property
    def middleware(self) -> Middleware:
        @web.middleware
        async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            transport = request.transport
            connection = self._connections.get(transport) if transport is not None else None
            if connection is None:  # a server without this guard (tests' own servers)
                return await handler(request)
            self._request_started(connection)
            try:
                return await handler(request)
            finally:
                self._request_ended(connection)

        return track_requests

    # ------------------------------------------------------------------- connection events

    def opened(self, transport: asyncio.Transport) -> _Connection | None:
        """Take a new connection in, closing an idle one to make room if need be; None if it
        must be refused (every connection is busy)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if len(self._connections) >= self.cap and not self._make_room(now):
            self._metrics.connections_closed.labels("refused").inc()
            return None
        connection = _Connection(transport, idle_since=now)
        self._connections[transport] = connection
        self._unused[connection] = None
        connection.head_timer = loop.call_at(now + self.head_timeout_s, self._head_late, connection)
        return connection

    def data_arrived(self, connection: _Connection) -> None:
        """The first byte of a kept-alive connection's next request starts its head timer."""
        if connection.in_progress == 0 and connection.head_timer is None and connection.open:
            loop = asyncio.get_running_loop()
            connection.head_timer = loop.call_later(
                self.head_timeout_s, self._head_late, connection
            )

    def lost(self, connection: _Connection) -> None:
        self._forget(connection)

    # --------------------------------------------------------------------------- internals

    def _request_started(self, connection: _Connection) -> None:
        connection.requests += 1
        connection.in_progress += 1
        if connection.head_timer is not None:
            connection.head_timer.cancel()
            connection.head_timer = None
        self._unused.pop(connection, None)
        self._idle.pop(connection, None)

    def _request_ended(self, connection: _Connection) -> None:
        connection.in_progress -= 1
        if connection.in_progress == 0 and connection.open:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle[connection] = None

    def _head_late(self, connection: _Connection) -> None:
        connection.head_timer = None
        if connection.in_progress == 0 and connection.open:
            self._close(connection, "head_timeout")

    def _make_room(self, now: float) -> bool:
        victim = next(iter(self._unused), None)
        if victim is None:
            for connection in self._idle:
                if connection.idle_since > now - IDLE_GRACE_S:
                    break  # idle the longest first: the rest are more recent still
                if connection.transport.get_write_buffer_size() == 0:
                    victim = connection
                    break
        if victim is None:
            return False
        self._close(victim, "evicted")
        return True

    def _close(self, connection: _Connection, reason: str) -> None:
        self._forget(connection)
        connection.transport.close()
        self._metrics.connections_closed.labels(reason).inc()

    def _forget(self, connection: _Connection) -> None:
        if not connection.open:
            return
        connection.open = False
        if connection.head_timer is not None:
            connection.head_timer.cancel()
            connection.head_timer = None
        self._connections.pop(connection.transport, None)
        self._unused.pop(connection, None)
        self._idle.pop(connection, None)


class _Guarded(asyncio.Protocol):
    """In front of one connection's aiohttp protocol, or of a `_Refusal` when over the cap."""

    __slots__ = ("_connection", "_factory", "_guard", "_inner")

    def __init__(self, guard: ConnectionGuard, factory: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._factory = factory
        self._connection: _Connection | None = None
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._connection = self._guard.opened(transport)
        self._inner = self._factory() if self._connection else _Refusal(self._guard)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._connection is not None:
            self._guard.data_arrived(self._connection)
        assert self._inner is not None
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        assert self._inner is not None
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connection is not None:
            self._guard.lost(self._connection)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class _Refusal(asyncio.Protocol):
    """Answers 503 with Retry-After at once, drops what the client sends, closes."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._closer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._guard.refusing += 1
        transport.write(REFUSAL_RESPONSE)
        if self._guard.refusing > MAX_REFUSING or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._closer = asyncio.get_running_loop().call_later(REFUSAL_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the client has read the answer and closed: close too

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.refusing -= 1
        if self._closer is not None:
            self._closer.cancel()


class GuardedSite(web.BaseSite):
    """`web.TCPSite` with a `ConnectionGuard` in front of every connection."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard
    ) -> None:
        super().__init__(runner, backlog=ACCEPT_BACKLOG)
        self._host, self._port, self._guard = host, port, guard

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.wrap(server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )


class AcceptFailureLog:
    """The event loop's exception handler while the collector runs: an accept() that fails for
    lack of descriptors is counted, and logged at once then once a minute with the count since
    the last line, not with a traceback each time (asyncio pauses accepting for a second by
    itself); any other report goes on to the handler in place before."""

    def __init__(self, metrics: CollectorMetrics) -> None:
        self._metrics = metrics
        self._throttle = LogThrottle()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._previous = loop, loop.get_exception_handler()
        loop.set_exception_handler(self)

    def uninstall(self) -> None:
        if self._loop is not None and self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)
        self._loop = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in OUT_OF_DESCRIPTORS:
            self._metrics.accept_failures.inc()
            count = self._throttle.hit()
            if count is not None:
                log.error(
                    "accept_failed",
                    error=errno.errorcode.get(error.errno or 0, str(error.errno)),
                    count=count,
                    open_file_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                )
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)
