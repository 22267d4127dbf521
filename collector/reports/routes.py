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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from slawatch.collector import links, openapi
from slawatch.collector.app import AUTH, CLOCK, CONFIG, STORE, read_small_json
from slawatch.collector.auth import UNAUTHORIZED_HEADERS, Principal
from slawatch.collector.engine.periods import Window, format_instant, parse_instant_ms
from slawatch.collector.engine.verdict import VERDICTS
from slawatch.collector.errors import ApiError
from slawatch.collector.html import HTML_HEADERS
from slawatch.collector.openapi import FORBIDDEN, UNAUTHORIZED, error_response, json_response
from slawatch.collector.reports import metrics as sla_metrics
from slawatch.collector.reports.build import (
    EARLIEST_MS,
    LATEST_MS,
    LatencyCache,
    MaintenanceItem,
    SlaReport,
    maintenance_list,
    report_window,
    rfc3339,
    sla_report,
    summaries,
)
from slawatch.collector.reports.formats import incidents_csv, report_csv, report_page
from slawatch.config.schema import Config, Sla

FORMATS = ("json", "csv", "html")
REPORT_PARAMETERS = ("period", "from", "to", "format")
MAX_MAINTENANCE_DAYS = 366
MAX_REASON_CHARS = 1000
LATENCY_CACHE = web.AppKey("latency_cache", LatencyCache)


def setup(app: web.Application) -> None:
    links.setup(app)
    app.router.add_get("/api/v1/slas", list_slas)
    app.router.add_get("/api/v1/slas/{sla}/report", get_report)
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_post("/api/v1/maintenance", declare_maintenance)
    app.router.add_get("/api/v1/maintenance", list_maintenance)
    app.router.add_delete("/api/v1/maintenance/{id}", delete_maintenance)
    app[LATENCY_CACHE] = LatencyCache()
    openapi.document(app).add(PATHS, SCHEMAS)
    sla_metrics.setup(app)


# --------------------------------------------------------------------------------------- SLAs


async def list_slas(request: web.Request) -> web.Response:
    app = request.app
    principal = app[AUTH].require(request, "admin", "customer")
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
    principal = app[AUTH].require(request, "admin", "customer")
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


async def declare_maintenance(request: web.Request) -> web.Response:
    app = request.app
    app[AUTH].require(request, "admin")
    declaration = parse_declaration(await read_small_json(request), app[CONFIG])
    stored = await app[STORE].add_maintenance(
        declaration.slas,
        declaration.start_ms,
        declaration.end_ms,
        declaration.reason,
        created_ms=_now_ms(request),
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
    if problems or start is None or end is None:
        raise ApiError(400, "invalid maintenance window: nothing was stored", problems)
    return Declaration(tuple(slas), start, end, reason)


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
    principal = app[AUTH].require(request, "admin", "customer")
    _known_parameters(request, ("sla", "period", "from", "to"))
    slas = _asked_slas(request, principal)
    now_ms = _now_ms(request)
    asked = "from" in request.query or "to" in request.query or "period" in request.query
    windows = {sla.id: requested_window(request.query, sla, now_ms)[0] for sla in slas}
    items = await maintenance_list(app[STORE], slas, windows, now_ms, upcoming=not asked)
    return web.json_response({"maintenance": [item.to_json() for item in items]})


async def delete_maintenance(request: web.Request) -> web.Response:
    app = request.app
    app[AUTH].require(request, "admin")
    text = request.match_info["id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ApiError(404, f"no declared maintenance window {text[:32]!r}")
    if not await app[STORE].delete_maintenance(int(text)):
        raise ApiError(404, f"no declared maintenance window {int(text)}")
    sla_metrics.invalidate(app)
    return web.Response(status=204)


# ------------------------------------------------------------------------------------ helpers


def visible_slas(config: Config, principal: Principal) -> list[Sla]:
    if principal.kind == "admin":
        return list(config.slas)
    return [sla for sla in config.slas if sla.customer == principal.id]


def find_sla(config: Config, principal: Principal, sla_id: str) -> Sla:
    """The SLA if the caller may see it; else 404, the same whether it exists or not."""
    sla = config.sla(sla_id)
    if sla is None or (principal.kind != "admin" and sla.customer != principal.id):
        raise ApiError(404, f"no SLA {sla_id[:128]!r}")
    return sla


def requested_window(query: Mapping[str, str], sla: Sla, now_ms: int) -> tuple[Window, str | None]:
    """`report_window` of the query's `period`, `from` and `to`; 400 with its message."""
    try:
        return report_window(
            sla, now_ms, period=query.get("period"), from_text=query.get("from"),
            to_text=query.get("to"),
        )  # fmt: skip
    except ValueError as error:
        raise ApiError(400, str(error)) from None


def _known_parameters(request: web.Request, known: Sequence[str]) -> None:
    """400 for a query parameter the route does not know: a misspelt `perod=2026-10` must not
    quietly give the report of another period."""
    unknown = sorted(set(request.query) - set(known))
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter {unknown[0][:64]!r}: this route takes {', '.join(known)}",
            [{"field": name[:64], "error": "unknown parameter"} for name in unknown[:10]],
        )


def _format(request: web.Request, allowed: Sequence[str]) -> str:
    output = request.query.get("format", "json")
    if output not in allowed:
        raise ApiError(400, f"format: must be {', '.join(allowed[:-1])} or {allowed[-1]}")
    return output


def _now_ms(request: web.Request) -> int:
    now = request.app[CLOCK]()
    if not math.isfinite(now):
        raise ApiError(500, "the collector's clock is not a number")
    return round(now * 1000)


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
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers=HTML_HEADERS)


