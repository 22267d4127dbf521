"""Customer status pages (CONTRACT §3 `GET /status/{customer}`): HTML for people, JSON for tools.

- `GET /status/{customer}`: the page, self-contained HTML under a strict Content-Security-Policy
  (the report's), refreshing itself every minute.
- `GET /status/{customer}.json` and `GET /api/v1/status/{customer}`: the same content as JSON,
  for embedding and monitoring tools. (A customer whose id itself ends in `.json` keeps its page
  at `/status/{id}`; its JSON is at `/api/v1/status/{id}`.)

Who may read: anyone when the customer has `public_status: true`, else the customer's own token
or the admin token, or whoever holds a signed link to the page from an alert
(`slawatch.collector.links`;
they get the public view of that very page). Another customer's token gets the 404 of a customer
that does not exist; an agent token, 403; on a public page any other token is simply not needed
(the public view).
Links to the printable reports appear only for the customer and the admin (a report needs a
token). On the HTML route a browser (`Accept: text/html`) gets errors as a small page, API
clients as the usual JSON error.

What a page shows, per SLA of the customer: the state now (operational, outage, maintenance, no
data); the current period's availability, the measured time it stands on and its verdict
(CONTRACT §4.8: on track, at risk or breached while in progress); the error budget left, and why
it is smaller than the calendar's when time without data (before monitoring began) is left out;
the availability of each of the last 90 days in the SLA's timezone; open incidents and those of
the last 14 days; the maintenance going on or coming. Every figure is
`slawatch.collector.reports.build`': the summaries', `daily_reports` (exactly the per-day
reports) and the engine's incidents; the words are `slawatch.collector.reports.words`'. Probe
errors come from the targets: they are shown as text, in plain words
first, with URL credentials and the config's header values taken out.

A computed status (and its page and JSON as rendered) is kept per customer for `CACHE_S` of
the collector's clock; dropped at once when the customer's declared maintenance changes, and
when samples of its checks are stored as soon as it is `FRESH_S` old. Concurrent requests for
one customer wait for one computation.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from aiohttp import web

from slawatch.collector import links, openapi
from slawatch.collector.app import AUTH, CLOCK, CONFIG, INGEST_LISTENERS, STORE
from slawatch.collector.auth import UNAUTHORIZED_HEADERS
from slawatch.collector.engine.maintenance import Interval, occurrences, seconds_to_ms
from slawatch.collector.engine.periods import Window, format_instant, from_ms, zone_of
from slawatch.collector.engine.sla import Incident, Report
from slawatch.collector.engine.states import State
from slawatch.collector.engine.verdict import VERDICTS
from slawatch.collector.errors import ApiError
from slawatch.collector.ingest.batch import Batch
from slawatch.collector.openapi import FORBIDDEN, UNAUTHORIZED, error_response, json_response
from slawatch.collector.reports.build import (
    LATEST_MS,
    SlaSummary,
    daily_reports,
    summaries,
    window_reports,
)
from slawatch.collector.reports.formats import TEMPLATES, percent, period_title
from slawatch.collector.reports.routes import HTML_HEADERS
from slawatch.collector.reports.words import VERDICT_TEXT, budget_note, measured, span
from slawatch.collector.store import DeclaredMaintenance, IngestResult, Store
from slawatch.config.contract import ID_PATTERN
from slawatch.config.schema import Config, Customer, HttpTarget, RecurringMaintenance, Sla

BAR_DAYS = 90
INCIDENT_DAYS = 14
RECURRING_AHEAD_MS = 8 * 86_400_000
"""A weekly window's next occurrence is always this close."""
MAX_INCIDENTS = 100
"""Incidents listed per SLA in the JSON, newest first; a flapping target could have thousands."""
MAX_PAGE_INCIDENTS = 30
"""Incidents listed on the page, newest first, all SLAs together."""
MAX_MAINTENANCE = 20
MAX_ERROR_CHARS = 300
MIN_SECRET_CHARS = 6
"""Header values this long or longer are taken out of errors (shorter ones are no secret)."""
CACHE_S = 10.0
FRESH_S = 2.0
"""New samples show on a page once its cached status is this old (see `StatusCache`)."""
REFRESH_S = 60
OUTAGE_FACTOR = 10
"""A day whose downtime exceeds the objective's allowance this many times is an outage day."""
DAY_MS = 86_400_000

