"""The weekly SLA review (`alerts.digest`): every SLA's week and period to date, in each channel.

It is due at `weekday` `at` local time in `timezone` (default Monday 09:00 UTC) and reviews the
last whole ISO week (Monday 00:00 to Monday 00:00 in that timezone) that ended by then: on a
Monday morning, the week just over. Each SLA shows the week's availability and incidents, and
its own period to date: availability and the measured time it stands on, the period's verdict
(CONTRACT §4.8: on track, at risk, breached), error budget left, and the credit already
certain. The numbers are the SLA reports' (`slawatch.collector.reports.build`).

The evaluator marks a week as sent in the same transaction that queues its messages, so it goes
out once even across restarts; a review more than `GRACE_S` late (the collector was down on the
day) is skipped rather than sent days later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from slawatch.collector.alerts.events import Digest, DigestIncident, DigestSla
from slawatch.collector.engine.periods import (
    Window,
    current_window,
    from_ms,
    local_midnight_ms,
    period_label,
    to_ms,
    zone_of,
)
from slawatch.collector.engine.sla import Incident
from slawatch.collector.reports.build import sla_report
from slawatch.collector.store import Store
from slawatch.config.contract import WEEKDAYS
from slawatch.config.schema import DigestSettings, Sla

GRACE_S = 86_400.0
"""How late a review may still go out."""


def last_due_ms(settings: DigestSettings, now_ms: int) -> int:
    """The latest scheduled instant at or before `now_ms`."""
    zone = zone_of(settings.timezone)
    today = from_ms(now_ms, zone).date()
    day = today - timedelta(days=(today.weekday() - WEEKDAYS.index(settings.weekday)) % 7)
    scheduled = to_ms(datetime.combine(day, settings.at, tzinfo=zone))
    if scheduled > now_ms:
        scheduled = to_ms(datetime.combine(day - timedelta(days=7), settings.at, tzinfo=zone))
    return scheduled


def reviewed_week(settings: DigestSettings, scheduled_ms: int) -> tuple[str, Window]:
    """The ISO week a review scheduled at `scheduled_ms` covers, and its name ("2026-W47")."""
    zone = zone_of(settings.timezone)
    day = from_ms(scheduled_ms, zone).date()
    monday = day - timedelta(days=day.weekday())
    start = monday - timedelta(days=7)
    window = Window(local_midnight_ms(start, zone), local_midnight_ms(monday, zone))
    return period_label("week", window.from_ms, zone), window


def due(settings: DigestSettings, now_ms: int) -> tuple[str, Window] | None:
    """The week to review now, or None when the last review is more than `GRACE_S` late."""
    scheduled = last_due_ms(settings, now_ms)
    if now_ms - scheduled > GRACE_S * 1000:
        return None
    return reviewed_week(settings, scheduled)


async def build(
    store: Store,
    slas: tuple[Sla, ...],
    week: str,
    window: Window,
    now_ms: int,
    *,
    report_link: dict[str, str],
    link: str | None,
    timezone: str = "UTC",
) -> Digest:
    """The review of `week` for every SLA (its id is set per channel by the outbox)."""
    reviews = []
    for sla in slas:
        week_report = (await sla_report(store, sla, window, now_ms, latency=False)).report
        period = current_window(sla.period, sla.timezone, now_ms)
        period_report = (await sla_report(store, sla, period, now_ms, latency=False)).report
        amount = period_report.credit_amount
        reviews.append(
            DigestSla(
                sla=sla.id,
                name=sla.name,
                objective=sla.objective,
                period=period_label(sla.period, period.from_ms, sla.timezone),
                week_availability=week_report.availability,
                period_availability=period_report.availability,
                budget_s=period_report.error_budget_s,
                budget_remaining_s=period_report.error_budget_remaining_s,
                credit_percent=float(period_report.credit_percent),
                customer=sla.customer,
                incidents=tuple(_incident(i) for i in week_report.incidents),
                link=report_link.get(sla.id),
                period_verdict=period_report.verdict,
                period_measured_s=period_report.eligible_ms / 1000,
                period_projected_availability=period_report.projected_availability,
                period_complete=period_report.complete,
                week_measured_s=week_report.eligible_ms / 1000,
                credit_amount=None if amount is None else str(amount),
                currency=sla.monthly_fee.currency if sla.monthly_fee else None,
            )
        )
    return Digest(
        id="",
        at=now_ms / 1000,
        week=week,
        start=window.from_ms / 1000,
        end=window.to_ms / 1000,
        slas=tuple(reviews),
        link=link,
        timezone=timezone,
    )


def _incident(incident: Incident) -> DigestIncident:
    return DigestIncident(
        start=incident.start_ms / 1000,
        end=None if incident.end_ms is None else incident.end_ms / 1000,
        duration_s=incident.duration_ms / 1000,
        checks=incident.checks,
        error=incident.error,
    )
