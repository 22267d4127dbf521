"""What a customer's status page shows, computed from the stored data (CONTRACT §3
`GET /status/{customer}`): the model the page and its JSON twin render (`view`).

Per SLA of the customer: the state now (operational, outage, maintenance, no data); the current
period's report, whose availability, measured time, verdict (CONTRACT §4.8: on track, at risk or
breached while in progress) and error budget the page shows; the report of each of the last
`BAR_DAYS` days in the SLA's timezone; open incidents and those of the last `INCIDENT_DAYS`; the
maintenance going on or coming. Every figure is `slawatch.collector.reports.build`': the
summaries', `daily_reports` (exactly the per-day reports) and the engine's incidents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from slawatch.collector.engine.maintenance import Interval, occurrences, seconds_to_ms
from slawatch.collector.engine.periods import Window, from_ms, zone_of
from slawatch.collector.engine.sla import Incident, Report
from slawatch.collector.engine.states import State
from slawatch.collector.reports.build import LATEST_MS
from slawatch.collector.reports.shared import SlaSummary, daily_reports, summaries, window_reports
from slawatch.collector.store import DeclaredMaintenance, Store
from slawatch.config.schema import Config, Customer, RecurringMaintenance, Sla

BAR_DAYS = 90
INCIDENT_DAYS = 14
RECURRING_AHEAD_MS = 8 * 86_400_000
"""A weekly window's next occurrence is always this close."""
MAX_INCIDENTS = 100
"""Incidents listed per SLA in the JSON, newest first; a flapping target could have thousands."""
MAX_MAINTENANCE = 20
OUTAGE_FACTOR = 10
"""A day whose downtime exceeds the objective's allowance this many times is an outage day."""
DAY_MS = 86_400_000

Level = Literal["operational", "degraded", "outage", "maintenance", "no_data"]
SlaState = Literal["operational", "outage", "maintenance", "no_data"]
Overall = Literal["operational", "degraded", "major_outage", "maintenance", "no_data"]


# ---------------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class DayStatus:
    """One calendar day of an SLA, in its timezone (the last one is today, so far)."""

    day: date
    report: Report
    level: Level

    @property
    def partial(self) -> bool:
        return self.report.as_of_ms < self.report.window.to_ms


@dataclass(frozen=True, slots=True)
class SlaStatus:
    summary: SlaSummary
    state: SlaState
    days: tuple[DayStatus, ...]
    incidents: tuple[Incident, ...]
    """Of the last `INCIDENT_DAYS`, newest first, at most `MAX_INCIDENTS`."""
    incident_count: int
    exclusions: tuple[DeclaredMaintenance, ...] = ()
    """Time excluded after the fact (CONTRACT §7) in the current period, by start."""

    @property
    def sla(self) -> Sla:
        return self.summary.report.sla

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        return tuple(i for i in self.incidents if i.end_ms is None)

    @property
    def uptime(self) -> float | None:
        """Availability over the days of the bar (they partition its range, so it is exact)."""
        up = sum(d.report.up_ms for d in self.days)
        return 100 * up / self.uptime_measured_ms if self.uptime_measured_ms else None

    @property
    def uptime_measured_ms(self) -> int:
        return sum(d.report.eligible_ms for d in self.days)


@dataclass(frozen=True, slots=True)
class Upkeep:
    """A maintenance window going on or coming, with every SLA of the customer it covers."""

    start_ms: int
    end_ms: int
    reason: str
    slas: tuple[Sla, ...]
    schedule: str | None = None
    """For a recurring config window (this is its current or next occurrence): "every day at
    02:00 UTC"."""


@dataclass(frozen=True, slots=True)
class CustomerStatus:
    customer: Customer
    provider: str
    now_ms: int
    overall: Overall
    slas: tuple[SlaStatus, ...]
    maintenance: tuple[Upkeep, ...]
    timezone: str
    """The page's: the customer's SLAs' timezone when they share one, else UTC."""


# ---------------------------------------------------------------------------------- computing


def customer_slas(config: Config, customer: Customer) -> list[Sla]:
    return [sla for sla in config.slas if sla.customer == customer.id]


async def customer_status(
    store: Store, config: Config, customer: Customer, now_ms: int
) -> CustomerStatus:
    """Everything the page shows of `customer` at `now_ms`, from the stored data."""
    slas = customer_slas(config, customer)
    found = await summaries(store, slas, now_ms)
    days = await daily_reports(store, slas, BAR_DAYS, now_ms)
    upkeep = await maintenance_ahead(store, slas, now_ms)
    declared = await store.declared_maintenance([sla.id for sla in slas])
    first_seen = {check.id: check.first_seen_ms for check in await store.seen_checks()}
    recent = await window_reports(store, slas, recent_window(now_ms), now_ms)
    statuses = []
    for summary in found:
        sla = summary.report.sla
        incidents = tuple(
            sorted(recent[sla.id].incidents, key=lambda i: i.run_start_ms, reverse=True)
        )
        in_maintenance = any(
            u.start_ms <= now_ms < u.end_ms and sla.id in {s.id for s in u.slas} for u in upkeep
        )
        first_data = min((first_seen[c] for c in sla.checks if c in first_seen), default=None)
        period = summary.report.window
        statuses.append(
            SlaStatus(
                summary=summary,
                state=sla_state(summary.report, in_maintenance),
                days=tuple(_day_status(sla, report, first_data) for report in days[sla.id]),
                incidents=incidents[:MAX_INCIDENTS],
                incident_count=len(incidents),
                exclusions=tuple(
                    d
                    for d in declared
                    if d.kind == "exclusion"
                    and sla.id in d.slas
                    and d.end_ms > period.from_ms
                    and d.start_ms < period.to_ms
                ),
            )
        )
    settings = config.collector
    zones = {sla.timezone for sla in slas}
    return CustomerStatus(
        customer=customer,
        provider=settings.provider_name if settings else "slawatch",
        now_ms=now_ms,
        overall=overall(statuses),
        slas=tuple(statuses),
        maintenance=tuple(upkeep[:MAX_MAINTENANCE]),
        timezone=zones.pop() if len(zones) == 1 else "UTC",
    )