Level = Literal["operational", "degraded", "outage", "maintenance", "no_data"]
SlaState = Literal["operational", "outage", "maintenance", "no_data"]

OVERALL_TEXT = {
    "operational": "All systems operational",
    "degraded": "Degraded service",
    "major_outage": "Major outage",
    "maintenance": "Under maintenance",
    "no_data": "No data yet",
}
OVERALL_ICON = {
    "operational": "✓",
    "degraded": "!",
    "major_outage": "✕",
    "maintenance": "⚙",
    "no_data": "?",
}
STATE_TEXT = {
    "operational": "Operational",
    "outage": "Outage",
    "maintenance": "Under maintenance",
    "no_data": "No data",
}
LEVEL_TEXT = {
    "operational": "Objective met",
    "degraded": "Below objective",
    "outage": "Major outage",
    "maintenance": "Maintenance only",
    "no_data": "No data",
}

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
    overall: str
    """A key of `OVERALL_TEXT`."""
    slas: tuple[SlaStatus, ...]
    maintenance: tuple[Upkeep, ...]
    timezone: str
    """The page's: the customer's SLAs' timezone when they share one, else UTC."""


# ------------------------------------------------------------------------------------- routes


def setup(app: web.Application) -> None:
    links.setup(app)
    app.router.add_get("/status/{customer}", status_page)
    app.router.add_get("/api/v1/status/{customer}", status_json)
    app[STATUS_CACHE] = StatusCache()
    app[REDACTOR] = Redactor.of(app[CONFIG])
    app[INGEST_LISTENERS].append(_on_ingest)
    openapi.document(app).add(PATHS, SCHEMAS)


async def status_page(request: web.Request) -> web.StreamResponse:
    name = request.match_info["customer"]
    config = request.app[CONFIG]
    stem = name.removesuffix(".json")
    if stem != name and _customer(config, name) is None and _customer(config, stem) is not None:
        return await _json(request, stem)
    try:
        customer, privileged = _access(request, name)
        cached = await _cached(request, customer)
    except ApiError as error:
        if not _wants_html(request):
            raise
        return _html_error(error)
    redactor = request.app[REDACTOR]
    page = cached.output(
        "html",
        privileged,
        lambda: render_page(cached.status, report_links=privileged, redactor=redactor),
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers=_HEADERS)


async def status_json(request: web.Request) -> web.Response:
    return await _json(request, request.match_info["customer"])


async def _json(request: web.Request, name: str) -> web.Response:
    customer, privileged = _access(request, name)
    cached = await _cached(request, customer)
    base = _collector_url(request.app[CONFIG]) if privileged else None
    redactor = request.app[REDACTOR]
    text = cached.output(
        "json",
        privileged,
        lambda: json.dumps(status_to_json(cached.status, report_base=base, redactor=redactor)),
    )
    return web.json_response(text=text, headers={"Cache-Control": "no-cache"})


_HEADERS = {**HTML_HEADERS, "Cache-Control": "no-cache", "Vary": "Authorization, Accept"}


def _customer(config: Config, name: str) -> Customer | None:
    settings = config.collector
    if settings is None or not ID_PATTERN.fullmatch(name):
        return None
    return settings.customer(name)


def _access(request: web.Request, name: str) -> tuple[Customer, bool]:
    """The customer whose status is asked and whether the caller may see its reports.

    404 for an unknown customer (and for another customer's token: as if it did not exist);
    for a private page, 401 without a known token and 403 for an agent's. A signed link
    (`slawatch.collector.links`) reads exactly the page it was made for; a wrong or expired one is a
    401."""
    customer = _customer(request.app[CONFIG], name)
    if customer is None:
        raise ApiError(404, f"no status page {name[:128]!r}")
    principal = request.app[AUTH].identify(request.headers.get("Authorization"))
    privileged = principal is not None and (
        principal.kind == "admin" or (principal.kind == "customer" and principal.id == customer.id)
    )
    if privileged or customer.public_status:
        return customer, privileged
    signature = links.signed(request)
    if signature is not None:  # a link from an alert: this page, no report links
        if signature:
            return customer, False
        raise ApiError(401, links.REFUSED, headers=UNAUTHORIZED_HEADERS)
    if principal is None:
        raise ApiError(401, "missing or unknown bearer token", headers=UNAUTHORIZED_HEADERS)
    if principal.kind == "customer":
        raise ApiError(404, f"no status page {name[:128]!r}")
    raise ApiError(403, f"this token may not do this (it is a {principal.kind} token)")


