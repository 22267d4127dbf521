"""Routes a provider bills and answers by (CONTRACT §7): service credits as money and the audit
log of declared windows.

- `GET /api/v1/credits?period=2026-11[&format=csv]` (admin): per SLA, its availability, verdict
  and credit over the period, in percent and as an amount of its `monthly_fee` (prorated to the
  period, rounded half-even to the currency's minor unit). CSV for billing systems, the amount
  written exactly ("45.00", "4502" for JPY).
- `GET /api/v1/audit[?sla=ID&limit=N]` (admin): every declaration and deletion of a maintenance
  window or an exclusion, newest first: when, by which principal (its role and name, never its
  token), and the window whole, so a deleted window stays visible.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Annotated, Any, Literal

from aiohttp import web

from slawatch.collector.app import CONFIG, STORE
from slawatch.collector.engine.periods import format_instant
from slawatch.collector.errors import ApiError
from slawatch.collector.jsonschema import INLINE, Schema
from slawatch.collector.reports import models
from slawatch.collector.reports.build import SlaReport, sla_report
from slawatch.collector.reports.queries import (
    PERIOD_PATTERN,
    known_parameters,
    now_ms,
    output_format,
    requested_window,
)
from slawatch.collector.routing import Id, Reply, Route, add_routes, error, query_param
from slawatch.collector.store import AuditEntry

CREDIT_COLUMNS = (
    "period", "customer", "sla", "availability", "verdict", "credit_percent", "credit_amount",
    "currency",
)  # fmt: skip
MAX_AUDIT_LINES = 10_000
DEFAULT_AUDIT_LINES = 1000


def setup(app: web.Application) -> None:
    add_routes(app, ROUTES)


# ------------------------------------------------------------------------------------ credits


async def list_credits(request: web.Request) -> web.Response:
    app = request.app
    known_parameters(request, ("period", "format"))
    output = output_format(request, ("json", "csv"))
    asked = request.query.get("period")
    if asked is None:
        raise ApiError(400, "period: is required, like 2026-11", [_field("period", "required")])
    now = now_ms(request)
    found: list[SlaReport] = []
    for sla in app[CONFIG].slas:
        window, period = requested_window({"period": asked}, sla, now)
        found.append(await sla_report(app[STORE], sla, window, now, period=period, latency=False))
    if output == "csv":
        return web.Response(
            text=credits_csv(asked, found),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="credits-{asked}.csv"'},
        )
    return web.json_response({"period": asked, "credits": [credit_json(f) for f in found]})


def credit_json(found: SlaReport) -> dict[str, Any]:
    report, sla = found.report, found.report.sla
    amount = report.credit_amount
    return {
        "customer": sla.customer,
        "sla": sla.id,
        "availability": report.availability,
        "verdict": report.verdict,
        "credit_percent": report.credit_percent,
        "credit_amount": None if amount is None else float(amount),
        "currency": sla.monthly_fee.currency if sla.monthly_fee else None,
    }


def credits_csv(period: str, reports: list[SlaReport]) -> str:
    """A header and one row per SLA; the amount as an exact decimal, nothing as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CREDIT_COLUMNS)
    for found in reports:
        row = {**credit_json(found), "period": period, "credit_amount": found.report.credit_amount}
        writer.writerow(_cell(row[column]) for column in CREDIT_COLUMNS)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


# -------------------------------------------------------------------------------------- audit


async def list_audit(request: web.Request) -> web.Response:
    app = request.app
    known_parameters(request, ("sla", "limit"))
    sla_id = request.query.get("sla")
    if sla_id is not None and app[CONFIG].sla(sla_id) is None:
        raise ApiError(404, f"no SLA {sla_id[:128]!r}")
    text = request.query.get("limit", str(DEFAULT_AUDIT_LINES))
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_AUDIT_LINES):
        raise ApiError(
            400,
            f"limit: must be a whole number from 1 to {MAX_AUDIT_LINES}",
            [_field("limit", "out of range")],
        )
    slas = None if sla_id is None else [sla_id]
    entries = await app[STORE].audit_log(slas, limit=int(text))
    return web.json_response({"audit": [audit_json(entry) for entry in entries]})


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    window = entry.window
    return {
        "id": entry.id,
        "time": format_instant(entry.at_ms),
        "action": entry.action,
        "principal": {"role": entry.principal_kind, "name": entry.principal_id},
        "window": {
            "id": window.id,
            "kind": window.kind,
            "category": window.category,
            "slas": list(window.slas),
            "start": format_instant(window.start_ms),
            "end": format_instant(window.end_ms),
            "reason": window.reason,
            "created": format_instant(window.created_ms),
        },
    }


def _field(name: str, error: str) -> dict[str, str]:
    return {"field": name, "error": error}


# ------------------------------------------------------------------------------------- routes

ROUTES = (
    Route(
        "GET",
        "/api/v1/credits",
        list_credits,
        "Service credits of every SLA over a period, in percent and as money (admin; CONTRACT §7)",
        scopes=("admin",),
        parameters=(
            query_param(
                "period",
                Annotated[str, Schema(pattern=PERIOD_PATTERN)],
                "2026-11 (month), 2026-W47 (ISO week) or 2026-11-27 (day), in each SLA's timezone",
                required=True,
            ),
            query_param("format", Annotated[Literal["json", "csv"], Schema(default="json")]),
        ),
        replies={
            200: Reply(
                "Credits as JSON, or CSV for a billing system",
                Annotated[models.CreditList, INLINE],
                (("text/csv", str),),
            ),
            400: error("Missing or bad period or format"),
        },
    ),
    Route(
        "GET",
        "/api/v1/audit",
        list_audit,
        "Every declaration and deletion of a maintenance window or exclusion, newest first "
        "(admin; CONTRACT §7)",
        scopes=("admin",),
        parameters=(
            query_param("sla", Id),
            query_param(
                "limit",
                Annotated[
                    int,
                    Schema(minimum=1, maximum=MAX_AUDIT_LINES, default=DEFAULT_AUDIT_LINES),
                ],
            ),
        ),
        replies={
            200: Reply("The audit log", Annotated[models.AuditLog, INLINE]),
            400: error("Bad limit"),
            404: error("No such SLA"),
        },
    ),
)
