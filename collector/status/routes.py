"""Customer status pages (CONTRACT §3 `GET /status/{customer}`): HTML for people, JSON for tools.

- `GET /status/{customer}`: the page, self-contained HTML under a strict Content-Security-Policy
  (the report's), refreshing itself every minute.
- `GET /status/{customer}.json` and `GET /api/v1/status/{customer}`: the same content as JSON,
  for embedding and monitoring tools. (A customer whose id itself ends in `.json` keeps its page
  at `/status/{id}`; its JSON is at `/api/v1/status/{id}`.)

Who may read: anyone when the customer has `public_status: true`, else the customer's own token
or the admin token, or whoever holds a signed link to the page from an alert
(`slawatch.collector.links`; they get the public view of that very page). Another customer's
token gets the 404 of a customer that does not exist; an agent token, 403; on a public page any
other token is simply not needed (the public view). Links to the printable reports appear only
for the customer and the admin (a report needs a token). On the HTML route a browser (`Accept:
text/html`) gets errors as a small page, API clients as the usual JSON error.

What a page shows is `model`'s, kept a few seconds by `cache`, rendered by `view`.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, TypedDict
from urllib.parse import urlencode

from aiohttp import web

from slawatch.collector import links
from slawatch.collector.app import (
    CLOCK,
    CONFIG,
    CONFIG_LISTENERS,
    INGEST_LISTENERS,
    STORE,
    replace_state,
)
from slawatch.collector.auth import REQUEST_SHARE_KEY
from slawatch.collector.branding import with_logo
from slawatch.collector.engine.verdict import Verdict
from slawatch.collector.errors import ApiError
from slawatch.collector.html import HTML_HEADERS
from slawatch.collector.jsonschema import INLINE, Schema
from slawatch.collector.reports.formats import TEMPLATES
from slawatch.collector.routing import (
    FORBIDDEN,
    SHARE_KEY,
    Id,
    Instant,
    Reply,
    Route,
    add_routes,
    error,
    path_param,
)
from slawatch.collector.status.access import access as _access
from slawatch.collector.status.access import find_customer as _customer
from slawatch.collector.status.cache import STATUS_CACHE, CachedStatus, StatusCache, on_ingest
from slawatch.collector.status.model import BAR_DAYS, INCIDENT_DAYS, MAX_INCIDENTS, OUTAGE_FACTOR
from slawatch.collector.status.view import (
    LEVEL_TEXT,
    OVERALL_TEXT,
    STATE_TEXT,
    Redactor,
    render_page,
    status_to_json,
)
from slawatch.config.schema import Config, Customer

# ------------------------------------------------------------------------------------- routes


def setup(app: web.Application) -> None:
    links.setup(app)
    add_routes(app, ROUTES)
    app[STATUS_CACHE] = StatusCache()
    app[REDACTOR] = Redactor.of(app[CONFIG])
    app[INGEST_LISTENERS].append(on_ingest)
    app[CONFIG_LISTENERS].append(_reloaded)


async def _reloaded(app: web.Application, config: Config) -> None:
    """A new config: pages computed with the old one go, secrets to hide are the new ones'."""
    app[STATUS_CACHE].clear()
    replace_state(app, REDACTOR, Redactor.of(config))


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
    shared = request.get(REQUEST_SHARE_KEY)
    if shared:  # a share link's page: its report links carry the key
        page = render_page(
            cached.status,
            report_links=True,
            redactor=redactor,
            link_query="&" + urlencode({"key": shared}),
        )
    elif "Authorization" not in request.headers and privileged:  # a browser's session
        page = cached.output(
            "html-session",
            privileged,
            lambda: render_page(
                cached.status, report_links=True, redactor=redactor, signed_in=True
            ),
        )
    else:
        page = cached.output(
            "html",
            privileged,
            lambda: render_page(cached.status, report_links=privileged, redactor=redactor),
        )
    headers = with_logo(_HEADERS, customer.brand)
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers=headers)


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


REDACTOR = web.AppKey("status_redactor", Redactor)


# ------------------------------------------------------------------------------------- models


class StatusDay(TypedDict):
    date: Annotated[str, Schema(format="date")]
    from_: Instant
    to: Instant
    level: Annotated[
        str,
        Schema(
            enum=list(LEVEL_TEXT),
            description="the day's colour: operational (objective met), degraded (down up to "
            f"{OUTAGE_FACTOR} times what the objective allows), outage, maintenance (no up or "
            "down time, mostly maintenance), no_data (none, or before the first sample of the "
            "SLA's checks whatever `unknown` makes of that time); today, in progress, by the "
            "availability it can still reach (`projected_availability`)",
        ),
    ]
    availability: float | None
    up_s: float
    down_s: float
    unknown_s: float
    maintenance_s: float
    eligible_s: Annotated[float, Schema(description="measured time: up_s + down_s")]
    partial: Annotated[bool, Schema(description="today, counted up to now")]