async def _cached(request: web.Request, customer: Customer) -> CachedStatus:
    app = request.app
    now = app[CLOCK]()
    if not math.isfinite(now):
        raise ApiError(500, "the collector's clock is not a number")
    return await app[STATUS_CACHE].get(app[STORE], app[CONFIG], customer, round(now * 1000))


def _wants_html(request: web.Request) -> bool:
    """Whether the client asked for HTML by name (browsers do; `*/*` API clients do not)."""
    for part in request.headers.get("Accept", "").split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        if media.lower() not in ("text/html", "application/xhtml+xml"):
            continue
        quality = next((p[2:] for p in parameters if p.replace(" ", "").startswith("q=")), "1")
        try:
            if float(quality) > 0:
                return True
        except ValueError:
            continue
    return False


def _html_error(error: ApiError) -> web.Response:
    titles = {401: "Sign-in needed", 403: "Not allowed", 404: "Page not found"}
    title = titles.get(error.status, "Error")
    text = TEMPLATES.get_template("status.html").render(
        view=None, error={"status": error.status, "title": title, "message": error.message}
    )
    return web.Response(
        text=text,
        status=error.status,
        content_type="text/html",
        charset="utf-8",
        headers={**_HEADERS, **error.headers},
    )


def _collector_url(config: Config) -> str:
    """Where report links point: the public URL when the config has one, else root-relative."""
    settings = config.collector
    return (settings.public_url or "").rstrip("/") if settings else ""


# -------------------------------------------------------------------------------------- cache


@dataclass(slots=True)
class CachedStatus:
    status: CustomerStatus
    generation: int
    """`StatusCache.generation` when it was computed."""
    declared: tuple[DeclaredMaintenance, ...]
    """The customer's declared maintenance it was computed with."""
    outputs: dict[tuple[str, bool], str] = field(default_factory=dict)
    """The page and the JSON document as rendered, per kind and viewer (report links or not)."""

    def output(self, kind: str, privileged: bool, render: Callable[[], str]) -> str:
        key = (kind, privileged)
        if key not in self.outputs:
            self.outputs[key] = render()
        return self.outputs[key]


@dataclass(slots=True)
class StatusCache:
    """Computed statuses per customer, kept `CACHE_S` of the collector's clock. Dropped at
    once when the customer's declared maintenance changes; when samples of one of its checks
    are stored (`samples_stored`), as soon as it is `FRESH_S` old, so that agents pushing all
    the time cannot make every view of a busy page a computation."""

    generation: int = 0
    """Moves on every `samples_stored`."""
    _changed: dict[str, int] = field(default_factory=dict)
    """Check id → the generation at which samples of it were last stored."""
    _entries: dict[str, CachedStatus] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def samples_stored(self, checks: Iterable[str]) -> None:
        self.generation += 1
        for check in checks:
            self._changed[check] = self.generation

    def clear(self) -> None:
        self._entries.clear()

    async def get(
        self, store: Store, config: Config, customer: Customer, now_ms: int
    ) -> CachedStatus:
        slas = customer_slas(config, customer)
        lock = self._locks.setdefault(customer.id, asyncio.Lock())
        async with lock:
            declared = tuple(await store.declared_maintenance([sla.id for sla in slas]))
            entry = self._entries.get(customer.id)
            if entry is not None and self._current(entry, slas, declared, now_ms):
                return entry
            generation = self.generation
            status = await customer_status(store, config, customer, now_ms)
            entry = CachedStatus(status, generation, declared)
            self._entries[customer.id] = entry
            return entry

    def _current(
        self,
        entry: CachedStatus,
        slas: Sequence[Sla],
        declared: tuple[DeclaredMaintenance, ...],
        now_ms: int,
    ) -> bool:
        age_ms = now_ms - entry.status.now_ms
        if entry.declared != declared or not 0 <= age_ms < CACHE_S * 1000:
            return False
        changed = max((self._changed.get(c, 0) for s in slas for c in s.checks), default=0)
        return changed <= entry.generation or age_ms < FRESH_S * 1000


