"""Routes of SLA reports and maintenance (CONTRACT §3, §4.6): summaries, reports, incidents.

- `GET /api/v1/slas`: the caller's SLAs (admin: all; customer: its own), current period each.
- `GET /api/v1/slas/{sla}/report`: §4.6 as JSON, CSV or printable HTML.
- `GET /api/v1/incidents`: incidents of one or every visible SLA, JSON or CSV.
- `POST|GET /api/v1/maintenance`, `DELETE /api/v1/maintenance/{id}`: maintenance declared at
  run time (admin), listed with the config's windows.

A customer asking for an SLA that is not its own gets the 404 of one that does not exist. A
signed link from an alert (`slawatch.collector.links`) reads the HTML report it was made for,
without a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from aiohttp import web

from slawatch.collector import links
from slawatch.collector.admin_actions import MAINTENANCE_ACTIONS, MaintenanceActions
from slawatch.collector.app import AUTH, CONFIG, STORE
from slawatch.collector.auth import UNAUTHORIZED_HEADERS, Principal
from slawatch.collector.bodies import read_small_json
from slawatch.collector.branding import with_logo
from slawatch.collector.engine.periods import format_instant, parse_instant_ms
from slawatch.collector.errors import ApiError
from slawatch.collector.html import HTML_HEADERS
from slawatch.collector.jsonschema import INLINE, Schema
from slawatch.collector.reports import metrics as sla_metrics
from slawatch.collector.reports import models
from slawatch.collector.reports.build import (
    EARLIEST_MS,
    LATEST_MS,
    LatencyCache,
    MaintenanceItem,
    SlaReport,
    maintenance_list,
    rfc3339,
    sla_report,
)
from slawatch.collector.reports.formats import incidents_csv, report_csv, report_page
from slawatch.collector.reports.models import MAX_REASON_CHARS
from slawatch.collector.reports.queries import (
    WINDOW_PARAMETERS,
    find_sla,
    requested_window,
    visible_slas,
)
from slawatch.collector.reports.queries import known_parameters as _known_parameters
from slawatch.collector.reports.queries import now_ms as _now_ms
from slawatch.collector.reports.queries import output_format as _format
from slawatch.collector.reports.shared import summaries
from slawatch.collector.routing import (
    SHARE_KEY,
    Id,
    Reply,
    Route,
    add_routes,
    caller,
    error,
    path_param,
    query_param,
)
from slawatch.collector.store import EXCLUSION_CATEGORIES
from slawatch.collector.store.records import WindowKind
from slawatch.config.schema import Config, Sla

ReportFormat = Literal["json", "csv", "html"]
FORMATS: tuple[str, ...] = get_args(ReportFormat)
REPORT_PARAMETERS = ("period", "from", "to", "format", "key")
"""`key`: a share link's (`slawatch.collector.pages.share`)."""
MAX_MAINTENANCE_DAYS = 366
LATENCY_CACHE = web.AppKey("latency_cache", LatencyCache)


def setup(app: web.Application) -> None:
    links.setup(app)
    add_routes(app, ROUTES)
    app[LATENCY_CACHE] = LatencyCache()
    app[MAINTENANCE_ACTIONS] = MaintenanceActions(maintenance_declared, maintenance_deleted)
    sla_metrics.setup(app)


# --------------------------------------------------------------------------------------- SLAs


async def list_slas(request: web.Request) -> web.Response:
    app = request.app
    principal = caller(request)
    now_ms = _now_ms(request)
    found = await summaries(app[STORE], visible_slas(app[CONFIG], principal), now_ms)
    return web.json_response(
        {"now": format_instant(now_ms), "slas": [summary.to_json() for summary in found]}
    )


async def get_report(request: web.Request) -> web.Response:
    app = request.app
    signature = links.signed(request)
    if signature is None:
        principal = app[AUTH].require(request, "admin", "customer")
        sla = find_sla(app[CONFIG], principal, request.match_info["sla"])
        _known_parameters(request, REPORT_PARAMETERS)
        output = _format(request, FORMATS)
    else:
        sla, output = _signed_report(request, signature), "html"
    now_ms = _now_ms(request)
    window, period = requested_window(request.query, sla, now_ms)
    found = await sla_report(
        app[STORE], sla, window, now_ms, period=period, latency_cache=app[LATENCY_CACHE]
    )
    if output == "csv":
        return _csv(report_csv([found]), _file_name(found, "csv"))
    if output == "html":
        return _html(app[CONFIG], found, now_ms)
    return web.json_response(found.to_json())


