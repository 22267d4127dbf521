"""Alerts wired into the collector: the evaluator on ingest and on a timer, the dispatcher's
channel loops, the metrics, all started and stopped with the application (`cleanup_ctx`).

A graceful stop (SIGTERM) lets the evaluation under way and the deliveries in flight finish
and commit, each within `STOP_WAIT_S`, before the store closes (the application closes its
contexts in reverse order: the store's, opened first, last): a chat message is sent again
after a restart only if the collector *died* between the service's answer and the commit.

`setup(app)` is one of the collector's `ROUTES`. Every clock reading is the app's `CLOCK`, so
tests put the collector at any instant and call `evaluate_now` / `deliver_due` instead of
waiting for the timers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from slawatch.collector.alerts.evaluator import Evaluator
from slawatch.collector.alerts.outbox import STOP_WAIT_S, AlertMetrics, Dispatcher, Outbox, ms
from slawatch.collector.app import (
    CLOCK,
    CONFIG,
    COORDINATION,
    INGEST_LISTENERS,
    METRICS,
    METRICS_REFRESHERS,
    STORE,
)
from slawatch.collector.evidence.channels import with_report_channels
from slawatch.collector.ingest.batch import Batch
from slawatch.collector.store import AlertChanges, IngestResult, Store
from slawatch.collector.store.coordination import Coordination
from slawatch.config.schema import Config

log = structlog.get_logger()

EVALUATE_EVERY_S = 5.0
"""The timer: staleness (no_data, agent_silent), `after`, `repeat` and `resolve_after` need a
clock, not only new samples."""
PASS_GAP_S = 1.0
"""At least this long between two passes, however fast batches arrive."""
PRUNE_EVERY_S = 3600.0
KEEP_FINISHED_S = 30 * 86_400.0
"""Sent, given-up and merged notifications are listed this long, then forgotten."""
KEEP_MARKS_S = 70 * 86_400.0
"""What was decided once per period (a month's breach, a week's digest) is remembered longer
than any period."""


class AlertService:
    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        registry: CollectorRegistry,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.metrics = AlertMetrics(registry)
        alerts = with_report_channels(config)  # reports of closed periods go the same way
        self.metrics.count_channels(c.id for c in alerts.channels)
        self.outbox = Outbox(store, alerts, clock=clock, metrics=self.metrics)
        self.evaluator = Evaluator(store, config, self.outbox, clock=clock, incremental=True)
        self.dispatcher: Dispatcher | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        """The service stops (shared databases: stop waiting for leadership)."""
        self._evaluator_stop = asyncio.Event()
        """The evaluator stops after its pass under way (service stopping, or leadership lost)."""
        self._pruned_ms: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.outbox.alerts.channels)

    def poke(
        self, checks: Iterable[str] = (), oldest: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        """Evaluate soon: new samples of `checks` arrived (`oldest`: (check, agent) → the
        oldest of them, when known)."""
        if self.enabled:  # else no pass ever takes them
            self.evaluator.touch(checks, oldest)
        self._wake.set()

    async def reload(self, config: Config) -> int:
        """Go on with a re-read file (new rules, channels, SLAs); returns how many notifications
        of removed channels were given up (with that reason, visible in /api/v1/notifications).

        A pass under way finishes with the old rules; the next one uses the new. The channel
        loops are restarted for the new set of channels, each delivery in flight finishing
        first. Alerts disabled at start (no channel) need a restart to begin."""
        self.config = config
        self.outbox.alerts = with_report_channels(config)
        self.metrics.count_channels(c.id for c in self.outbox.alerts.channels)
        previous = self.evaluator
        self.evaluator = Evaluator(
            self.store, config, self.outbox, clock=self.clock, incremental=True
        )  # its first pass judges every target under the new rules
        self.evaluator.started_ms = previous.started_ms
        self.evaluator.silences.started_ms = previous.started_ms
        given_up = 0
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            given_up = await self.outbox.give_up_orphans()
            self.dispatcher.start()
            self.poke()
        return given_up

    async def evaluate_now(self) -> AlertChanges:
        return await self.evaluator.evaluate()

    async def deliver_due(self) -> int:
        """Everything due now on every channel; returns how many steps did something."""
        if self.dispatcher is None:
            raise RuntimeError("the alert service is not started")
        return await self.dispatcher.run_due()

    @contextlib.asynccontextmanager
    async def running(self, coordination: Coordination | None = None) -> AsyncIterator[None]:
        """Evaluate and deliver while the block runs. With collectors sharing the database
        (`coordination.shared`), only while this one leads: a follower waits for leadership,
        and a leader that loses it stops at once (another one takes over)."""
        if not self.enabled:
            yield
            return
        if self.evaluator.links.guessed:
            log.warning(
                "public_url_missing",
                links=self.evaluator.links.base,
                hint="collector.listen is every interface: set collector.public_url to the"
                " address people open, links in alerts use the loopback meanwhile",
            )
        if coordination is None or not coordination.shared:
            async with self._leading():
                yield
            return
        self._stopping.clear()
        following = asyncio.create_task(self._lead_when_chosen(coordination), name="alerts-leader")
        try:
            yield
        finally:
            self._stopping.set()
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await following

    async def _lead_when_chosen(self, coordination: Coordination) -> None:
        while not self._stopping.is_set():
            chosen = asyncio.create_task(coordination.leading())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait([chosen, stopping], return_when=asyncio.FIRST_COMPLETED)
            for task in (chosen, stopping):
                task.cancel()
            if self._stopping.is_set():
                return
            log.info("alerts_leading")
            async with self._leading():
                lost = asyncio.create_task(coordination.lost())
                stopping = asyncio.create_task(self._stopping.wait())
                await asyncio.wait([lost, stopping], return_when=asyncio.FIRST_COMPLETED)
                for task in (lost, stopping):
                    task.cancel()
            self.dispatcher = None  # a follower delivers nothing, even after a reload
            if not self._stopping.is_set():
                log.warning("alerts_following", reason="leadership lost")

    @contextlib.asynccontextmanager
    async def _leading(self) -> AsyncIterator[None]:
        """The dispatcher's channel loops and the evaluator, for the block."""
        async with aiohttp.ClientSession() as session:
            self.dispatcher = Dispatcher(self.outbox, session)
            await self.outbox.give_up_orphans()
            self.dispatcher.start()
            self._evaluator_stop.clear()
            evaluating = asyncio.create_task(self._evaluate_forever(), name="alerts-evaluator")
            try:
                yield
            finally:
                await asyncio.gather(self._stop_evaluating(evaluating), self.dispatcher.stop())

    async def _stop_evaluating(self, evaluating: asyncio.Task[None]) -> None:
        """Let a pass under way commit what it decided (bounded), then stop."""
        self._evaluator_stop.set()
        self._wake.set()
        _, late = await asyncio.wait([evaluating], timeout=STOP_WAIT_S)
        if late:
            log.warning("alert_evaluation_interrupted", wait_s=STOP_WAIT_S)
            evaluating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await evaluating

    async def _evaluate_forever(self) -> None:
        self._wake.set()
        failures: tuple[type[Exception], ...] = (*self.store.errors, OSError)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=EVALUATE_EVERY_S)
            self._wake.clear()
            if self._evaluator_stop.is_set():
                return
            try:
                await self.evaluator.evaluate(read_ahead=self._wake.set)
                await self._prune()
            except failures as error:
                log.error("alert_evaluation_failed", error=str(error))
            except Exception:
                log.exception("alert_evaluation_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._evaluator_stop.wait(), timeout=PASS_GAP_S)

    async def _prune(self) -> None:
        now_ms = ms(self.clock())
        if self._pruned_ms is not None and now_ms - self._pruned_ms < ms(PRUNE_EVERY_S):
            return
        self._pruned_ms = now_ms
        removed = await self.store.prune_notifications(
            now_ms - ms(KEEP_FINISHED_S), marks_before_ms=now_ms - ms(KEEP_MARKS_S)
        )
        if removed:
            log.info("notifications_pruned", rows=removed)


SERVICE = web.AppKey("alerts_service", AlertService)


def setup(app: web.Application) -> None:
    service = AlertService(
        app[STORE], app[CONFIG], registry=app[METRICS].registry, clock=app[CLOCK]
    )
    app[SERVICE] = service
    app[INGEST_LISTENERS].append(_on_ingest)
    app[METRICS_REFRESHERS].append(_refresh_metrics)
    app.cleanup_ctx.append(_service_context)


async def _service_context(app: web.Application) -> AsyncIterator[None]:
    async with app[SERVICE].running(app[COORDINATION]):
        yield


async def _on_ingest(app: web.Application, batch: Batch, result: IngestResult) -> None:
    if result.checks:
        app[SERVICE].poke(result.checks, _oldest_samples(batch))


def _oldest_samples(batch: Batch) -> dict[tuple[str, str], int]:
    """(check, agent) → the batch's oldest sample of the check."""
    oldest: dict[tuple[str, str], int] = {}
    agent = batch.agent
    for row in batch.samples:
        key = (row.check, agent)
        known = oldest.get(key)
        if known is None or row.ts_ms < known:
            oldest[key] = row.ts_ms
    return oldest


async def _refresh_metrics(app: web.Application) -> None:
    service = app[SERVICE]
    await service.metrics.refresh(service.store, (c.id for c in service.outbox.alerts.channels))