STATUS_CACHE = web.AppKey("status_cache", StatusCache)


async def _on_ingest(app: web.Application, batch: Batch, result: IngestResult) -> None:
    if result.checks:
        app[STATUS_CACHE].samples_stored(result.checks)


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
        statuses.append(
            SlaStatus(
                summary=summary,
                state=sla_state(summary.report, in_maintenance),
                days=tuple(_day_status(sla, report, first_data) for report in days[sla.id]),
                incidents=incidents[:MAX_INCIDENTS],
                incident_count=len(incidents),
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
        maintenance, unknown = report.maintenance_ms, report.unknown_ms
        return "maintenance" if maintenance > 0 and maintenance >= unknown else "no_data"
    judged = report.availability if report.complete else report.projected_availability
    if report.down_ms == 0 or judged >= report.sla.objective:
        return "operational"
    allowed = max(100 - report.sla.objective, 0.001)
    return "degraded" if 100 - judged <= OUTAGE_FACTOR * allowed else "outage"


def overall(statuses: Sequence[SlaStatus]) -> str:
    """The banner: an outage anywhere first, then maintenance, then all well."""
    states = [s.state for s in statuses]
    judged = [s for s in states if s in ("operational", "outage")]
    if "outage" in states:
        return "major_outage" if all(s == "outage" for s in judged) else "degraded"
    if "maintenance" in states:
        return "maintenance"
    return "operational" if judged else "no_data"


# --------------------------------------------------------------------------------------- JSON


def status_to_json(
    status: CustomerStatus, *, report_base: str | None, redactor: Redactor
) -> dict[str, Any]:
    """The JSON twin; `report_base` (the collector's URL, "" for root-relative) adds report
    links, for callers allowed to read reports."""
    return {
        "customer": {"id": status.customer.id, "name": status.customer.name},
        "provider": status.provider,
        "updated": format_instant(status.now_ms),
        "refresh_s": REFRESH_S,
        "status": status.overall,
        "status_text": OVERALL_TEXT[status.overall],
        "timezone": status.timezone,
        "slas": [_sla_json(s, report_base, redactor) for s in status.slas],
        "maintenance": [_upkeep_json(u, status.now_ms) for u in status.maintenance],
    }


def _sla_json(status: SlaStatus, report_base: str | None, redactor: Redactor) -> dict[str, Any]:
    report, sla = status.summary.report, status.sla
    return {
        "id": sla.id,
        "name": sla.name,
        "state": status.state,
        "timezone": sla.timezone,
        "period": status.summary.period,
        "from": format_instant(report.window.from_ms),
        "to": format_instant(report.window.to_ms),
        "as_of": format_instant(report.as_of_ms),
        "objective": sla.objective,
        "availability": report.availability,
        "eligible_s": report.eligible_ms / 1000,
        "unknown_s": report.unknown_ms / 1000,
        "future_s": report.future_ms / 1000,
        "complete": report.complete,
        "projected_availability": report.projected_availability,
        "met": report.met,
        "verdict": report.verdict,
        "error_budget_s": report.error_budget_s,
        "error_budget_remaining_s": report.error_budget_remaining_s,
        "error_budget_remaining_ratio": report.error_budget_remaining_ratio,
        "budget_note": budget_note(report, lambda ms: _when(ms, sla.timezone)),
        "credit_percent": report.credit_percent,
        "missing_checks": list(report.missing_checks),
        "uptime": {
            "days": len(status.days),
            "availability": status.uptime,
            "eligible_s": status.uptime_measured_ms / 1000,
        },
        "days": [_day_json(day) for day in status.days],
        "open_incidents": [_incident_json(i, redactor) for i in status.open_incidents],
        "incidents": [_incident_json(i, redactor) for i in status.incidents],
        "incident_count": status.incident_count,
        "report": None if report_base is None else report_base + report_path(status),
    }


def _day_json(day: DayStatus) -> dict[str, Any]:
    report = day.report
    return {
        "date": day.day.isoformat(),
        "from": format_instant(report.window.from_ms),
        "to": format_instant(report.window.to_ms),
        "level": day.level,
        "availability": report.availability,
        "up_s": report.up_ms / 1000,
        "down_s": report.down_ms / 1000,
        "unknown_s": report.unknown_ms / 1000,
        "maintenance_s": report.maintenance_ms / 1000,
        "eligible_s": report.eligible_ms / 1000,
        "partial": day.partial,
    }


def _incident_json(incident: Incident, redactor: Redactor) -> dict[str, Any]:
    error = None if incident.error is None else redactor(incident.error)
    return {**incident.to_json(), "error": error, "summary": plain_error(error)}


def _upkeep_json(upkeep: Upkeep, now_ms: int) -> dict[str, Any]:
    return {
        "slas": [sla.id for sla in upkeep.slas],
        "start": format_instant(upkeep.start_ms),
        "end": format_instant(upkeep.end_ms),
        "reason": upkeep.reason,
        "ongoing": upkeep.start_ms <= now_ms,
        "schedule": upkeep.schedule,
    }


def report_path(status: SlaStatus) -> str:
    return f"/api/v1/slas/{status.sla.id}/report?period={status.summary.period}&format=html"


# --------------------------------------------------------------------------------------- HTML


def render_page(status: CustomerStatus, *, report_links: bool, redactor: Redactor) -> str:
    return TEMPLATES.get_template("status.html").render(
        view=_view(status, report_links, redactor), error=None
    )


def _view(status: CustomerStatus, report_links: bool, redactor: Redactor) -> dict[str, Any]:
    tz, now = status.timezone, status.now_ms
    incidents = sorted(
        ((s, i) for s in status.slas for i in s.incidents),
        key=lambda pair: pair[1].run_start_ms,
        reverse=True,
    )
    return {
        "customer": status.customer.name,
        "public": status.customer.public_status,
        "provider": status.provider,
        "overall": {
            "key": status.overall,
            "text": OVERALL_TEXT[status.overall],
            "icon": OVERALL_ICON[status.overall],
        },
        "updated": _when(now, tz),
        "updated_iso": format_instant(now),
        "refresh_s": REFRESH_S,
        "timezone": tz,
        "slas": [_sla_view(s, report_links) for s in status.slas],
        "open": [_incident_view(s, i, redactor, now) for s, i in incidents if i.end_ms is None],
        "incidents": [
            _incident_view(s, i, redactor, now) for s, i in incidents[:MAX_PAGE_INCIDENTS]
        ],
        "more_incidents": sum(s.incident_count for s in status.slas) - MAX_PAGE_INCIDENTS,
        "ongoing": [_upkeep_view(u, tz) for u in status.maintenance if u.start_ms <= now],
        "upcoming": [_upkeep_view(u, tz) for u in status.maintenance if u.start_ms > now],
        "bar_days": BAR_DAYS,
        "incident_days": INCIDENT_DAYS,
        "several_zones": len({s.sla.timezone for s in status.slas}) > 1,
        "levels": [(level, LEVEL_TEXT[level]) for level in LEVEL_TEXT],
    }


def _sla_view(status: SlaStatus, report_links: bool) -> dict[str, Any]:
    report, sla = status.summary.report, status.sla
    return {
        "id": sla.id,
        "name": sla.name,
        "state": status.state,
        "state_text": STATE_TEXT[status.state],
        "period": period_title(status.summary.period, sla.timezone),
        "availability": None
        if report.availability is None
        else _figure(percent(report.availability, floor=True, places=3), report.availability),
        "measured": measured(report),
        "projected": None
        if report.complete or report.projected_availability is None or not report.eligible_ms
        else _figure(
            percent(report.projected_availability, floor=True, places=3),
            report.projected_availability,
        ),
        "objective": _figure(percent(sla.objective), sla.objective),
        "verdict": report.verdict,
        "verdict_text": VERDICT_TEXT[report.verdict],
        "budget": _budget_text(report),
        "budget_note": budget_note(report, lambda ms: _when(ms, sla.timezone)),
        "uptime": None
        if status.uptime is None
        else f"{percent(status.uptime, floor=True, places=3)} uptime "
        f"({span(status.uptime_measured_ms / 1000)} measured)",
        "days": [_day_view(day) for day in status.days],
        "missing": list(report.missing_checks),
        "report": f"..{report_path(status)}" if report_links else None,
        "timezone": sla.timezone,
    }


def _figure(text: str, value: float) -> dict[str, str]:
    return {"text": text, "value": repr(float(value))}


def _budget_text(report: Report) -> str:
    budget, left = report.error_budget_s, report.error_budget_remaining_s
    if budget <= 0:
        return "none (the objective allows no downtime)"
    if left < 0:
        return f"none: {span(-left)} over a budget of {span(budget)}"
    return f"{span(left)} of {span(budget)} ({math.floor(100 * left / budget)} %)"


def _day_view(day: DayStatus) -> dict[str, str]:
    report = day.report
    label = f"{day.day:%a} {day.day.day} {day.day:%b %Y}"
    maintenance = f"{span(report.maintenance_ms / 1000)} maintenance"
    if day.level == "maintenance":
        text = f"{label}: maintenance only ({span(report.maintenance_ms / 1000)})"
    elif report.availability is None or day.level == "no_data":
        text = f"{label}: no data" + (f", {maintenance}" if report.maintenance_ms else "")
    else:
        down = report.down_ms / 1000
        text = (
            f"{label}: {percent(report.availability, floor=True, places=3)} available "
            f"{measured(report)}, " + (f"{span(down)} down" if down else "no downtime")
        )
        if report.maintenance_ms:
            text += f", {maintenance}"
        if report.unknown_ms:
            text += f", no data for {span(report.unknown_ms / 1000)}"
    if day.partial:
        text += " (today so far)"
    return {"level": day.level, "text": text}


def _incident_view(
    status: SlaStatus, incident: Incident, redactor: Redactor, now_ms: int
) -> dict[str, Any]:
    tz = status.sla.timezone
    end = incident.run_end_ms
    error = None if incident.error is None else redactor(incident.error)
    return {
        "sla": status.sla.name,
        "start": _when(incident.run_start_ms, tz),
        "start_iso": format_instant(incident.run_start_ms),
        "end": None if end is None else _when(end, tz),
        "duration": span(((end if end is not None else now_ms) - incident.run_start_ms) / 1000),
        "checks": ", ".join(incident.checks),
        "summary": plain_error(error),
        "error": None if error is None else _clip(error, MAX_ERROR_CHARS),
    }


def _upkeep_view(upkeep: Upkeep, tz: str) -> dict[str, str | None]:
    return {
        "start": _when(upkeep.start_ms, tz),
        "end": _when(upkeep.end_ms, tz),
        "duration": span((upkeep.end_ms - upkeep.start_ms) / 1000),
        "reason": upkeep.reason or "maintenance",
        "slas": ", ".join(sla.name for sla in upkeep.slas),
        "schedule": upkeep.schedule,
    }


def _when(ms: int, tz: str) -> str:
    moment = from_ms(ms, zone_of(tz))
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -------------------------------------------------------------------------------------- words


def plain_error(error: str | None) -> str:
    """What a probe's error means, for a customer: "The server answered with an error: HTTP
    503 (Service Unavailable)", "No answer in time"."""
    if not error:
        return "The check failed"
    text = error.lower()
    if match := re.search(r"\b(?:http|status)\s+([1-5][0-9]{2})\b", text):
        code = int(match.group(1))
        try:
            phrase = f" ({HTTPStatus(code).phrase})"
        except ValueError:
            phrase = ""
        kind = "an error" if code >= 500 else "an unexpected status"
        return f"The server answered with {kind}: HTTP {code}{phrase}"
    for words, meaning in _PLAIN_WORDS:
        if any(word in text for word in words):
            return meaning
    return "The check failed"


_PLAIN_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("timeout", "timed out"), "No answer in time"),
    (("connection refused",), "The server refused the connection"),
    (("dns",), "The server's name could not be resolved (DNS)"),
    (("certificate",), "The server's TLS certificate was not accepted"),
    (("tls", "ssl"), "The secure connection (TLS) could not be established"),
    (("unreachable", "no route"), "The server could not be reached"),
    (("connection closed", "reset by peer", "broken pipe"), "The connection was cut"),
    (("slower than",), "The server answered too slowly"),
    (("lacks", "does not match"), "The answer did not contain what was expected"),
)


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&][a-z0-9_.-]*(?:token|key|secret|pass|pwd|auth|sig|session)[a-z0-9_.-]*=)[^&#\s]+"
)


