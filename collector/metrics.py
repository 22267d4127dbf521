"""The collector's Prometheus metrics (CONTRACT §3.3), on a registry passed in.

Counters move as things happen; the gauges of state (`slawatch_check_up`, database size) are
refreshed just before each scrape, so they are never older than the scrape itself.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from slawatch.collector.current import check_states
from slawatch.collector.engine.states import State
from slawatch.collector.store import Store
from slawatch.config.schema import Config


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
        self.database_size = Gauge(
            "slawatch_database_size_bytes",
            "Size of the SQLite database's pages",
            registry=registry,
        )
        self.check_up = Gauge(
            "slawatch_check_up",
            "1 if the check is UP now under its quorum, 0 if DOWN; absent while UNKNOWN",
            ["check"],
            registry=registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.request_duration.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()

    async def refresh(self, store: Store, config: Config, now: float | None = None) -> None:
        now_ms = round((time.time() if now is None else now) * 1000)
        self.database_size.set(await store.size_bytes())
        states = await check_states(store, config, now_ms)
        self.check_up.clear()
        for check, current in states.items():
            if current.state is not State.UNKNOWN:
                self.check_up.labels(check).set(1 if current.state is State.UP else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
