"""What the report routes read from a request: the SLA, visible to the caller (§3: another
customer's SLA is a 404, as if it did not exist), the window asked for with its query parameters
as the OpenAPI document states them, the format, the known query parameters, the collector's
clock. Shared by the modules of routes (`routes`, `accounting`, `evidence.routes`), which import
no routes of each other."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated

from aiohttp import web

from slawatch.collector.app import CLOCK
from slawatch.collector.auth import Principal
from slawatch.collector.engine.periods import Window
from slawatch.collector.errors import ApiError
from slawatch.collector.jsonschema import Schema
from slawatch.collector.reports.build import report_window
from slawatch.collector.routing import Instant, query_param
from slawatch.config.schema import Config, Sla

_YEAR = r"(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
PERIOD_PATTERN = (
    rf"^{_YEAR}-(0[1-9]|1[0-2])$"
    rf"|^{_YEAR}-[Ww](0[1-9]|[1-4][0-9]|5[0-3])$"
    rf"|^{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
)
"""The forms and ranges of `period`; a day or ISO week the calendar does not have (2026-02-30,
2026-W54 is out of range anyway, 2025-W53) matches and is refused with a 400."""
WINDOW_PARAMETERS = (
    query_param(
        "period",
        Annotated[str, Schema(pattern=PERIOD_PATTERN)],
        "A calendar period in the SLA's timezone: 2026-11 (month), 2026-W47 (ISO week) or "
        "2026-11-27 (day). Not with from/to. Default: the SLA's current period.",
    ),
    query_param("from", Instant, "Window start, RFC 3339 with an offset; with `to`"),
    query_param("to", Instant, "Window end, RFC 3339 with an offset, after `from`; with `from`"),
)


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


def known_parameters(request: web.Request, known: Sequence[str]) -> None:
    """400 for a query parameter the route does not know: a misspelt `perod=2026-10` must not
    quietly give the report of another period."""
    unknown = sorted(set(request.query) - set(known))
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter {unknown[0][:64]!r}: this route takes {', '.join(known)}",
            [{"field": name[:64], "error": "unknown parameter"} for name in unknown[:10]],
        )


def output_format(request: web.Request, allowed: Sequence[str]) -> str:
    output = request.query.get("format", "json")
    if output not in allowed:
        raise ApiError(400, f"format: must be {', '.join(allowed[:-1])} or {allowed[-1]}")
    return output


def now_ms(request: web.Request) -> int:
    now = request.app[CLOCK]()
    if not math.isfinite(now):
        raise ApiError(500, "the collector's clock is not a number")
    return round(now * 1000)
