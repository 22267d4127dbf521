"""`GET /checks/{id}` (CONTRACT §8), admin only: one check's state per agent now, its response
time over 24 h (from raw samples, half-hour buckets) and 7 d (from the hourly histograms, 4-hour
buckets) as p50/p95, the phases of its last samples, its incidents of the last 7 days (under its
own quorum, as its alerts judge it) with their errors in plain words, and the TLS expiry its
agents last saw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from slawatch.collector.app import CLOCK, CONFIG, STORE
from slawatch.collector.current import DEFAULT_QUORUM, check_states
from slawatch.collector.engine.latency import RankedLatencies
from slawatch.collector.engine.periods import Window, format_instant
from slawatch.collector.engine.states import State
from slawatch.collector.pages import charts
from slawatch.collector.pages.overview import STALE_INTERVALS, STATE_ICON, STATE_TEXT, age
from slawatch.collector.pages.render import message, page
from slawatch.collector.pages.sessions import require_page
from slawatch.collector.reports.shared import window_reports
from slawatch.collector.reports.words import span
from slawatch.collector.routing import Route, add_routes
from slawatch.collector.status.view import Redactor, plain_error
from slawatch.config.contract import ID_PATTERN
from slawatch.config.schema import Sla

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DAY_BUCKET_MS = HOUR_MS // 2
WEEK_BUCKET_MS = 4 * HOUR_MS
MAX_DAY_SAMPLES = 100_000
PHASES = ("dns", "connect", "tls", "ttfb", "transfer")
LAST_SAMPLES = 10
MAX_INCIDENTS = 50


@dataclass(frozen=True, slots=True)
class PhaseRow:
    agent: str
    ts_ms: int
    ok: bool
    latency_ms: float | None
    phases: tuple[float | None, ...]
    error: str | None


async def check_page(request: web.Request) -> web.Response:
    require_page(request, "admin")
    app = request.app
    check_id = request.match_info["id"]
    config, store = app[CONFIG], app[STORE]
    now_ms = round(app[CLOCK]() * 1000)
    states = await check_states(store, config, now_ms)
    configured = config.check(check_id) if ID_PATTERN.fullmatch(check_id) else None
    current = states.get(check_id)
    if current is None and configured is None:
        return message(
            request,
            404,
            "No such check",
            f"No check {check_id[:128]!r} is configured or has sent samples.",
            home="/",
        )
    seen = {c.id: c for c in await store.seen_checks()}.get(check_id)
    interval = seen.interval_ms if seen else None
    last = (await store.last_samples()).get(check_id, {})
    labels = {agent.id: dict(agent.labels) for agent in await store.seen_agents()}
    day = await store.check_samples(check_id, now_ms - DAY_MS, now_ms + 1, MAX_DAY_SAMPLES)
    agents = []
    for agent, state in current.agents.items() if current else ():
        sample = last.get(agent)
        last_ms = sample.ts_ms if sample else None
        stale = interval is not None and (
            last_ms is None or now_ms - last_ms > STALE_INTERVALS * interval
        )
        run = current.runs.get(agent) if current else None
        agents.append(
            {
                "agent": agent,
                "labels": ", ".join(f"{k}={v}" for k, v in sorted(labels.get(agent, {}).items())),
                "state": state.value,
                "state_text": STATE_TEXT[state.value],
                "icon": STATE_ICON[state.value],
                "age": age(last_ms, now_ms),
                "stale": stale,
                "since": format_instant(run.start_ms) if run else None,
                "error": plain_error(sample.error) if sample and not sample.ok else None,
                "latency": None
                if sample is None or sample.latency_ms is None
                else f"{sample.latency_ms:.1f} ms",
            }
        )
    redactor = Redactor.of(config)
    quorum = current.quorum if current else (configured.quorum if configured else DEFAULT_QUORUM)
    incidents = await _incidents(app, check_id, quorum, now_ms)
    tls = [s.tls_expires for _, s in day if s.tls_expires is not None]
    state_now = (current.state if current else State.UNKNOWN).value
    return page(
        request,
        "check.html",
        title=f"Check {check_id}",
        refresh_s=60,
        check=check_id,
        state=state_now,
        state_text=STATE_TEXT[state_now],
        icon=STATE_ICON[state_now],
        quorum=str(quorum),
        interval=span(interval / 1000) if interval else "unknown",
        agents=agents,
        day=charts.latency_chart(_day_buckets([s for _, s in day], now_ms)),
        week=charts.latency_chart(await _week_buckets(app, check_id, now_ms)),
        chart_size=(charts.CHART_WIDTH, charts.CHART_HEIGHT),
        phases=[_phase_view(agent, s) for agent, s in day[:LAST_SAMPLES]],
        phase_names=PHASES,
        incidents=[
            {
                "start": format_instant(i.start_ms),
                "end": None if i.end_ms is None else format_instant(i.end_ms),
                "duration": span(i.duration_ms / 1000),
                "words": plain_error(i.error),
                "error": redactor(i.error) if i.error else "",
            }
            for i in incidents
        ],
        tls=_tls_view(max(tls) if tls else None, now_ms),
    )


def _day_buckets(samples: list[Any], now_ms: int) -> list[tuple[float | None, float | None]]:
    start = now_ms - DAY_MS
    buckets: list[list[float]] = [[] for _ in range(DAY_MS // DAY_BUCKET_MS)]
    for sample in samples:
        if sample.ok and sample.latency_ms is not None and sample.ts_ms >= start:
            index = min((sample.ts_ms - start) // DAY_BUCKET_MS, len(buckets) - 1)
            buckets[index].append(sample.latency_ms)
    rows = []
    for values in buckets:
        values.sort()
        rows.append((charts.percentile(values, 50), charts.percentile(values, 95)))
    return rows


async def _week_buckets(
    app: web.Application, check_id: str, now_ms: int
) -> list[tuple[float | None, float | None]]:
    end = now_ms - now_ms % HOUR_MS + HOUR_MS
    start = end - 7 * DAY_MS
    rows = []
    for bucket_start in range(start, end, WEEK_BUCKET_MS):
        histogram = await app[STORE].latency_histograms(
            [check_id], bucket_start, bucket_start + WEEK_BUCKET_MS
        )
        ranked = RankedLatencies.of((), histogram)
        p50, p95 = ranked.at(50), ranked.at(95)
        rows.append((p50[0] if p50 else None, p95[0] if p95 else None))
    return rows


async def _incidents(app: web.Application, check_id: str, quorum: Any, now_ms: int) -> list[Any]:
    alone = Sla(id=check_id, name=check_id, checks=(check_id,), objective=99.9, quorum=quorum)
    reports = await window_reports(app[STORE], [alone], Window(now_ms - 7 * DAY_MS, now_ms), now_ms)
    found = sorted(reports[check_id].incidents, key=lambda i: i.run_start_ms, reverse=True)
    return found[:MAX_INCIDENTS]


def _phase_view(agent: str, sample: Any) -> dict[str, Any]:
    values = [getattr(sample, f"{name}_us") for name in PHASES]
    phases = [None if v is None else v / 1000 for v in values]
    total = sum(p for p in phases if p) or 0.0
    widths, offset = [], 0.0
    for value in phases:
        width = 0.0 if not value or not total else 100 * value / total
        widths.append((round(offset, 2), round(width, 2)))
        offset += width
    return {
        "agent": agent,
        "ts": format_instant(sample.ts_ms),
        "ok": sample.ok,
        "latency": None if sample.latency_ms is None else f"{sample.latency_ms:.1f}",
        "phases": ["–" if p is None else f"{p:.1f}" for p in phases],
        "bars": widths,
    }


def _tls_view(expires: float | None, now_ms: int) -> dict[str, Any] | None:
    if expires is None:
        return None
    days = (expires * 1000 - now_ms) / DAY_MS
    return {
        "expires": format_instant(round(expires * 1000)),
        "days": int(days),
        "soon": days < 14,
    }


def setup(app: web.Application) -> None:
    add_routes(app, (Route("GET", "/checks/{id}", check_page, "A check's page", documented=False),))