@dataclass(frozen=True, slots=True)
class Redactor:
    """Takes out of a probe error what could be a secret: URL credentials, query parameters
    named like secrets, and the config's HTTP header values and URL passwords."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Config) -> Redactor:
        found: set[str] = set()
        for check in config.checks:
            if not isinstance(check.target, HttpTarget):
                continue
            headers = check.target.headers.values()
            found.update(value for value in headers if len(value) >= MIN_SECRET_CHARS)
            password = urlsplit(check.target.url).password
            if password:
                found.update({password, unquote(password)})
        return cls(tuple(sorted(found, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        text = _USERINFO.sub(r"\1***@", text)
        text = _SECRET_QUERY.sub(r"\1***", text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


REDACTOR = web.AppKey("status_redactor", Redactor)


# ------------------------------------------------------------------------------------ OpenAPI

_REF = "#/components/schemas/"
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_INSTANT = {"type": "string", "format": "date-time"}
_CUSTOMER = {
    "name": "customer",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": openapi.ID_REGEX},
}
_OPTIONAL_TOKEN: list[dict[str, list[str]]] = [{}, {"bearer": []}]
_NOT_FOUND = error_response("No such customer (or another customer's token)")


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema whose every property is always there."""
    return {"type": "object", "required": list(properties), "properties": properties}


