"""Badges (CONTRACT §8), shields-style SVG: `GET /badge/{sla}/availability.svg` (the current
period's availability, coloured by its verdict, which the text says too) and
`GET /badge/{sla}/status.svg` (the SLA's state now). Readable by whoever may read the status page
of the SLA's customer: anyone when it is public, else its session, its token, a share link's
`?key=` or the admin. An SLA of no customer's is the admin's only."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from aiohttp import web

from slawatch.collector.app import AUTH, CLOCK, CONFIG, STORE
from slawatch.collector.engine.sla import Report
from slawatch.collector.errors import ApiError
from slawatch.collector.reports.formats import percent
from slawatch.collector.reports.shared import summaries
from slawatch.collector.routing import (
    SHARE_KEY,
    Handler,
    Id,
    Reply,
    Route,
    add_routes,
    error,
    path_param,
)
from slawatch.collector.status.access import access
from slawatch.collector.status.cache import STATUS_CACHE
from slawatch.collector.status.model import sla_state
from slawatch.config.contract import ID_PATTERN

COLOURS = {
    "met": "#1f7a3d",
    "on_track": "#1f7a3d",
    "operational": "#1f7a3d",
    "at_risk": "#9a5b00",
    "breached": "#b3261e",
    "outage": "#b3261e",
    "maintenance": "#1d4ed8",
    "no_data": "#59636e",
}
VERDICT_WORDS = {
    "met": "met",
    "on_track": "on track",
    "at_risk": "at risk",
    "breached": "breached",
    "no_data": "no data",
}
STATE_WORDS = {
    "operational": "operational",
    "outage": "outage",
    "maintenance": "maintenance",
    "no_data": "no data",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def _width(text: str) -> int:
    """Pixels of `text` in 11 px Verdana, near enough (as shields.io estimates)."""
    wide = sum(1 for c in text if c in "mwMW%@")
    return math.ceil(6.2 * len(text) + 2 * wide) + 12


def badge(label: str, value: str, colour: str) -> str:
    left, right = _width(label), _width(value)
    total = left + right
    title = escape(f"{label}: {value}")
    label_text, value_text = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="6" y="14">{label_text}</text>'
        f'<text x="{left + 6}" y="14">{value_text}</text></g></svg>'
    )


async def _status(request: web.Request) -> tuple[Report, str]:
    """The SLA's current-period report and its state now, or 404 as its status page would."""
    app = request.app
    sla_id = request.match_info["sla"]
    config = app[CONFIG]
    sla = config.sla(sla_id) if ID_PATTERN.fullmatch(sla_id) else None
    now_ms = round(app[CLOCK]() * 1000)
    settings = config.collector
    owner = settings.customer(sla.customer) if settings and sla and sla.customer else None
    if sla is not None and owner is not None:
        customer, _ = access(request, owner.id)
        cached = await app[STATUS_CACHE].get(app[STORE], config, customer, now_ms)
        status = next(s for s in cached.status.slas if s.sla.id == sla_id)
        return status.summary.report, status.state
    principal = app[AUTH].of(request)
    if sla is None or principal is None or principal.kind != "admin":
        raise ApiError(404, f"no SLA {sla_id[:128]!r}")
    found = await summaries(app[STORE], [sla], now_ms)
    return found[0].report, sla_state(found[0].report, in_maintenance=False)


async def availability_badge(request: web.Request) -> web.Response:
    report, _ = await _status(request)
    verdict = report.verdict
    words = VERDICT_WORDS[verdict]
    value = (
        words
        if report.availability is None
        else (f"{percent(report.availability, floor=True, places=2)} · {words}")
    )
    return _svg(badge("availability", value, COLOURS[verdict]))


async def status_badge(request: web.Request) -> web.Response:
    _, state = await _status(request)
    return _svg(badge("status", STATE_WORDS[state], COLOURS[state]))


def _svg(text: str) -> web.Response:
    return web.Response(text=text, content_type="image/svg+xml", charset="utf-8", headers=HEADERS)


def setup(app: web.Application) -> None:
    add_routes(app, ROUTES)


def _route(path: str, handler: Handler, summary: str) -> Route:
    return Route(
        "GET",
        path,
        handler,
        summary,
        description="Readable wherever the SLA's customer's status page is: by anyone when it "
        "is public, else with the customer's session or token, a share link's `key`, or the "
        "admin's.",
        security="optional",
        parameters=(path_param("sla", Id), SHARE_KEY),
        replies={
            200: Reply("The badge", media=(("image/svg+xml", str),)),
            404: error("No such SLA (or another customer's)"),
        },
    )


ROUTES = (
    _route(
        "/badge/{sla}/availability.svg",
        availability_badge,
        "The current period's availability as a badge, coloured by verdict",
    ),
    _route("/badge/{sla}/status.svg", status_badge, "The SLA's state now as a badge"),
)
