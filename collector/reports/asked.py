"""What a request asks of reports, for every route that serves them (reports, incidents,
evidence): which SLA, visible to the caller (§3: another customer's SLA is a 404, as if it did
not exist), and which window, with the window's query parameters as the OpenAPI document states
them."""

from __future__ import annotations

from collections.abc import Mapping

from slawatch.collector.auth import Principal
from slawatch.collector.engine.periods import Window
from slawatch.collector.errors import ApiError
from slawatch.collector.reports.build import report_window
from slawatch.config.schema import Config, Sla


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


INSTANT = {"type": "string", "format": "date-time"}
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