_UNAUTHORIZED = {
    **UNAUTHORIZED,
    "description": "A private page without a known token",
}

SCHEMAS: dict[str, Any] = {
    "StatusDay": _object(
        {
            "date": {"type": "string", "format": "date"},
            "from": _INSTANT,
            "to": _INSTANT,
            "level": {
                "enum": list(LEVEL_TEXT),
                "description": "the day's colour: operational (objective met), degraded (down "
                f"up to {OUTAGE_FACTOR} times what the objective allows), outage, maintenance "
                "(no up or down time, mostly maintenance), no_data (none, or before the first "
                "sample of the SLA's checks whatever `unknown` makes of that time); today, in "
                "progress, by the availability it can still reach (`projected_availability`)",
            },
            "availability": _NUMBER_OR_NULL,
            "up_s": {"type": "number"},
            "down_s": {"type": "number"},
            "unknown_s": {"type": "number"},
            "maintenance_s": {"type": "number"},
            "eligible_s": {"type": "number", "description": "measured time: up_s + down_s"},
            "partial": {"type": "boolean", "description": "today, counted up to now"},
        }
    ),
    "StatusIncident": _object(
        {
            "start": _INSTANT,
            "end": {"type": ["string", "null"], "format": "date-time"},
            "duration_s": {"type": "number", "minimum": 0},
            "run_start": _INSTANT,
            "run_end": {"type": ["string", "null"], "format": "date-time"},
            "checks": {"type": "array", "items": {"type": "string"}},
            "error": {"type": ["string", "null"]},
            "summary": {"type": "string", "description": "the error in plain words"},
        }
    ),
    "SlaStatus": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "state": {"enum": list(STATE_TEXT)},
            "timezone": {"type": "string"},
            "period": {"type": "string"},
            "from": _INSTANT,
            "to": _INSTANT,
            "as_of": _INSTANT,
            "objective": {"type": "number"},
            "availability": _NUMBER_OR_NULL,
            "eligible_s": {
                "type": "number",
                "description": "the measured time the availability stands on",
            },
            "unknown_s": {"type": "number"},
            "future_s": {"type": "number"},
            "complete": {"type": "boolean"},
            "projected_availability": _NUMBER_OR_NULL,
            "met": {"type": ["boolean", "null"]},
            "verdict": {"enum": list(VERDICTS), "description": "CONTRACT §4.8, as in reports"},
            "error_budget_s": {"type": "number"},
            "error_budget_remaining_s": {"type": "number"},
            "error_budget_remaining_ratio": _NUMBER_OR_NULL,
            "budget_note": {
                "type": ["string", "null"],
                "description": "why the error budget is smaller than the calendar's (time "
                "without data, such as before monitoring began, is left out); null when it is "
                "not",
            },
            "credit_percent": {"type": "number"},
            "missing_checks": {"type": "array", "items": {"type": "string"}},
            "uptime": _object(
                {
                    "days": {"type": "integer"},
                    "availability": _NUMBER_OR_NULL,
                    "eligible_s": {"type": "number"},
                }
            ),
            "days": {
                "type": "array",
                "items": {"$ref": _REF + "StatusDay"},
                "description": f"the last {BAR_DAYS} calendar days in the SLA's timezone, "
                "oldest first",
            },
            "open_incidents": {"type": "array", "items": {"$ref": _REF + "StatusIncident"}},
            "incidents": {
                "type": "array",
                "items": {"$ref": _REF + "StatusIncident"},
                "description": f"of the last {INCIDENT_DAYS} days, newest first, at most "
                f"{MAX_INCIDENTS}",
            },
            "incident_count": {"type": "integer", "minimum": 0},
            "report": {
                "type": ["string", "null"],
                "description": "the printable report of the current period; only for the "
                "customer's and the admin token",
            },
        }
    ),
    "CustomerStatus": _object(
        {
            "customer": _object({"id": {"type": "string"}, "name": {"type": "string"}}),
            "provider": {"type": "string"},
            "updated": _INSTANT,
            "refresh_s": {"type": "integer"},
            "status": {"enum": list(OVERALL_TEXT)},
            "status_text": {"type": "string"},
            "timezone": {"type": "string"},
            "slas": {"type": "array", "items": {"$ref": _REF + "SlaStatus"}},
            "maintenance": {
                "type": "array",
                "items": _object(
                    {
                        "slas": {"type": "array", "items": {"type": "string"}},
                        "start": _INSTANT,
                        "end": _INSTANT,
                        "reason": {"type": "string"},
                        "ongoing": {"type": "boolean"},
                        "schedule": {
                            "type": ["string", "null"],
                            "description": "a recurring window's: this is its current or next "
                            "occurrence",
                        },
                    }
                ),
            },
        }
    ),
}