class StatusIncident(TypedDict):
    start: Instant
    end: Instant | None
    duration_s: Annotated[float, Schema(minimum=0)]
    run_start: Instant
    run_end: Instant | None
    checks: list[str]
    error: str | None
    summary: Annotated[str, Schema(description="the error in plain words")]


class Uptime(TypedDict):
    days: int
    availability: float | None
    eligible_s: float


class SlaStatus(TypedDict):
    id: str
    name: str
    state: Annotated[str, Schema(enum=list(STATE_TEXT))]
    timezone: str
    period: str
    from_: Instant
    to: Instant
    as_of: Instant
    objective: float
    availability: float | None
    eligible_s: Annotated[float, Schema(description="the measured time the availability stands on")]
    unknown_s: float
    future_s: float
    complete: bool
    projected_availability: float | None
    met: bool | None
    verdict: Annotated[Verdict, Schema(description="CONTRACT §4.8, as in reports")]
    error_budget_s: float
    error_budget_remaining_s: float
    error_budget_remaining_ratio: float | None
    budget_note: Annotated[
        str | None,
        Schema(
            description="why the error budget is smaller than the calendar's (time without "
            "data, such as before monitoring began, is left out); null when it is not"
        ),
    ]
    credit_percent: float
    missing_checks: list[str]
    uptime: Annotated[Uptime, INLINE]
    days: Annotated[
        list[StatusDay],
        Schema(
            description=f"the last {BAR_DAYS} calendar days in the SLA's timezone, oldest first"
        ),
    ]
    open_incidents: list[StatusIncident]
    incidents: Annotated[
        list[StatusIncident],
        Schema(
            description=f"of the last {INCIDENT_DAYS} days, newest first, at most {MAX_INCIDENTS}"
        ),
    ]
    incident_count: Annotated[int, Schema(minimum=0)]
    report: Annotated[
        str | None,
        Schema(
            description="the printable report of the current period; only for the customer's "
            "and the admin token"
        ),
    ]


class CustomerName(TypedDict):
    id: str
    name: str


class MaintenanceNotice(TypedDict):
    slas: list[str]
    start: Instant
    end: Instant
    reason: str
    ongoing: bool
    schedule: Annotated[
        str | None,
        Schema(description="a recurring window's: this is its current or next occurrence"),
    ]


class CustomerStatus(TypedDict):
    customer: Annotated[CustomerName, INLINE]
    provider: str
    updated: Instant
    refresh_s: int
    status: Annotated[str, Schema(enum=list(OVERALL_TEXT))]
    status_text: str
    timezone: str
    slas: list[SlaStatus]
    maintenance: list[Annotated[MaintenanceNotice, INLINE]]


# ------------------------------------------------------------------------------------- routes

CUSTOMER = path_param("customer", Id)
NOT_FOUND = "No such customer (or another customer's token)"
PRIVATE = "A private page without a known token"
JSON_REPLIES = {
    200: Reply("The status", CustomerStatus),
    401: error(PRIVATE),
    404: error(NOT_FOUND),
}
JSON_SUMMARY = "A customer's status page as JSON (public pages need no token)"

ROUTES = (
    Route(
        "GET",
        "/status/{customer}",
        status_page,
        "A customer's status page (HTML; public pages need no token)",
        description="Errors are HTML for clients that accept text/html, else JSON.",
        security="optional",
        parameters=(CUSTOMER, SHARE_KEY, *links.DECLARED),
        replies={
            200: Reply("The page", media=(("text/html", str),)),
            401: error(PRIVATE, html=True),
            403: error(FORBIDDEN.description, html=True),
            404: error(NOT_FOUND, html=True),
        },
    ),
    Route(
        "GET",
        "/status/{customer}.json",
        status_page,
        JSON_SUMMARY,
        security="optional",
        parameters=(CUSTOMER, SHARE_KEY, *links.DECLARED),
        replies=JSON_REPLIES,
        served_by="/status/{customer}",
    ),
    Route(
        "GET",
        "/api/v1/status/{customer}",
        status_json,
        JSON_SUMMARY,
        security="optional",
        parameters=(CUSTOMER, SHARE_KEY, *links.DECLARED),
        replies=JSON_REPLIES,
    ),
)