def _day_status(sla: Sla, report: Report, first_data_ms: int | None) -> DayStatus:
    day = from_ms(report.window.from_ms, zone_of(sla.timezone)).date()
    before_data = first_data_ms is None or report.window.to_ms <= first_data_ms
    return DayStatus(day, report, "no_data" if before_data else day_level(report))


def recent_window(now_ms: int) -> Window:
    """Where the incidents listed come from: the last `INCIDENT_DAYS` up to now."""
    return Window(now_ms - INCIDENT_DAYS * DAY_MS, now_ms)


async def maintenance_ahead(store: Store, slas: Sequence[Sla], now_ms: int) -> list[Upkeep]:
    """Maintenance of `slas` going on or coming, by start: one-off and declared windows not
    over yet, and each recurring config window once, as its current or next occurrence with its
    schedule. Windows of the same time, reason and schedule make one entry naming their SLAs."""
    merged: dict[tuple[int, int, str, str | None], list[Sla]] = {}

    def add(start_ms: int, end_ms: int, reason: str, sla: Sla, schedule: str | None) -> None:
        covered = merged.setdefault((start_ms, end_ms, reason, schedule), [])
        if sla not in covered:
            covered.append(sla)

    ahead = Interval(now_ms, now_ms + RECURRING_AHEAD_MS)
    for sla in slas:
        for window in sla.maintenance:
            if isinstance(window, RecurringMaintenance):
                upcoming = occurrences((window,), sla.timezone, ahead)[:1]
                for o in upcoming:
                    add(o.start_ms, o.end_ms, window.reason, sla, _schedule(window, sla.timezone))
            elif (end := seconds_to_ms(window.end)) > now_ms:
                add(seconds_to_ms(window.start), end, window.reason, sla, None)
    by_id = {sla.id: sla for sla in slas}
    for declared in await store.declared_maintenance(list(by_id), now_ms, LATEST_MS):
        if declared.kind == "exclusion":
            continue  # declared after the fact: listed with its SLA, not as upkeep
        for sla_id in declared.slas:
            if sla_id in by_id:
                add(declared.start_ms, declared.end_ms, declared.reason, by_id[sla_id], None)
    return [
        Upkeep(start, end, reason, tuple(covered), schedule)
        for (start, end, reason, schedule), covered in sorted(merged.items(), key=_upkeep_order)
    ]


def _upkeep_order(entry: tuple[tuple[int, int, str, str | None], list[Sla]]) -> tuple[Any, ...]:
    (start, end, reason, schedule), _ = entry
    return (start, end, reason, schedule or "")


def _schedule(window: RecurringMaintenance, tz: str) -> str:
    every = "day" if window.every == "day" else window.every.capitalize()
    return f"every {every} at {window.at:%H:%M} {tz}"


def sla_state(report: Report, in_maintenance: bool) -> SlaState:
    if in_maintenance:
        return "maintenance"
    if report.state is State.UP:
        return "operational"
    return "outage" if report.state is State.DOWN else "no_data"


def day_level(report: Report) -> Level:
    """A day's colour: its downtime against what the objective allows. Today, still going on,
    is judged as CONTRACT §4.8 judges a period in progress, by the availability it can still
    reach: two minutes down in the first five of a day is a day below its objective, not a
    major outage."""
    if report.availability is None or report.projected_availability is None:
        removed, unknown = report.maintenance_ms + report.outside_hours_ms, report.unknown_ms
        return "maintenance" if removed > 0 and removed >= unknown else "no_data"
    judged = report.availability if report.complete else report.projected_availability
    if report.down_ms == 0 or judged >= report.sla.objective:
        return "operational"
    allowed = max(100 - report.sla.objective, 0.001)
    return "degraded" if 100 - judged <= OUTAGE_FACTOR * allowed else "outage"


def overall(statuses: Sequence[SlaStatus]) -> Overall:
    """The banner: an outage anywhere first, then maintenance, then all well."""
    states = [s.state for s in statuses]
    judged = [s for s in states if s in ("operational", "outage")]
    if "outage" in states:
        return "major_outage" if all(s == "outage" for s in judged) else "degraded"
    if "maintenance" in states:
        return "maintenance"
    return "operational" if judged else "no_data"
