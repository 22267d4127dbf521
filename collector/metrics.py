"""The collector's Prometheus metrics (CONTRACT §3.3), on a registry passed in.

Counters move as things happen. The gauges of state (`slawatch_check_up`, database size) are
computed for scrapes, at most once a second of the collector's clock (`STATE_MAX_AGE_S`): with
5,000 checks that took tens of milliseconds, and as long again to render, per scrape, on the
event loop; 100 scrapes at once held `/healthz` 2.5 s (issue 15). Now the check states are
decided and `slawatch_check_up` rendered in a thread, once a second at most, and kept as text;
at most `CONCURRENT_SCRAPES` are answered at once, sharing one refresh and one rendering of
the rest (`page`), so the event loop keeps serving pushes and health checks (bench/metrics.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from slawatch.collector.current import CheckNow, check_states
from slawatch.collector.engine.states import State
from slawatch.collector.store import Store
from slawatch.config.schema import Config

STATE_MAX_AGE_S = 1.0
"""How old, in the collector's clock, the gauges of state may be when a scrape reads them."""
CONCURRENT_SCRAPES = 4
"""Scrapes answered at once (`scrape_slot`); more wait their turn, costing the event loop
nothing meanwhile. Without this bound, 100 scrapers asking again as soon as answered took a
share of every turn of the loop from pushes (measured: push p50 x10, not x1.7, of its
baseline)."""


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
        self.pushes = Gauge(
            "slawatch_ingest_pushes",
            "Pushes being worked on (state=active) or waiting for their turn (state=waiting)",
            ["state"],
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
        self.alert_leader = Gauge(
            "slawatch_alert_leader",
            "1 on the collector that evaluates alerts and delivers notifications, 0 on the"
            " others sharing its database",
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
        self._check_up = _CheckUp()
        self._check_up_text = self._check_up.render({})
        """`slawatch_check_up` rendered, apart from the registry: 5,000 checks are 5,000 lines."""
        self._state_at: float | None = None
        self._scrape: asyncio.Future[bytes] | None = None
        self.scrape_slot = asyncio.Semaphore(CONCURRENT_SCRAPES)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.request_duration.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()

    async def refresh(self, store: Store, config: Config, now: float | None = None) -> None:
        """Set the gauges of state, unless they are less than `STATE_MAX_AGE_S` old."""
        now = time.time() if now is None else now
        if self._state_at is not None and 0 <= now - self._state_at < STATE_MAX_AGE_S:
            return
        self.database_size.set(await store.size_bytes())
        states = await check_states(store, config, round(now * 1000))
        self._check_up_text = await asyncio.to_thread(self._check_up.render, states)
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
        return await asyncio.to_thread(generate_latest, self.registry) + self._check_up_text


class _CheckUp(Collector):
    """`slawatch_check_up{check}` of the states last rendered (a labelled `Gauge` would cost a
    child object and a lock per check, and be rendered with the registry at every scrape)."""

    NAME = "slawatch_check_up"
    HELP = "1 if the check is UP now under its quorum, 0 if DOWN; absent while UNKNOWN"

    def __init__(self) -> None:
        self._states: Mapping[str, CheckNow] = {}

    def render(self, states: Mapping[str, CheckNow]) -> bytes:
        """The text exposition of these states (prometheus_client's, of this collector alone)."""
        self._states = states
        return generate_latest(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=["check"])
        for check, now in self._states.items():
            if now.state is not State.UNKNOWN:
                family.add_metric([check], 1 if now.state is State.UP else 0)
        yield family


def _retrieve_exception(future: asyncio.Future[bytes]) -> None:
    """A scrape whose every caller went away still has its error read (and raised to none)."""
    if not future.cancelled():
        future.exception()