_JSON_OPERATION = {
    "summary": "A customer's status page as JSON (public pages need no token)",
    "security": _OPTIONAL_TOKEN,
    "parameters": [_CUSTOMER],
    "responses": {
        "200": json_response("The status", {"$ref": _REF + "CustomerStatus"}),
        "401": _UNAUTHORIZED,
        "403": FORBIDDEN,
        "404": _NOT_FOUND,
    },
}

_HTML = {"text/html": {"schema": {"type": "string"}}}


def _or_html(response: Mapping[str, Any]) -> dict[str, Any]:
    """An error response that is a small HTML page for clients that accept text/html."""
    return {**response, "content": {**response["content"], **_HTML}}


PATHS: dict[str, Any] = {
    "/status/{customer}": {
        "get": {
            "summary": "A customer's status page (HTML; public pages need no token)",
            "description": "Errors are HTML for clients that accept text/html, else JSON.",
            "security": _OPTIONAL_TOKEN,
            "parameters": [_CUSTOMER],
            "responses": {
                "200": {"description": "The page", "content": _HTML},
                "401": _or_html(_UNAUTHORIZED),
                "403": _or_html(FORBIDDEN),
                "404": _or_html(_NOT_FOUND),
            },
        }
    },
    "/status/{customer}.json": {"get": _JSON_OPERATION},
    "/api/v1/status/{customer}": {"get": _JSON_OPERATION},
}