# ------------------------------------------------------------------------------------ OpenAPI

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


NULLABLE_NUMBER = {"type": ["number", "null"]}
INSTANT = {"type": "string", "format": "date-time"}
NULLABLE_INSTANT = {"type": ["string", "null"], "format": "date-time"}
_YEAR = r"(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
PERIOD_PATTERN = (
    rf"^{_YEAR}-(0[1-9]|1[0-2])$"
    rf"|^{_YEAR}-[Ww](0[1-9]|[1-4][0-9]|5[0-3])$"
    rf"|^{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
)
"""The forms and ranges of `period`; a day or ISO week the calendar does not have (2026-02-30,
2026-W54 is out of range anyway, 2025-W53) matches and is refused with a 400."""

WINDOW_PARAMETERS = [
    {
        "name": "period",
        "in": "query",
        "required": False,
        "description": "A calendar period in the SLA's timezone: 2026-11 (month), 2026-W47 (ISO "
        "week) or 2026-11-27 (day). Not with from/to. Default: the SLA's current period.",
        "schema": {"type": "string", "pattern": PERIOD_PATTERN},
    },
    {
        "name": "from",
        "in": "query",
        "required": False,
        "description": "Window start, RFC 3339 with an offset; with `to`",
        "schema": INSTANT,
    },
    {
        "name": "to",
        "in": "query",
        "required": False,
        "description": "Window end, RFC 3339 with an offset, after `from`; with `from`",
        "schema": INSTANT,
    },
]
SLA_FILTER = {
    "name": "sla",
    "in": "query",
    "required": False,
    "description": "Only this SLA (default: every SLA the caller may see)",
    "schema": {"type": "string", "pattern": openapi.ID_REGEX},
}
NOT_FOUND = error_response("No such SLA (or not the caller's)")
BAD_WINDOW = error_response("Bad period, from/to or format")

REPORT_FIELDS = [
    "sla", "customer", "name", "from", "to", "as_of", "objective", "up_s", "down_s",
    "unknown_s", "maintenance_s", "eligible_s", "availability", "met", "error_budget_s",
    "error_budget_remaining_s", "credit_percent", "latency", "incidents", "missing_checks",
    "complete", "future_s", "projected_availability", "verdict",
]  # fmt: skip
SUMMARY_FIELDS = [
    "id", "name", "customer", "objective", "period", "from", "to", "as_of", "availability",
    "met", "error_budget_s", "error_budget_remaining_s", "error_budget_remaining_ratio",
    "credit_percent", "state", "open_incident", "missing_checks", "complete", "future_s",
    "projected_availability", "verdict",
]  # fmt: skip

