"""Period close (CONTRACT §7): when an SLA's period has ended, plus `reports.delay` for late
samples, its report goes once to its customer's `report_to` (e-mail, webhook), and its evidence
bundle is made and kept beside the database (`kept`), so evidence outlives raw samples.

How a close happens, every `CLOSE_EVERY_S` and at start, for each SLA, for the latest period
closed at now (the one before the period holding `now - delay`):
1. Unless the store's mark `period_closed:SLA:PERIOD` says it was done, the bundle is written
   to a temporary file beside its place and renamed (a kept bundle is whole or absent), and its
   report (exact latencies) rendered for each report channel of its customer (`messages`),
   if it has any.
2. The notifications and the mark are committed in one transaction through the alert outbox,
   whose dispatcher delivers them as it delivers alerts: retried with backoff until the server
   answers (an SMTP server down at close time gets them when it is back), listed in
   `/api/v1/notifications`, sent again only if the collector dies between the answer and the
   commit of `sent` (same Message-ID, same webhook `id`).
A crash before step 2 commits leaves no mark: the next start does the close again (the same
notification ids, a new bundle in place of the old).

Report channels are the alert outbox's channels `report:CUSTOMER:email` (type `email`, through
`reports.smtp`) and `report:CUSTOMER:webhook` (type `webhook`, signed with `report_to.secret`),
made from the config here; `alerts.service` adds them to its outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import structlog
from aiohttp import web

from slawatch.collector.alerts import service as alerts_service
from slawatch.collector.app import CLOCK, CONFIG, CONFIG_LISTENERS, STORE
from slawatch.collector.engine.periods import Window, current_window, period_label
from slawatch.collector.evidence import kept, messages
from slawatch.collector.evidence.bundle import EvidenceUnavailable, write_bundle
from slawatch.collector.evidence.channels import CHANNEL_PREFIX, report_channels
from slawatch.collector.evidence.feature import EVIDENCE_KEY
from slawatch.collector.evidence.keys import SigningKey
from slawatch.collector.reports.build import SlaReport, sla_report
from slawatch.collector.store import AlertChanges, Store
from slawatch.config.schema import Channel, Config, Sla

log = structlog.get_logger()

CLOSE_EVERY_S = 60.0


def last_closed(sla: Sla, now_ms: int, delay_ms: int) -> Window:
    """The latest period of `sla` closed at `now_ms`: ended at least `delay_ms` ago."""
    current = current_window(sla.period, sla.timezone, now_ms - delay_ms)
    return current_window(sla.period, sla.timezone, current.from_ms - 1)


def mark_of(sla: str, period: str) -> str:
    return f"period_closed:{sla}:{period}"


class PeriodCloser:
    def __init__(
        self,
        store: Store,
        config: Config,
        service: alerts_service.AlertService,
        key: SigningKey,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.config, self.service, self.key, self.clock = (
            store, config, service, key, clock,
        )  # fmt: skip
        self.channels = report_channels(config)

    def _channels_of(self, customer: str | None) -> list[Channel]:
        prefix = f"{CHANNEL_PREFIX}{customer}:"
        return [c for c in self.channels if c.id.startswith(prefix)]

    async def close_due(self) -> list[str]:
        """Close every period due now and not closed yet; returns their marks."""
        now_ms = round(self.clock() * 1000)
        delay_ms = round(self.config.reports.delay * 1000)
        due: dict[str, tuple[Sla, Window, str]] = {}
        for sla in self.config.slas:
            window = last_closed(sla, now_ms, delay_ms)
            period = period_label(sla.period, window.from_ms, sla.timezone)
            due[mark_of(sla.id, period)] = (sla, window, period)
        if not due:
            return []
        done = await self.store.alert_marks(due)
        closed = []
        for mark, (sla, window, period) in due.items():
            if mark in done:
                continue
            await self.close(sla, window, period, now_ms)
            closed.append(mark)
        return closed

    async def close(self, sla: Sla, window: Window, period: str, now_ms: int) -> None:
        found = await self._keep_bundle(sla, window, period, now_ms)
        evidence = None
        if found is None:
            found = await sla_report(self.store, sla, window, now_ms, period=period)
        else:
            evidence = f"/api/v1/slas/{sla.id}/evidence?period={period}"
        notifications = [
            messages.render(channel, found, self.config, now_ms, evidence=evidence)
            for channel in self._channels_of(sla.customer)
        ]
        await self.service.outbox.commit(
            AlertChanges(notifications=notifications, marks=[(mark_of(sla.id, period), now_ms)])
        )
        log.info("period_closed", sla=sla.id, period=period, messages=len(notifications))

    async def _keep_bundle(
        self, sla: Sla, window: Window, period: str, now_ms: int
    ) -> SlaReport | None:
        """Write and keep the period's bundle; its report, or None if it cannot be made."""
        path = kept.path_of(self.config, sla.id, period)
        if path is None:
            return None
        temporary = await asyncio.to_thread(kept.temporary_beside, path)
        try:
            handle = await asyncio.to_thread(temporary.open, "wb")
            try:
                info = await write_bundle(
                    self.store, sla, window, now_ms, self.key, target=handle, period=period
                )
            finally:
                await asyncio.to_thread(handle.close)
            await asyncio.to_thread(kept.publish, temporary, path)
        except EvidenceUnavailable as error:
            log.warning("evidence_not_kept", sla=sla.id, period=period, reason=str(error))
            return None
        finally:
            await asyncio.to_thread(_remove, temporary)
        return info.report


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


CLOSER = web.AppKey("period_closer", PeriodCloser)


def setup(app: web.Application) -> None:
    """After `alerts.service.setup` (its outbox) and `routes.setup` (the key)."""
    app.cleanup_ctx.append(_closer_context)
    app[CONFIG_LISTENERS].append(_reloaded)


async def _reloaded(app: web.Application, config: Config) -> None:
    """A re-read file: the next closes use its SLAs, customers and `reports`."""
    closer = app.get(CLOSER)
    if closer is not None:
        closer.config, closer.channels = config, report_channels(config)


async def _closer_context(app: web.Application) -> AsyncIterator[None]:
    closer = PeriodCloser(
        app[STORE], app[CONFIG], app[alerts_service.SERVICE], app[EVIDENCE_KEY], app[CLOCK]
    )
    app[CLOSER] = closer
    task = asyncio.create_task(_close_forever(closer), name="period-close")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_forever(closer: PeriodCloser) -> None:
    failures: tuple[type[Exception], ...] = (*closer.store.errors, OSError)
    while True:
        try:
            await closer.close_due()
        except failures as error:
            log.error("period_close_failed", error=str(error))
        except Exception:
            log.exception("period_close_failed")
        await asyncio.sleep(CLOSE_EVERY_S)
