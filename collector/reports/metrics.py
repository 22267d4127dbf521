"""The SLA gauges of `/metrics` (CONTRACT §3.3, §4.8), each SLA's current period:

- `slawatch_sla_availability_percent{sla}` (absent while the period has no eligible time) and
  `slawatch_sla_eligible_seconds{sla}`, the measured time it stands on;
- `slawatch_sla_projected_availability_percent{sla}`: if the rest of the period is up (absent
  while null);
- `slawatch_sla_verdict{sla, verdict}`: 1 for the period's verdict, 0 for the others (a state
  set, as kube-state-metrics' `kube_pod_status_phase{phase}`), so that `== 1` selects it;
- `slawatch_sla_error_budget_remaining_ratio{sla}` (1 untouched, 0 spent, below 0 overspent;
  absent without a budget).

They are refreshed before a scrape through `METRICS_REFRESHERS`, from
the summaries of `slawatch.collector.reports.build`, and cached: until new samples are stored,
maintenance is
declared or deleted, or `CACHE_S` of the collector's clock pass. A scrape waits at most
`WAIT_S` for a refresh; past that it gets the previous values and the refresh finishes behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from slawatch.collector.app import (
    CLOCK,
    CONFIG,
    INGEST_LISTENERS,
    METRICS,
    METRICS_REFRESHERS,
    STORE,
)
from slawatch.collector.engine.verdict import VERDICTS
from slawatch.collector.ingest.batch import Batch
from slawatch.collector.reports.shared import SlaSummary, summaries
from slawatch.collector.store import IngestResult

log = structlog.get_logger()

CACHE_S = 10.0
WAIT_S = 2.0


class SlaGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.availability = Gauge(
            "slawatch_sla_availability_percent",
            "Availability of the SLA's current period (absent while it has no eligible time)",
            ["sla"],
            registry=registry,
        )
        self.eligible = Gauge(
            "slawatch_sla_eligible_seconds",
            "Up + down time of the SLA's current period so far: what its availability stands on",
            ["sla"],
            registry=registry,
        )
        self.projected = Gauge(
            "slawatch_sla_projected_availability_percent",
            "Availability of the SLA's current period if the rest of it is up",
            ["sla"],
            registry=registry,
        )
        self.verdict = Gauge(
            "slawatch_sla_verdict",
            "Verdict of the SLA's current period: 1 for the one it has (on_track, at_risk, "
            "breached, no_data; met once complete), 0 for the others",
            ["sla", "verdict"],
            registry=registry,
        )
        self.budget_remaining = Gauge(
            "slawatch_sla_error_budget_remaining_ratio",
            "Error budget of the SLA's current period left: 1 untouched, 0 spent, < 0 overspent",
            ["sla"],
            registry=registry,
        )

    def show(self, found: Sequence[SlaSummary]) -> None:
        for gauge in (
            self.availability,
            self.eligible,
            self.projected,
            self.verdict,
            self.budget_remaining,
        ):
            gauge.clear()
        for summary in found:
            report, sla_id = summary.report, summary.report.sla.id
            if report.availability is not None:
                self.availability.labels(sla_id).set(report.availability)
            self.eligible.labels(sla_id).set(report.eligible_ms / 1000)
            if report.projected_availability is not None:
                self.projected.labels(sla_id).set(report.projected_availability)
            for verdict in VERDICTS:
                self.verdict.labels(sla_id, verdict).set(report.verdict == verdict)
            ratio = report.error_budget_remaining_ratio
            if ratio is not None:
                self.budget_remaining.labels(sla_id).set(ratio)


class SlaMetricsRefresher:
    """Keeps `SlaGauges` current for scrapes, computing at most one refresh at a time."""

    def __init__(self, gauges: SlaGauges) -> None:
        self.gauges = gauges
        self._computed_at: float | None = None
        """The collector's clock when the shown values were computed; None: out of date."""
        self._generation = 0
        """Moves on every change of the data, so a refresh begun before it is not taken as
        current."""
        self._task: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        self._generation += 1
        self._computed_at = None

    async def __call__(self, app: web.Application) -> None:
        now = app[CLOCK]()
        if self._computed_at is not None and 0 <= now - self._computed_at < CACHE_S:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._refresh(app, now))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), WAIT_S)

    async def _refresh(self, app: web.Application, now: float) -> None:
        slas = app[CONFIG].slas
        generation = self._generation
        try:
            found = await summaries(app[STORE], slas, round(now * 1000))
        except Exception:
            log.exception("sla_metrics_failed", slas=len(slas))
            return
        self.gauges.show(found)
        if generation == self._generation:
            self._computed_at = now

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


REFRESHER = web.AppKey("sla_metrics", SlaMetricsRefresher)


def setup(app: web.Application) -> None:
    """Register the gauges on the collector's registry and refresh them before scrapes."""
    refresher = SlaMetricsRefresher(SlaGauges(app[METRICS].registry))
    app[REFRESHER] = refresher
    app[METRICS_REFRESHERS].append(refresher)
    app[INGEST_LISTENERS].append(_on_ingest)

    async def stop_refresh(app: web.Application) -> AsyncIterator[None]:
        yield
        await refresher.stop()

    app.cleanup_ctx.append(stop_refresh)


def invalidate(app: web.Application) -> None:
    """The stored data or maintenance changed: recompute on the next scrape."""
    refresher = app.get(REFRESHER)
    if refresher is not None:
        refresher.invalidate()


async def _on_ingest(app: web.Application, batch: Batch, result: IngestResult) -> None:
    if result.accepted:
        invalidate(app)