def _signed_report(request: web.Request, valid: bool) -> Sla:
    """The SLA of a signed link from an alert (`slawatch.collector.links`): it reads the printable
    report it was made for, never the JSON or CSV one; a wrong or expired link is a 401."""
    if not valid or request.query.get("format") != "html":
        raise ApiError(401, links.REFUSED, headers=UNAUTHORIZED_HEADERS)
    _known_parameters(request, (*REPORT_PARAMETERS, *links.PARAMETERS))
    sla = request.app[CONFIG].sla(request.match_info["sla"])
    if sla is None:  # signed, then removed from the config
        raise ApiError(404, f"no SLA {request.match_info['sla'][:128]!r}")
    return sla


async def list_incidents(request: web.Request) -> web.Response:
    app = request.app
    principal = caller(request)
    _known_parameters(request, ("sla", "period", "from", "to", "format"))
    output = _format(request, ("json", "csv"))
    slas = _asked_slas(request, principal)
    now_ms = _now_ms(request)
    found: list[SlaReport] = []
    for sla in slas:
        window, period = requested_window(request.query, sla, now_ms)
        found.append(
            await sla_report(app[STORE], sla, window, now_ms, period=period, latency=False)
        )
    if output == "csv":
        return _csv(incidents_csv(found), "incidents.csv")
    incidents = [
        {"sla": r.report.sla.id, "customer": r.report.sla.customer, "name": r.report.sla.name,
         **incident.to_json()}
        for r in found
        for incident in r.report.incidents
    ]  # fmt: skip
    windows = [
        {
            "sla": r.report.sla.id,
            "period": r.period,
            "from": format_instant(r.report.window.from_ms),
            "to": format_instant(r.report.window.to_ms),
            "as_of": format_instant(r.report.stated_as_of_ms),
        }
        for r in found
    ]
    return web.json_response({"incidents": incidents, "windows": windows})


# -------------------------------------------------------------------------------- maintenance


@dataclass(frozen=True, slots=True)
class Declaration:
    slas: tuple[str, ...]
    start_ms: int
    end_ms: int
    reason: str
    kind: WindowKind = "maintenance"
    category: str | None = None


async def declare_maintenance(request: web.Request) -> web.Response:
    app = request.app
    principal = caller(request)
    document = await read_small_json(request)
    return await maintenance_declared(app, document, _now_ms(request), principal)


async def maintenance_declared(
    app: web.Application, document: Any, now_ms: int, principal: Principal
) -> web.Response:
    """Store the window a request body declares, audited as `principal`'s: the API's answer
    (the pages' admin form takes this path too)."""
    declaration = parse_declaration(document, app[CONFIG])
    stored = await app[STORE].add_maintenance(
        declaration.slas,
        declaration.start_ms,
        declaration.end_ms,
        declaration.reason,
        created_ms=now_ms,
        kind=declaration.kind,
        category=declaration.category,
        principal=(principal.kind, principal.id),
    )
    sla_metrics.invalidate(app)
    return web.json_response(
        MaintenanceItem.of_declared(stored).to_json(),
        status=201,
        headers={"Location": f"/api/v1/maintenance/{stored.id}"},
    )


def parse_declaration(document: Any, config: Config) -> Declaration:
    """A declared window from a request body, or a 400 naming every bad field."""
    if not isinstance(document, dict):
        raise ApiError(400, "body must be a JSON object", [_problem("", "must be an object")])
    problems: list[dict[str, str]] = []
    slas = _declared_slas(document, config, problems)
    start = _instant(document, "start", problems)
    end = _instant(document, "end", problems)
    if start is not None and end is not None:
        if end <= start:
            problems.append(_problem("end", "must be after start"))
        elif end - start > MAX_MAINTENANCE_DAYS * 86_400_000:
            problems.append(_problem("end", f"a window lasts at most {MAX_MAINTENANCE_DAYS} days"))
    reason = document.get("reason", "")
    if reason is None:
        reason = ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        problems.append(
            _problem("reason", f"must be a text of at most {MAX_REASON_CHARS} characters")
        )
    kind, category = _kind_and_category(document, reason, problems)
    if problems or start is None or end is None:
        raise ApiError(400, "invalid maintenance window: nothing was stored", problems)
    return Declaration(tuple(slas), start, end, reason, kind, category)


