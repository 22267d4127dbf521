"""The collector's Prometheus metrics (CONTRACT §3.3), on a registry passed in.

Counters move as things happen. The gauges of state (`slawatch_check_up`, database size) are
computed for scrapes, at most once a second of the collector's clock (`STATE_MAX_AGE_S`): with
5,000 checks that takes tens of milliseconds, and 100 scrapes at once each computing it held
`/healthz` 2.5 s. Scrapes that arrive together share one refresh and one rendering (`page`),
and the rendering, which is as long again, runs in a thread, so the event loop keeps serving
pushes and health checks in between.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from slawatch.collector.current import CheckNow, check_states
from slawatch.collector.engine.states import State
from slawatch.collector.store import Store
from slawatch.config.schema import Config

STATE_MAX_AGE_S = 1.0
"""How old, in the collector's clock, the gauges of state may be when a scrape reads them."""


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.samples_ingested = Counter(
            "slawatch_samples_ingested",
            "Samples newly stored, by the agent that pushed them (duplicates not counted)",
            ["agent"],
            registry=registry,
        )
        self.samples_duplicate = Counter(
            "slawatch_samples_duplicate",
            "Samples pushed again and acknowledged without storing them twice",
            ["agent"],
            registry=registry,
        )
        self.ingest_batches = Counter(
            "slawatch_ingest_batches",
            "Batches of samples pushed, by result (stored or refused)",
            ["result"],
            registry=registry,
        )
        self.ingest_errors = Counter(
            "slawatch_ingest_errors",
            "Refused pushes, by reason",
            ["reason"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "slawatch_http_request_duration_seconds",
            "Time to answer HTTP requests, by route",
            ["method", "route"],
            registry=registry,
        )
        self.requests = Counter(
            "slawatch_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.connections_open = Gauge(
            "slawatch_http_connections",
            "HTTP connections open now",
            registry=registry,
        )
        self.connections_limit = Gauge(
            "slawatch_http_connections_limit",
            "HTTP connections kept open at most (collector.max_connections, lowered to what the"
            " open-file limit allows)",
            registry=registry,
        )
        self.connections_closed = Counter(
            "slawatch_http_connections_closed",
            "Connections closed by the collector to protect itself, by reason: head_timeout (no"
            " whole request head in time), evicted (idle, to make room), refused (503: every"
            " connection busy)",
            ["reason"],
            registry=registry,
        )
        self.accept_failures = Counter(
            "slawatch_http_accept_failures",
            "Connections that could not be accepted for lack of file descriptors",
            registry=registry,
        )
        self.storage_failures = Counter(
            "slawatch_storage_failures",
            "Requests that failed in the storage, by kind: disk_full, corrupt, read_only, busy,"
            " io_error",
            ["kind"],
            registry=registry,
        )
        self.healthy = Gauge(
            "slawatch_healthy",
            "1 while /healthz says ok, 0 while it says degraded (store unwritable or corrupt)",
            registry=registry,
        )
        self.database_size = Gauge(
            "slawatch_database_size_bytes",
            "Size of the SQLite database's pages",
            registry=registry,
        )
        self.check_up = _CheckUp()
        registry.register(self.check_up)
        self._state_at: float | None = None
        self._scrape: asyncio.Future[bytes] | None = None

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.request_duration.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()

    async def refresh(self, store: Store, config: Config, now: float | None = None) -> None:
        """Set the gauges of state, unless they are less than `STATE_MAX_AGE_S` old."""
        now = time.time() if now is None else now
        if self._state_at is not None and 0 <= now - self._state_at < STATE_MAX_AGE_S:
            return
        self.database_size.set(await store.size_bytes())
        self.check_up.show(await check_states(store, config, round(now * 1000)))
        self._state_at = now

    async def page(self, refresh: Callable[[], Awaitable[None]]) -> bytes:
        """The text exposition of every metric, after `refresh()` has set the gauges of state.

        A scrape that arrives while another is being produced shares it; the refresh runs on
        the event loop (it reads the store), the rendering in a thread."""
        if self._scrape is None or self._scrape.done():
            self._scrape = asyncio.ensure_future(self._produce(refresh))
            self._scrape.add_done_callback(_retrieve_exception)
        return await asyncio.shield(self._scrape)

    async def _produce(self, refresh: Callable[[], Awaitable[None]]) -> bytes:
        await refresh()
        return await asyncio.to_thread(generate_latest, self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _CheckUp(Collector):
    """`slawatch_check_up{check}`: built at collection from the last states shown, which
    `show` replaces whole (a labelled `Gauge` costs a child object and a lock per check)."""

    NAME = "slawatch_check_up"
    HELP = "1 if the check is UP now under its quorum, 0 if DOWN; absent while UNKNOWN"

    def __init__(self) -> None:
        self._values: tuple[tuple[str, int], ...] = ()

    def show(self, states: Mapping[str, CheckNow]) -> None:
        self._values = tuple(
            (check, 1 if now.state is State.UP else 0)
            for check, now in states.items()
            if now.state is not State.UNKNOWN
        )

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=["check"])]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=["check"])
        for check, value in self._values:
            family.add_metric([check], value)
        yield family


def _retrieve_exception(future: asyncio.Future[bytes]) -> None:
    """A scrape whose every caller went away still has its error read (and raised to none)."""
    if not future.cancelled():
        future.exception()
