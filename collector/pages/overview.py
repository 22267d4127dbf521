"""`GET /` (CONTRACT §8): the operator's overview, admin only.

Every SLA with its verdict (§4.8), availability, error budget left and a sparkline of its period
so far (daily availability); every check with its quorum state and each agent's state and last
sample's age (stale: none for `STALE_INTERVALS` intervals); open alerts; notifications waiting
or given up. `?customer=` and `?state=` filter (links and a form: no script needed); the page
reloads itself every `REFRESH_S` (a few lines of script, `static/refresh.js`).

The model is computed once per `CACHE_S` (sooner when samples arrived, as the status pages':
`StatusCache.generation`, or declared maintenance changed), its rows rendered once, and filtered
per request; a reload finding it stale (up to `STALE_S`) gets it at once while a newer one is
computed behind it. So a reload of 1,000 checks costs the joining of its rows (bench/pages.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from aiohttp import web
from markupsafe import Markup

from slawatch.collector.app import CLOCK, CONFIG, STORE
from slawatch.collector.current import DEFAULT_QUORUM, check_states
from slawatch.collector.engine.periods import current_window, format_instant
from slawatch.collector.engine.sla import Report
from slawatch.collector.engine.states import State
from slawatch.collector.pages import charts
from slawatch.collector.pages.render import TEMPLATES, page
from slawatch.collector.pages.sessions import require_page
from slawatch.collector.reports.formats import percent
from slawatch.collector.reports.shared import SlaSummary, daily_reports, summaries
from slawatch.collector.reports.words import VERDICT_TEXT, measured, span
from slawatch.collector.routing import Route, add_routes
from slawatch.collector.status.cache import STATUS_CACHE
from slawatch.collector.store import DeclaredMaintenance, Notification, OpenAlert, Store
from slawatch.config.schema import Config

log = structlog.get_logger()

CACHE_S = 10.0
FRESH_S = 2.0
STALE_S = 60.0
"""An overview up to this old is answered at once while a newer one is computed behind it."""
REFRESH_S = 30
STALE_INTERVALS = 2
DAY_MS = 86_400_000
WAITING = ("held", "pending")
MAX_NOTIFICATIONS = 20
STATES = ("up", "down", "unknown", "stale")
STATE_TEXT = {"up": "Up", "down": "Down", "unknown": "Unknown"}
STATE_ICON = {"up": "✓", "down": "✕", "unknown": "?"}


@dataclass(frozen=True, slots=True)
class AgentCell:
    agent: str
    state: str
    last_ms: int | None
    stale: bool


@dataclass(frozen=True, slots=True)
class CheckRow:
    id: str
    state: str
    quorum: str
    agents: tuple[AgentCell, ...]
    customers: frozenset[str]

    @property
    def stale(self) -> bool:
        return any(agent.stale for agent in self.agents)


@dataclass(frozen=True, slots=True)
class SlaRow:
    summary: SlaSummary
    days: tuple[float | None, ...]
    """Daily availability of the period so far, oldest first."""


@dataclass(frozen=True, slots=True)
class Overview:
    now_ms: int
    slas: tuple[SlaRow, ...]
    checks: tuple[CheckRow, ...]
    alerts: tuple[OpenAlert, ...]
    waiting: int
    given_up: int
    notifications: tuple[Notification, ...]
    generation: int = 0
    declared: tuple[DeclaredMaintenance, ...] = ()


async def compute(store: Store, config: Config, now_ms: int) -> Overview:
    slas = list(config.slas)
    found = await summaries(store, slas, now_ms)
    days_needed = max(
        (
            math.ceil((now_ms - current_window(s.period, s.timezone, now_ms).from_ms) / DAY_MS) + 1
            for s in slas
        ),
        default=0,
    )
    days = await daily_reports(store, slas, min(days_needed, 32), now_ms)
    sla_rows = tuple(
        SlaRow(summary, _period_days(summary.report, days.get(summary.report.sla.id, [])))
        for summary in found
    )
    states = await check_states(store, config, now_ms)
    last = await store.last_samples()
    intervals = {check.id: check.interval_ms for check in await store.seen_checks()}
    customers: dict[str, set[str]] = {}
    for sla in slas:
        for check in sla.checks:
            customers.setdefault(check, set()).add(sla.customer or "")
    rows = []
    for check_id in sorted(set(states) | {c.id for c in config.checks}):
        current = states.get(check_id)
        interval = intervals.get(check_id)
        cells = []
        for agent, state in current.agents.items() if current else ():
            seen = last.get(check_id, {}).get(agent)
            last_ms = seen.ts_ms if seen else None
            stale = interval is not None and (
                last_ms is None or now_ms - last_ms > STALE_INTERVALS * interval
            )
            cells.append(AgentCell(agent, state.value, last_ms, stale))
        configured = config.check(check_id)
        rows.append(
            CheckRow(
                check_id,
                (current.state if current else State.UNKNOWN).value,
                str(
                    current.quorum
                    if current
                    else (configured.quorum if configured else DEFAULT_QUORUM)
                ),
                tuple(cells),
                frozenset(customers.get(check_id, ())),
            )
        )
    counts = await store.notification_counts()
    listed = await store.notifications(statuses=(*WAITING, "given_up"), limit=MAX_NOTIFICATIONS)
    return Overview(
        now_ms=now_ms,
        slas=sla_rows,
        checks=tuple(rows),
        alerts=tuple(await store.open_alerts()),
        waiting=sum(n for (_, status), n in counts.items() if status in WAITING),
        given_up=sum(n for (_, status), n in counts.items() if status == "given_up"),
        notifications=tuple(listed),
    )


def _period_days(report: Report, days: Sequence[Report]) -> tuple[float | None, ...]:
    start = report.window.from_ms
    return tuple(day.availability for day in days if day.window.from_ms >= start)


@dataclass(frozen=True, slots=True)
class Rows:
    """The overview's table rows as HTML, rendered once per computed overview: a reload then
    costs the joining of the rows its filters keep (a page of 1,000 checks rendered whole took
    200 ms)."""

    slas: dict[str, Markup]
    checks: dict[str, Markup]


@dataclass(slots=True)
class OverviewCache:
    entry: Overview | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rows: tuple[Overview, Rows] | None = None
    refreshing: asyncio.Task[Overview] | None = None

    def rows_of(self, model: Overview) -> Rows:
        if self.rows is None or self.rows[0] is not model:
            macros = TEMPLATES.get_template("overview_rows.html").module
            spark = (charts.SPARK_WIDTH, charts.SPARK_HEIGHT)
            rendered = Rows(
                {row.summary.report.sla.id: Markup(macros.sla_row(sla_view(row), spark))  # type: ignore[attr-defined]
                 for row in model.slas},
                {row.id: Markup(macros.check_row(check_view(row, model.now_ms)))  # type: ignore[attr-defined]
                 for row in model.checks},
            )  # fmt: skip
            self.rows = (model, rendered)
        return self.rows[1]

    async def get(self, app: web.Application, now_ms: int) -> Overview:
        """The overview at `now_ms`: the cached one while it is current; one up to `STALE_S`
        old at once, a newer one being computed behind it (the page says when its figures are
        from); else, or when declared maintenance changed, one computed now."""
        declared = tuple(await app[STORE].declared_maintenance())
        entry = self.entry
        if entry is not None and entry.declared == declared:
            age = now_ms - entry.now_ms
            if self._current(app, entry, now_ms):
                return entry
            if 0 <= age < STALE_S * 1000:
                if self.refreshing is None or self.refreshing.done():
                    self.refreshing = asyncio.create_task(self._refresh(app, now_ms))
                    self.refreshing.add_done_callback(_log_failure)
                return entry
        return await self._refresh(app, now_ms)

    def _current(self, app: web.Application, entry: Overview, now_ms: int) -> bool:
        age = now_ms - entry.now_ms
        fresh = entry.generation == app[STATUS_CACHE].generation or age < FRESH_S * 1000
        return 0 <= age < CACHE_S * 1000 and fresh

    async def _refresh(self, app: web.Application, now_ms: int) -> Overview:
        async with self.lock:
            store = app[STORE]
            declared = tuple(await store.declared_maintenance())
            entry = self.entry
            if (
                entry is not None
                and entry.declared == declared
                and self._current(app, entry, now_ms)
            ):
                return entry
            generation = app[STATUS_CACHE].generation
            computed = await compute(store, app[CONFIG], now_ms)
            entry = replace(computed, generation=generation, declared=declared)
            self.rows_of(entry)
            self.entry = entry
            return entry

    def clear(self) -> None:
        self.entry = None
        self.rows = None

    async def close(self) -> None:
        if self.refreshing is not None and not self.refreshing.done():
            self.refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.refreshing


def _log_failure(task: asyncio.Task[Overview]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("overview_refresh_failed", error=repr(task.exception()))


OVERVIEW_CACHE = web.AppKey("overview_cache", OverviewCache)


# ---------------------------------------------------------------------------- the page


def age(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "never"
    seconds = max(0, (now_ms - ms) // 1000)
    if seconds < 120:
        return f"{seconds} s"
    return span(seconds) if seconds < 86_400 * 400 else "long ago"


def sla_view(row: SlaRow) -> dict[str, Any]:
    report, sla = row.summary.report, row.summary.report.sla
    budget, left = report.error_budget_s, report.error_budget_remaining_s
    return {
        "id": sla.id,
        "name": sla.name,
        "customer": sla.customer or "",
        "verdict": report.verdict,
        "verdict_text": VERDICT_TEXT[report.verdict],
        "availability": None
        if report.availability is None
        else percent(report.availability, floor=True, places=3),
        "availability_value": report.availability,
        "measured": measured(report),
        "objective": percent(sla.objective),
        "budget": "none allowed"
        if budget <= 0
        else (
            f"over by {span(-left)}"
            if left < 0
            else f"{span(left)} of {span(budget)} ({math.floor(100 * left / budget)} %)"
        ),
        "budget_left_s": float(left),
        "state": report.state.value,
        "spark": charts.sparkline(row.days, sla.objective),
        "period": row.summary.period,
    }


def check_view(row: CheckRow, now_ms: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "state_text": STATE_TEXT[row.state],
        "icon": STATE_ICON[row.state],
        "quorum": row.quorum,
        "stale": row.stale,
        "agents": [
            {
                "agent": a.agent,
                "state": a.state,
                "state_text": STATE_TEXT[a.state],
                "icon": STATE_ICON[a.state],
                "age": age(a.last_ms, now_ms),
                "stale": a.stale,
            }
            for a in row.agents
        ],
    }


def _matches(row: CheckRow, customer: str, state: str) -> bool:
    if customer and customer not in row.customers:
        return False
    if state == "stale":
        return row.stale
    return not state or row.state == state


async def overview_page(request: web.Request) -> web.Response:
    require_page(request, "admin")
    app = request.app
    now_ms = round(app[CLOCK]() * 1000)
    model = await app[OVERVIEW_CACHE].get(app, now_ms)
    config = app[CONFIG]
    customer = request.query.get("customer", "")
    state = request.query.get("state", "")
    known_customers = [c.id for c in config.collector.customers] if config.collector else []
    if customer not in ("", *known_customers):
        customer = ""
    if state not in ("", *STATES):
        state = ""
    rows = app[OVERVIEW_CACHE].rows_of(model)
    sla_rows = [
        rows.slas[row.summary.report.sla.id]
        for row in model.slas
        if (not customer or row.summary.report.sla.customer == customer)
        and (not state or state in ("stale", row.summary.report.state.value))
    ]
    check_rows = [rows.checks[row.id] for row in model.checks if _matches(row, customer, state)]
    totals = {s: sum(1 for row in model.checks if row.state == s) for s in STATE_TEXT}
    return page(
        request,
        "overview.html",
        title="Overview",
        refresh_s=REFRESH_S,
        updated=format_instant(model.now_ms),
        sla_rows=sla_rows,
        check_rows=check_rows,
        totals=totals,
        stale_count=sum(1 for row in model.checks if row.stale),
        check_count=len(model.checks),
        alerts=model.alerts,
        waiting=model.waiting,
        given_up=model.given_up,
        notifications=[
            {
                "channel": n.channel,
                "kind": n.kind,
                "status": n.status,
                "subject": n.subject or "",
                "attempts": n.attempts,
                "error": n.last_error or "",
                "created": format_instant(n.created_ms),
            }
            for n in model.notifications
        ],
        customers=known_customers,
        states=STATES,
        customer=customer,
        state=state,
    )


async def _close(app: web.Application) -> None:
    await app[OVERVIEW_CACHE].close()


def setup(app: web.Application) -> None:
    app[OVERVIEW_CACHE] = OverviewCache()
    app.on_cleanup.append(_close)
    add_routes(
        app, (Route("GET", "/", overview_page, "The operator's overview", documented=False),)
    )