def _kind_and_category(
    document: Mapping[str, Any], reason: Any, problems: list[dict[str, str]]
) -> tuple[WindowKind, str | None]:
    """`kind` (maintenance, the default, or exclusion) and an exclusion's `category`; an
    exclusion needs a reason and a category (CONTRACT §7)."""
    kind = document.get("kind", "maintenance")
    category = document.get("category")
    if kind not in ("maintenance", "exclusion"):
        problems.append(_problem("kind", "must be maintenance or exclusion"))
        return "maintenance", None
    if kind == "maintenance":
        if category is not None:
            problems.append(_problem("category", "only an exclusion has a category"))
        return "maintenance", None
    if isinstance(reason, str) and not reason.strip():  # a reason of another type is named above
        problems.append(_problem("reason", "an exclusion needs a reason"))
    if category not in EXCLUSION_CATEGORIES:
        problems.append(_problem("category", f"must be one of {', '.join(EXCLUSION_CATEGORIES)}"))
        return "exclusion", None
    return "exclusion", category


def _declared_slas(
    document: Mapping[str, Any], config: Config, problems: list[dict[str, str]]
) -> list[str]:
    if ("sla" in document) == ("slas" in document):
        problems.append(_problem("sla", "give either sla (one id) or slas (a list of ids)"))
        return []
    if "sla" in document:
        named, field = [document["sla"]], "sla"
        if not isinstance(document["sla"], str):
            problems.append(_problem("sla", "must be an SLA id"))
            return []
    else:
        named, field = document["slas"], "slas"
        if not isinstance(named, list) or not named or len(named) > len(config.slas):
            problems.append(_problem("slas", "must be a list of one or more SLA ids"))
            return []
    found = []
    for index, sla_id in enumerate(named):
        where = field if field == "sla" else f"slas[{index}]"
        if not isinstance(sla_id, str):
            problems.append(_problem(where, "must be an SLA id"))
        elif config.sla(sla_id) is None:
            problems.append(_problem(where, f"no SLA {sla_id[:128]!r} in the config"))
        else:
            found.append(sla_id)
    return found


def _instant(document: Mapping[str, Any], field: str, problems: list[dict[str, str]]) -> int | None:
    value = document.get(field)
    if value is None:
        problems.append(_problem(field, "is required"))
        return None
    if not isinstance(value, str):
        problems.append(_problem(field, "must be an RFC 3339 time with an offset"))
        return None
    try:
        instant = parse_instant_ms(rfc3339(value, field), field)
    except ValueError as error:
        problems.append(_problem(field, str(error).removeprefix(f"{field}: ")))
        return None
    if not EARLIEST_MS <= instant < LATEST_MS:
        problems.append(_problem(field, "must be in the years 1970 to 9998"))
        return None
    return instant


def _problem(field: str, error: str) -> dict[str, str]:
    return {"field": field, "error": error}


def _asked_slas(request: web.Request, principal: Principal) -> list[Sla]:
    """The SLA of `?sla=` (404 when the caller may not see it), or every SLA it may see."""
    config = request.app[CONFIG]
    sla_id = request.query.get("sla")
    return (
        visible_slas(config, principal) if sla_id is None else [find_sla(config, principal, sla_id)]
    )


async def list_maintenance(request: web.Request) -> web.Response:
    app = request.app
    principal = caller(request)
    _known_parameters(request, ("sla", "period", "from", "to"))
    slas = _asked_slas(request, principal)
    now_ms = _now_ms(request)
    asked = "from" in request.query or "to" in request.query or "period" in request.query
    windows = {sla.id: requested_window(request.query, sla, now_ms)[0] for sla in slas}
    items = await maintenance_list(app[STORE], slas, windows, now_ms, upcoming=not asked)
    return web.json_response({"maintenance": [item.to_json() for item in items]})


async def delete_maintenance(request: web.Request) -> web.Response:
    app = request.app
    principal = caller(request)
    return await maintenance_deleted(app, request.match_info["id"], _now_ms(request), principal)