FIGURES: dict[str, Any] = {
    "from": INSTANT,
    "to": INSTANT,
    "as_of": INSTANT,
    "objective": {"type": "number"},
    "up_s": {"type": "number"},
    "down_s": {"type": "number"},
    "unknown_s": {"type": "number"},
    "maintenance_s": {"type": "number"},
    "eligible_s": {"type": "number"},
    "availability": NULLABLE_NUMBER,
    "met": {"type": ["boolean", "null"]},
    "error_budget_s": {"type": "number"},
    "error_budget_remaining_s": {"type": "number"},
    "credit_percent": {
        "type": "number",
        "description": "complete: the tier of `availability`; in progress: the tier of "
        "`projected_availability`, the credit already certain (§4.8)",
    },
    "missing_checks": {"type": "array", "items": {"type": "string"}},
    "complete": {"type": "boolean", "description": "`as_of` is `to`: the window is over"},
    "future_s": {
        "type": "number",
        "description": "the window after `as_of`, less its maintenance: what the error budget "
        "and the projection count as still to come",
    },
    "projected_availability": {
        **NULLABLE_NUMBER,
        "description": "100 · (up_s + future_s) / (eligible_s + future_s): the availability if "
        "the rest of the window is up; `availability` once complete",
    },
    "verdict": {
        "enum": list(VERDICTS),
        "description": "complete: met | breached (by `availability`); in progress: on_track "
        "(at least 25 % of the error budget left), at_risk (less), breached (budget overspent: "
        "the objective can no longer be met); no_data when both availabilities are null",
    },
}
"""`Report.figures_json`: the properties a report and an SLA's summary share."""

SCHEMAS: dict[str, Any] = {
    "Incident": {
        "type": "object",
        "required": ["start", "end", "duration_s", "run_start", "run_end", "checks", "error"],
        "properties": {
            "start": INSTANT,
            "end": {**NULLABLE_INSTANT, "description": "null while the outage goes on now"},
            "duration_s": {"type": "number", "minimum": 0},
            "run_start": INSTANT,
            "run_end": NULLABLE_INSTANT,
            "checks": {"type": "array", "items": {"type": "string"}},
            "error": {"type": ["string", "null"]},
        },
    },
    "Latency": {
        "type": "object",
        "required": ["count", "p50_ms", "p95_ms", "p99_ms", "objective_ms", "met"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "p50_ms": NULLABLE_NUMBER,
            "p95_ms": NULLABLE_NUMBER,
            "p99_ms": NULLABLE_NUMBER,
            "objective_ms": NULLABLE_NUMBER,
            "objective_percentile": NULLABLE_NUMBER,
            "met": {"type": ["boolean", "null"]},
        },
    },
    "MaintenanceWindow": {
        "type": "object",
        "required": ["id", "source", "slas", "start", "end", "reason"],
        "properties": {
            "id": {"type": ["integer", "null"], "description": "null for a config window"},
            "source": {"enum": ["declared", "config"]},
            "slas": {"type": "array", "items": {"type": "string"}},
            "start": INSTANT,
            "end": INSTANT,
            "duration_s": {"type": "number"},
            "reason": {"type": "string"},
            "created": NULLABLE_INSTANT,
        },
    },
    "MaintenanceDeclaration": {
        "type": "object",
        "required": ["start", "end"],
        "description": "Exactly one of `sla` and `slas`. `end` after `start`, at most 366 days.",
        "properties": {
            "sla": {"type": "string", "pattern": openapi.ID_REGEX},
            "slas": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "pattern": openapi.ID_REGEX},
            },
            "start": INSTANT,
            "end": INSTANT,
            "reason": {"type": ["string", "null"], "maxLength": MAX_REASON_CHARS},
        },
    },
    "Report": {
        "type": "object",
        "description": "CONTRACT §4.6",
        "required": REPORT_FIELDS,
        "properties": {
            "sla": {"type": "string"},
            "customer": {"type": ["string", "null"]},
            "name": {"type": "string"},
            "period": {"type": ["string", "null"]},
            **FIGURES,
            "latency": _ref("Latency"),
            "incidents": {"type": "array", "items": _ref("Incident")},
            "maintenance": {"type": "array", "items": _ref("MaintenanceWindow")},
        },
    },
    "SlaSummary": {
        "type": "object",
        "required": SUMMARY_FIELDS,
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "customer": {"type": ["string", "null"]},
            "period": {"type": "string"},
            **FIGURES,
            "error_budget_remaining_ratio": NULLABLE_NUMBER,
            "state": {"enum": ["up", "down", "unknown"]},
            "open_incident": {"oneOf": [{"type": "null"}, _ref("Incident")]},
        },
    },
}

CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
PATHS: dict[str, Any] = {
    "/api/v1/slas": {
        "get": {
            "summary": "The caller's SLAs (admin: all; customer: its own), current period each",
            "responses": {
                "200": json_response(
                    "Summaries",
                    {
                        "type": "object",
                        "required": ["now", "slas"],
                        "properties": {
                            "now": INSTANT,
                            "slas": {"type": "array", "items": _ref("SlaSummary")},
                        },
                    },
                ),
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
            },
        }
    },
    "/api/v1/slas/{sla}/report": {
        "get": {
            "summary": "The report of an SLA over a period or window (CONTRACT §4.6)",
            "parameters": [
                {
                    "name": "sla",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": openapi.ID_REGEX},
                },
                *WINDOW_PARAMETERS,
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": list(FORMATS), "default": "json"},
                },
            ],
            "responses": {
                "200": {
                    "description": "The report as JSON, CSV (one row) or a printable HTML page",
                    "content": {
                        "application/json": {"schema": _ref("Report")},
                        **CSV_CONTENT,
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
                "400": BAD_WINDOW,
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": NOT_FOUND,
            },
        }
    },
    "/api/v1/incidents": {
        "get": {
            "summary": "Incidents (CONTRACT §4.5) of one or every visible SLA, each over its "
            "window (default: its current period)",
            "parameters": [
                SLA_FILTER,
                *WINDOW_PARAMETERS,
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["json", "csv"], "default": "json"},
                },
            ],
            "responses": {
                "200": {
                    "description": "Incidents, by SLA then start; CSV: one row per incident",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["incidents", "windows"],
                                "properties": {
                                    "incidents": {
                                        "type": "array",
                                        "items": {
                                            "allOf": [
                                                _ref("Incident"),
                                                {
                                                    "type": "object",
                                                    "required": ["sla"],
                                                    "properties": {"sla": {"type": "string"}},
                                                },
                                            ]
                                        },
                                    },
                                    "windows": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        },
                        **CSV_CONTENT,
                    },
                },
                "400": BAD_WINDOW,
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": NOT_FOUND,
            },
        }
    },
    "/api/v1/maintenance": {
        "post": {
            "summary": "Declare a maintenance window for one or more SLAs (admin)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("MaintenanceDeclaration")}},
            },
            "responses": {
                "201": json_response("Stored", _ref("MaintenanceWindow")),
                "400": error_response("Invalid window, naming each bad field; nothing stored"),
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "413": error_response("Body over 64 KiB"),
            },
        },
        "get": {
            "summary": "Maintenance windows, declared and from the config (expanded over the "
            "window); without a window: each SLA's current period, and every declared window "
            "not yet over",
            "parameters": [SLA_FILTER, *WINDOW_PARAMETERS],
            "responses": {
                "200": json_response(
                    "Windows by start",
                    {
                        "type": "object",
                        "required": ["maintenance"],
                        "properties": {
                            "maintenance": {"type": "array", "items": _ref("MaintenanceWindow")}
                        },
                    },
                ),
                "400": BAD_WINDOW,
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": NOT_FOUND,
            },
        },
    },
    "/api/v1/maintenance/{id}": {
        "delete": {
            "summary": "Delete a declared maintenance window (admin)",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "responses": {
                "204": {"description": "Deleted"},
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": error_response("No declared window with this id"),
            },
        }
    },
}