async def maintenance_deleted(
    app: web.Application, text: str, now_ms: int, principal: Principal
) -> web.Response:
    """Delete a declared window by its id as the path gives it, audited as `principal`'s:
    the API's answer."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ApiError(404, f"no declared maintenance window {text[:32]!r}")
    deleted = await app[STORE].delete_maintenance(
        int(text), at_ms=now_ms, principal=(principal.kind, principal.id)
    )
    if not deleted:
        raise ApiError(404, f"no declared maintenance window {int(text)}")
    sla_metrics.invalidate(app)
    return web.Response(status=204)


# ------------------------------------------------------------------------------------ helpers


def _file_name(found: SlaReport, extension: str) -> str:
    window = found.report.window
    if found.period is not None:
        span = found.period
    else:
        span = f"{_compact(window.from_ms)}-{_compact(window.to_ms)}"
    return f"{found.report.sla.id}-{span}.{extension}"


def _compact(ms: int) -> str:
    return format_instant(ms).replace("-", "").replace(":", "").replace(".", "")


def _csv(text: str, file_name: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{file_name}"'},
    )


def _html(config: Config, found: SlaReport, now_ms: int) -> web.Response:
    page = report_page(found, config, now_ms)
    settings, customer_id = config.collector, found.report.sla.customer
    customer = settings.customer(customer_id) if settings and customer_id else None
    headers = with_logo(HTML_HEADERS, customer.brand if customer else None)
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers=headers)


# ------------------------------------------------------------------------------------- routes

SLA = path_param("sla", Id)
SLA_FILTER = query_param("sla", Id, "Only this SLA (default: every SLA the caller may see)")
NOT_FOUND = error("No such SLA (or not the caller's)")
BAD_WINDOW = error("Bad period, from/to or format")
CSV = ("text/csv", str)

ROUTES = (
    Route(
        "GET",
        "/api/v1/slas",
        list_slas,
        "The caller's SLAs (admin: all; customer: its own), current period each",
        scopes=("admin", "customer"),
        replies={200: Reply("Summaries", Annotated[models.SlaList, INLINE])},
    ),
    Route(
        "GET",
        "/api/v1/slas/{sla}/report",
        get_report,
        "The report of an SLA over a period or window (CONTRACT §4.6)",
        parameters=(
            SLA,
            *WINDOW_PARAMETERS,
            query_param("format", Annotated[ReportFormat, Schema(default="json")]),
            SHARE_KEY,
            *links.DECLARED,
        ),
        replies={
            200: Reply(
                "The report as JSON, CSV (one row) or a printable HTML page",
                models.Report,
                (CSV, ("text/html", str)),
            ),
            400: BAD_WINDOW,
            404: NOT_FOUND,
        },
    ),
    Route(
        "GET",
        "/api/v1/incidents",
        list_incidents,
        "Incidents (CONTRACT §4.5) of one or every visible SLA, each over its window (default: "
        "its current period)",
        scopes=("admin", "customer"),
        parameters=(
            SLA_FILTER,
            *WINDOW_PARAMETERS,
            query_param("format", Annotated[Literal["json", "csv"], Schema(default="json")]),
        ),
        replies={
            200: Reply(
                "Incidents, by SLA then start; CSV: one row per incident",
                Annotated[models.IncidentList, INLINE],
                (CSV,),
            ),
            400: BAD_WINDOW,
            404: NOT_FOUND,
        },
    ),
    Route(
        "POST",
        "/api/v1/maintenance",
        declare_maintenance,
        "Declare a maintenance window for one or more SLAs (admin)",
        scopes=("admin",),
        body=models.MaintenanceDeclaration,
        replies={
            201: Reply("Stored", models.MaintenanceWindow),
            400: error("Invalid window, naming each bad field; nothing stored"),
            413: error("Body over 64 KiB"),
        },
    ),
    Route(
        "GET",
        "/api/v1/maintenance",
        list_maintenance,
        "Maintenance windows, declared and from the config (expanded over the window); without "
        "a window: each SLA's current period, and every declared window not yet over",
        scopes=("admin", "customer"),
        parameters=(SLA_FILTER, *WINDOW_PARAMETERS),
        replies={
            200: Reply("Windows by start", Annotated[models.MaintenanceList, INLINE]),
            400: BAD_WINDOW,
            404: NOT_FOUND,
        },
    ),
    Route(
        "DELETE",
        "/api/v1/maintenance/{id}",
        delete_maintenance,
        "Delete a declared maintenance window (admin)",
        scopes=("admin",),
        parameters=(path_param("id", int),),
        replies={204: Reply("Deleted"), 404: error("No declared window with this id")},
    ),
)
